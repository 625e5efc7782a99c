// The index on synthetic vectors (issue 25, docs/benchmarks.md; not a test): for each
// kind, build time, index bytes per vector, recall@10 against exact search on 1,000
// queries not in the index, and search time per query.
//
//   orchard_index_bench [rows=100000] [dim=64] [threads=0] [kinds=flat,ivf-pq] [dump=FILE]
//
// With ORCHARD_BENCH_DEDUP=1, each index is also used for dedup as `orchard dedup` does it:
// every row's kDedupNeighbours nearest rows (the kNN graph), then the groups under the
// default threshold; its seconds, groups and the peak memory are printed.
//
// With `dump`, the unit vectors are also written to FILE as raw float32, the `rows` indexed
// ones then the 1,000 queries (bench/faiss_wheel_bench.py runs the faiss-cpu wheel on them).
//
// The vectors are Gaussian blobs (1,000 centres, spread 0.5), unit-normalized: clustered
// like embeddings, with many near neighbours at similar distances (a hard case for PQ).
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>

#include "orchard/index/dedup.h"
#include "orchard/index/vector_index.h"
#include "orchard/util/memory.h"
#include "orchard/util/stopwatch.h"

using orchard::util::Clock;
using orchard::util::SecondsSince;
namespace oi = orchard::index;  // `index` is also a libc function

int main(int argc, char** argv) {
  const int64_t rows = argc > 1 ? std::atoll(argv[1]) : 100000;
  const int64_t dim = argc > 2 ? std::atoll(argv[2]) : 64;
  int threads = argc > 3 ? std::atoi(argv[3]) : 0;
  if (threads <= 0) threads = static_cast<int>(std::thread::hardware_concurrency());
  const std::string kinds = argc > 4 ? argv[4] : "flat,ivf-pq";
  const char* dump = argc > 5 ? argv[5] : nullptr;
  constexpr int64_t kQueries = 1000;
  constexpr int64_t kCentres = 1000;
  std::mt19937_64 engine(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(static_cast<size_t>(kCentres * dim));
  for (auto& value : centres) value = normal(engine);
  std::vector<float> values(static_cast<size_t>((rows + kQueries) * dim));
  std::uniform_int_distribution<int64_t> pick(0, kCentres - 1);
  for (int64_t row = 0; row < rows + kQueries; ++row) {
    const int64_t centre = pick(engine);
    for (int64_t col = 0; col < dim; ++col) {
      values[static_cast<size_t>(row * dim + col)] =
          centres[static_cast<size_t>(centre * dim + col)] + 0.5f * normal(engine);
    }
  }
  values = oi::Normalized(values.data(), rows + kQueries, dim);
  const float* queries = values.data() + rows * dim;
  if (dump != nullptr) {
    std::ofstream out(dump, std::ios::binary);
    out.write(reinterpret_cast<const char*>(values.data()),
              static_cast<std::streamsize>(values.size() * sizeof(float)));
    if (!out) {
      std::fprintf(stderr, "cannot write %s\n", dump);
      return 1;
    }
  }
  const auto exact_start = Clock::now();
  const auto exact = oi::ExactNeighbours(values.data(), rows, queries, kQueries, dim, 10, threads);
  std::printf("rows %lld dim %lld threads %d; exact search of %lld queries: %.3f s\n",
              static_cast<long long>(rows), static_cast<long long>(dim), threads,
              static_cast<long long>(kQueries), SecondsSince(exact_start));
  std::printf(
      "| kind | build s | train s | add s | bytes/vector | nprobe | recall@10 (sample) | "
      "recall@10 (new queries) | ms/query (batch) | peak RSS MiB |\n");
  for (const char* kind : {oi::kKindFlat, oi::kKindIvfPq}) {
    if (kinds.find(kind) == std::string::npos) continue;
    oi::BuildOptions options;
    options.kind = kind;
    options.threads = threads;
    oi::BuildReport report;
    const auto build_start = Clock::now();
    auto built = oi::VectorIndex::Build(values.data(), rows, dim, options, &report);
    const double build_seconds = SecondsSince(build_start);
    if (!built.ok()) {
      std::fprintf(stderr, "%s: %s\n", kind, built.status().ToString().c_str());
      return 1;
    }
    const auto search_start = Clock::now();
    auto found = built->Search(queries, kQueries, 10);
    const double search_seconds = SecondsSince(search_start);
    if (!found.ok()) return 1;
    std::printf("| %s | %.2f | %.2f | %.2f | %.1f | %lld | %.4f | %.4f | %.3f | %.0f |\n", kind,
                build_seconds, report.train_seconds, report.add_seconds,
                static_cast<double>(report.index_bytes) / static_cast<double>(rows),
                static_cast<long long>(report.nprobe), report.recall_at_10,
                oi::RecallAt(*found, exact, 10), 1000.0 * search_seconds / kQueries,
                orchard::util::PeakRssMiB());
    const char* dedup = std::getenv("ORCHARD_BENCH_DEDUP");
    if (dedup != nullptr && std::string(dedup) == "1") {
      const auto dedup_start = Clock::now();
      auto graph = built->Search(values.data(), rows, oi::kDedupNeighbours + 1);
      if (!graph.ok()) return 1;
      const double graph_seconds = SecondsSince(dedup_start);
      const auto members =
          oi::GroupDuplicates(*graph, values.data(), dim, oi::kDefaultDuplicateDistance);
      int64_t groups = members.empty() ? 0 : members.back().group + 1;
      std::printf(
          "dedup (%s): kNN graph of %lld rows %.1f s, grouping %.1f s, %lld groups of "
          "%zu rows, peak RSS %.0f MiB\n",
          kind, static_cast<long long>(rows), graph_seconds,
          SecondsSince(dedup_start) - graph_seconds, static_cast<long long>(groups), members.size(),
          orchard::util::PeakRssMiB());
    }
  }
  return 0;
}
