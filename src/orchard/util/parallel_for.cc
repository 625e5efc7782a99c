#include "orchard/util/parallel_for.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>
#include <vector>

#include "orchard/util/start_thread.h"

namespace orchard {

Status ParallelFor(size_t count, int threads, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mutex;
  Status first;
  auto worker = [&] {
    for (size_t idx = next++; idx < count; idx = next++) {
      Status status = fn(idx);
      if (!status.ok()) {
        std::lock_guard lock(mutex);
        if (first.ok()) first = std::move(status);
        next = count;
      }
    }
  };
  const int workers =
      std::max(1, std::min(threads, static_cast<int>(std::min<size_t>(count, 1 << 16))));
  if (workers == 1 || count <= 1) {
    worker();
    return first;
  }
  std::vector<std::thread> pool;
  pool.reserve(static_cast<size_t>(workers));
  for (int thread_idx = 0; thread_idx < workers; ++thread_idx) {
    auto thread = util::StartThread("parallel work", worker);
    if (!thread.ok()) {
      // Stop handing out work; the threads that did start finish their item and exit.
      std::lock_guard lock(mutex);
      if (first.ok()) first = thread.status();
      next = count;
      break;
    }
    pool.push_back(std::move(thread).ValueOrDie());
  }
  for (auto& thread : pool) thread.join();
  return first;
}

}  // namespace orchard
