#include "orchard/util/thread_pool.h"

#include "orchard/util/start_thread.h"

namespace orchard {

Result<std::unique_ptr<ThreadPool>> ThreadPool::Make(int num_threads) {
  auto pool = std::make_unique<ThreadPool>(num_threads);
  ORCHARD_RETURN_NOT_OK(pool->start_status());
  return pool;
}

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads < 1) num_threads = 1;
  threads_.reserve(static_cast<size_t>(num_threads));
  for (int thread_idx = 0; thread_idx < num_threads; ++thread_idx) {
    auto thread = util::StartThread("thread pool", [this] { WorkerLoop(); });
    if (!thread.ok()) {
      start_status_ = thread.status();
      break;
    }
    threads_.push_back(std::move(thread).ValueOrDie());
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& thread : threads_) thread.join();
}

void ThreadPool::WorkerLoop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace orchard
