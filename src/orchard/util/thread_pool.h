// A fixed-size thread pool for blocking work (object-store reads) and a bounded queue
// that connects pipeline stages. Both are small on purpose: the pipeline owns its threads.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "orchard/util/status.h"

namespace orchard {

/// A multi-producer multi-consumer FIFO with a capacity. Push blocks while full, Pop
/// blocks while empty; Close() wakes everyone: Push then fails and Pop drains what is
/// left, then returns nullopt. Thread-safe.
template <typename T>
class BoundedQueue {
 public:
  explicit BoundedQueue(size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  /// Returns false when the queue was closed (the item is dropped).
  bool Push(T item) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return closed_ || items_.size() < capacity_; });
    if (closed_) return false;
    items_.push_back(std::move(item));
    not_empty_.notify_one();
    return true;
  }

  std::optional<T> Pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return closed_ || !items_.empty(); });
    if (items_.empty()) return std::nullopt;
    T item = std::move(items_.front());
    items_.pop_front();
    not_full_.notify_one();
    return item;
  }

  void Close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_all();
    not_full_.notify_all();
  }

 private:
  const size_t capacity_;
  std::mutex mutex_;
  std::condition_variable not_empty_;
  std::condition_variable not_full_;
  std::deque<T> items_;
  bool closed_ = false;
};

/// Runs submitted tasks on `num_threads` threads. The destructor finishes queued tasks
/// and joins. Thread-safe.
class ThreadPool {
 public:
  /// A pool of `num_threads` threads (at least one); fails when the system refuses to
  /// create them (util::StartThread), after joining those that did start.
  static Result<std::unique_ptr<ThreadPool>> Make(int num_threads);

  /// Starts as many of `num_threads` threads as the system allows; start_status() says
  /// whether all started. A pool that got no thread runs each task inside Submit, so a
  /// refused thread never leaves a task (and its future) waiting forever. Prefer Make.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  template <typename F>
  auto Submit(F&& fn) -> std::future<decltype(fn())> {
    using R = decltype(fn());
    auto task = std::make_shared<std::packaged_task<R()>>(std::forward<F>(fn));
    std::future<R> result = task->get_future();
    if (threads_.empty()) {
      (*task)();
      return result;
    }
    {
      std::lock_guard lock(mutex_);
      tasks_.emplace_back([task] { (*task)(); });
    }
    cv_.notify_one();
    return result;
  }

  int size() const { return static_cast<int>(threads_.size()); }
  /// OK when every requested thread started; else why the first refused one did not.
  const Status& start_status() const { return start_status_; }

 private:
  void WorkerLoop();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  Status start_status_;
};

}  // namespace orchard
