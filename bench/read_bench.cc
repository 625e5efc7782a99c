// The read path of `orchard featurize` alone: lists an input (local or s3://) and reads
// every image the way the prep threads do (pipeline::ReadAhead: reads run ahead in
// listing order, --io-threads in flight, the read-ahead budget per prep thread), taking
// them from --prep-threads threads a batch at a time; no decoding, no inference. Used by
// bench/s3_latency.sh to show what the reads sustain behind a far-away store.
//
// Usage: orchard_read_bench --input URI [--io-threads N] [--prep-threads P] [--batch-size B]
// Prints one JSON line: images, failed, bytes, list_seconds, read_seconds, images_per_second.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/prep_stage.h"
#include "orchard/util/thread_pool.h"

namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

int Run(int argc, char** argv) {
  std::string input;
  int io_threads = orchard::pipeline::kDefaultObjectStoreReads;
  // featurize's default: half the cores decode.
  int prep_threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / 2);
  int64_t batch_size = 32;
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    const std::string flag = argv[arg];
    if (flag == "--input") {
      input = argv[arg + 1];
    } else if (flag == "--io-threads") {
      io_threads = std::atoi(argv[arg + 1]);
    } else if (flag == "--prep-threads") {
      prep_threads = std::atoi(argv[arg + 1]);
    } else if (flag == "--batch-size") {
      batch_size = std::atoll(argv[arg + 1]);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (input.empty() || io_threads < 1 || prep_threads < 1 || batch_size < 1) {
    std::fprintf(stderr,
                 "usage: orchard_read_bench --input URI [--io-threads N] [--prep-threads P] "
                 "[--batch-size B]\n");
    return 2;
  }
  auto root = orchard::io::ResolveLocation(input, orchard::io::StorageOptions{});
  if (!root.ok()) {
    std::fprintf(stderr, "%s\n", root.status().ToString().c_str());
    return 1;
  }
  const auto list_start = std::chrono::steady_clock::now();
  auto items = orchard::pipeline::ListImages(*root);
  if (!items.ok()) {
    std::fprintf(stderr, "%s\n", items.status().ToString().c_str());
    return 1;
  }
  const double list_seconds = Since(list_start);
  auto pool = orchard::ThreadPool::Make(io_threads);
  if (!pool.ok()) {
    std::fprintf(stderr, "%s\n", pool.status().ToString().c_str());
    return 1;
  }
  const auto num_items = static_cast<int64_t>(items->size());
  std::vector<int64_t> order(static_cast<size_t>(num_items));
  for (int64_t idx = 0; idx < num_items; ++idx) order[static_cast<size_t>(idx)] = idx;
  const int64_t max_file_bytes = orchard::image::PreprocessOptions{}.max_file_bytes;
  std::atomic<int64_t> failed{0};
  std::atomic<int64_t> bytes{0};
  std::atomic<int64_t> next_batch{0};
  const auto read_start = std::chrono::steady_clock::now();
  {
    const orchard::io::Location& location = *root;
    orchard::pipeline::ReadAhead read_ahead(
        *items, std::move(order),
        [&location, max_file_bytes](const orchard::pipeline::ImageItem& item) {
          return orchard::io::ReadBounded(location.Child(item.source), max_file_bytes, item.size);
        },
        pool->get(), io_threads, orchard::pipeline::kDefaultReadAheadBytes * prep_threads,
        max_file_bytes);
    auto consume = [&] {
      for (;;) {
        const int64_t first = next_batch.fetch_add(1) * batch_size;
        if (first >= num_items) break;
        for (int64_t idx = first; idx < std::min(num_items, first + batch_size); ++idx) {
          auto result = read_ahead.Take(idx);
          if (result.ok()) {
            bytes += (*result)->size();
          } else {
            ++failed;
          }
          read_ahead.Release(idx);
        }
      }
    };
    std::vector<std::thread> consumers;
    for (int thread_idx = 0; thread_idx < prep_threads; ++thread_idx) {
      consumers.emplace_back(consume);
    }
    for (auto& thread : consumers) thread.join();
  }
  const double read_seconds = Since(read_start);
  std::printf(
      "{\"images\": %lld, \"failed\": %lld, \"bytes\": %lld, \"list_seconds\": %.3f, "
      "\"read_seconds\": %.3f, \"images_per_second\": %.1f}\n",
      static_cast<long long>(num_items), static_cast<long long>(failed.load()),
      static_cast<long long>(bytes.load()), list_seconds, read_seconds,
      read_seconds > 0 ? static_cast<double>(num_items) / read_seconds : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const int code = Run(argc, argv);
  orchard::io::FinalizeStorage();
  return code;
}
