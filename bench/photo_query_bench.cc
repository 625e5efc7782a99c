// One photo -> its neighbours, as a service answering one request at a time would: the index
// and the model loaded once (jobs::PhotoSearcher), then each photo read, decoded, embedded,
// projected and searched on its own. Prints p50/p90/p99/max milliseconds (issue 25 target:
// p50 <= 30 ms, p99 <= 60 ms on 2 cores).
//
//   orchard_photo_query_bench INDEX_DIR PHOTO... [--threads N] [--repeat R]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "orchard/jobs/index_job.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s INDEX_DIR PHOTO... [--threads N] [--repeat R]\n", argv[0]);
    return 2;
  }
  orchard::jobs::SearchJobOptions options;
  options.index_dir = argv[1];
  options.job.shipped_model = ORCHARD_DEFAULT_MODEL;
  options.job.threads = 0;
  int repeat = 1;
  std::vector<std::string> photos;
  for (int arg = 2; arg < argc; ++arg) {
    const std::string value = argv[arg];
    if (value == "--threads" && arg + 1 < argc) {
      options.job.threads = std::atoi(argv[++arg]);
    } else if (value == "--repeat" && arg + 1 < argc) {
      repeat = std::max(1, std::atoi(argv[++arg]));
    } else {
      photos.push_back(value);
    }
  }
  auto searcher = orchard::jobs::PhotoSearcher::Open(options);
  if (!searcher.ok()) {
    std::fprintf(stderr, "%s\n", searcher.status().ToString().c_str());
    return 1;
  }
  // One warm-up query: ONNX Runtime plans its kernels on the first run.
  (void)(*searcher)->Search({photos.front()});
  std::vector<double> ms;
  int failed = 0;
  for (int round = 0; round < repeat; ++round) {
    for (const auto& photo : photos) {
      const auto start = std::chrono::steady_clock::now();
      auto result = (*searcher)->Search({photo});
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      if (!result.ok() || !(*result)[0].error.empty() || (*result)[0].neighbours.empty()) {
        ++failed;
      }
    }
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) {
    return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  std::printf("queries %zu (failed %d)  p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms\n",
              ms.size(), failed, at(0.50), at(0.90), at(0.99), ms.back());
  return failed == 0 ? 0 : 1;
}
