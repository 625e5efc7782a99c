// PCA at the mission's scale: statistics, fit and projection of R x D synthetic features
// (default 90,000 x 1,280, the full Fruits-360 set), the way `orchard run` does them: one
// statistics object per thread over row blocks, merged, then fit, then projection.
//
// Usage: orchard_pca_bench [--rows R] [--dim D] [--threads T]
// Prints one JSON line with seconds per phase.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "orchard/pca/pca.h"

namespace {

double Since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 90000;
  int64_t dim = 1280;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    const std::string flag = argv[arg];
    if (flag == "--rows")
      rows = std::atoll(argv[arg + 1]);
    else if (flag == "--dim")
      dim = std::atoll(argv[arg + 1]);
    else if (flag == "--threads")
      threads = std::atoi(argv[arg + 1]);
  }
  // Features like MobileNetV2's: non-negative, a few strong directions, noise.
  std::vector<float> data(static_cast<size_t>(rows * dim));
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::vector<float> directions(static_cast<size_t>(16 * dim));
  for (auto& value : directions) value = std::abs(normal(rng));
  for (int64_t row = 0; row < rows; ++row) {
    float* out = data.data() + row * dim;
    for (int64_t col = 0; col < dim; ++col) out[col] = 0.1f * std::abs(normal(rng));
    for (int latent = 0; latent < 16; ++latent) {
      const float weight = std::abs(normal(rng)) / static_cast<float>(latent + 1);
      const float* direction = directions.data() + latent * dim;
      for (int64_t col = 0; col < dim; ++col) out[col] += weight * direction[col];
    }
  }

  auto start = std::chrono::steady_clock::now();
  std::vector<orchard::pca::PcaStats> partial(static_cast<size_t>(threads),
                                              orchard::pca::PcaStats(dim));
  std::vector<std::thread> pool;
  const int64_t per_thread = (rows + threads - 1) / threads;
  for (int thread_idx = 0; thread_idx < threads; ++thread_idx) {
    pool.emplace_back([&, thread_idx] {
      const int64_t first = thread_idx * per_thread;
      const int64_t count = std::max<int64_t>(0, std::min(per_thread, rows - first));
      partial[static_cast<size_t>(thread_idx)].Add(data.data() + first * dim, count);
    });
  }
  for (auto& thread : pool) thread.join();
  for (int thread_idx = 1; thread_idx < threads; ++thread_idx) {
    if (!partial[0].Merge(partial[static_cast<size_t>(thread_idx)]).ok()) return 1;
  }
  const double stats_seconds = Since(start);

  start = std::chrono::steady_clock::now();
  auto model = orchard::pca::FitPca(partial[0], orchard::pca::PcaFitOptions{0.99, 0});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  const double fit_seconds = Since(start);

  start = std::chrono::steady_clock::now();
  std::vector<float> projected(static_cast<size_t>(rows * model->k));
  pool.clear();
  for (int thread_idx = 0; thread_idx < threads; ++thread_idx) {
    pool.emplace_back([&, thread_idx] {
      const int64_t first = thread_idx * per_thread;
      const int64_t count = std::max<int64_t>(0, std::min(per_thread, rows - first));
      model->Project(data.data() + first * dim, count, projected.data() + first * model->k);
    });
  }
  for (auto& thread : pool) thread.join();
  const double project_seconds = Since(start);
  std::printf(
      "{\"rows\": %lld, \"dim\": %lld, \"threads\": %d, \"k\": %lld, \"stats_s\": %.3f, "
      "\"fit_s\": %.3f, \"project_s\": %.3f, \"total_s\": %.3f}\n",
      static_cast<long long>(rows), static_cast<long long>(dim), threads,
      static_cast<long long>(model->k), stats_seconds, fit_seconds, project_seconds,
      stats_seconds + fit_seconds + project_seconds);
  return 0;
}
