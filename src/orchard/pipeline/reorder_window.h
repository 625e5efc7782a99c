// The synchronisation pieces of the featurize stages (pipeline/featurize.cc): the first
// fatal error of any thread, and the window that hands prepared batches to the inference
// thread in order while bounding how far the prep threads run ahead.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include "orchard/util/status.h"

namespace orchard::pipeline {

/// Keeps the first fatal error of any thread; every stage polls failed() to stop early.
/// Thread-safe.
class FirstError {
 public:
  /// Records `status` unless an error is already recorded; failed() is true from now on.
  void Set(const Status& status) {
    std::lock_guard lock(mutex_);
    if (status_.ok()) status_ = status;
    failed_ = true;
  }
  bool failed() const { return failed_.load(); }
  /// The first error recorded (OK when none).
  Status status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  mutable std::mutex mutex_;
  Status status_;
  std::atomic<bool> failed_{false};
};

/// Hands work items 0, 1, 2, ... to one consumer in order, whichever producer finishes
/// them first, and admits a producer to work item i only while i < consumed + capacity:
/// at most `capacity` items are in flight (the memory bound of the pipeline).
/// Thread-safe: any number of producers, one consumer.
template <typename T>
class ReorderWindow {
 public:
  explicit ReorderWindow(int64_t capacity) : capacity_(capacity) {}

  /// Blocks until work item `work_idx` may start (it is within the consumer's window).
  /// Returns false when the window is stopping.
  bool WaitForSlot(int64_t work_idx) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return stopping_ || work_idx < consumed_ + capacity_; });
    return !stopping_;
  }

  /// Hands in work item `work_idx` (each index once).
  void Put(int64_t work_idx, T item) {
    std::lock_guard lock(mutex_);
    ready_.emplace(work_idx, std::move(item));
    cv_.notify_all();
  }

  /// Waits for the next work item in order; nullopt when stopping.
  std::optional<T> TakeNext() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return stopping_ || ready_.count(consumed_) > 0; });
    if (stopping_) return std::nullopt;
    auto node = ready_.extract(consumed_);
    ++consumed_;
    cv_.notify_all();
    return std::move(node.mapped());
  }

  /// Wakes every waiter; from now on WaitForSlot returns false and TakeNext nullopt.
  void Stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
  }

 private:
  const int64_t capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, T> ready_;
  int64_t consumed_ = 0;
  bool stopping_ = false;
};

}  // namespace orchard::pipeline
