// util/parallel_for.h: every index once, the first failure returned and no work handed
// out after it, the thread count bounds, and threads the system refuses.
#include "orchard/util/parallel_for.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.h"
#include "orchard/util/fault.h"

namespace orchard {
namespace {

// Restores the unlimited thread budget however a test ends.
class ParallelForTest : public ::testing::Test {
 protected:
  void TearDown() override { util::SetThreadStartBudgetForTesting(-1); }
};

// The threads fn ran on, recorded from any of them.
class ThreadsSeen {
 public:
  void Add() {
    std::lock_guard lock(mutex_);
    ids_.insert(std::this_thread::get_id());
  }
  std::set<std::thread::id> ids() {
    std::lock_guard lock(mutex_);
    return ids_;
  }

 private:
  std::mutex mutex_;
  std::set<std::thread::id> ids_;
};

TEST_F(ParallelForTest, CallsEveryIndexExactlyOnce) {
  for (const int threads : {2, 4, 7}) {
    constexpr size_t kCount = 5000;
    std::vector<std::atomic<int>> calls(kCount);
    ASSERT_OK(ParallelFor(kCount, threads, [&](size_t idx) {
      ++calls[idx];
      return Status::OK();
    }));
    for (size_t idx = 0; idx < kCount; ++idx) ASSERT_EQ(calls[idx], 1) << idx << " " << threads;
  }
}

TEST_F(ParallelForTest, NothingToDoIsOkWithoutACall) {
  std::atomic<int> calls{0};
  ASSERT_OK(ParallelFor(0, 4, [&](size_t) {
    ++calls;
    return Status::OK();
  }));
  EXPECT_EQ(calls.load(), 0);
}

TEST_F(ParallelForTest, OneThreadRunsInIndexOrderOnTheCallingThread) {
  std::vector<size_t> order;
  ThreadsSeen seen;
  for (const int threads : {1, 0, -3}) {  // "at least one"
    order.clear();
    ASSERT_OK(ParallelFor(20, threads, [&](size_t idx) {
      order.push_back(idx);
      seen.Add();
      return Status::OK();
    }));
    ASSERT_EQ(order.size(), 20u) << threads;
    for (size_t idx = 0; idx < order.size(); ++idx) EXPECT_EQ(order[idx], idx);
  }
  EXPECT_EQ(seen.ids(), std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(ParallelForTest, NeverMoreThreadsThanIndices) {
  // 3 items on up to 16 threads: each index waits until all 3 run at once, so the call
  // finishes only if 3 threads serve them concurrently, and the ids show no 4th.
  std::mutex mutex;
  std::condition_variable all_running;
  int running = 0;
  ThreadsSeen seen;
  ASSERT_OK(ParallelFor(3, 16, [&](size_t) {
    seen.Add();
    std::unique_lock lock(mutex);
    ++running;
    all_running.notify_all();
    all_running.wait(lock, [&] { return running == 3; });
    return Status::OK();
  }));
  EXPECT_EQ(seen.ids().size(), 3u);

  // A single index never needs a thread of its own.
  ThreadsSeen single;
  ASSERT_OK(ParallelFor(1, 8, [&](size_t) {
    single.Add();
    return Status::OK();
  }));
  EXPECT_EQ(single.ids(), std::set<std::thread::id>{std::this_thread::get_id()});
}

TEST_F(ParallelForTest, UsesAtMostTheThreadsAsked) {
  ThreadsSeen seen;
  ASSERT_OK(ParallelFor(3000, 3, [&](size_t) {
    seen.Add();
    return Status::OK();
  }));
  EXPECT_LE(seen.ids().size(), 3u);
  EXPECT_GE(seen.ids().size(), 1u);
}

TEST_F(ParallelForTest, OneThreadStopsAtTheFirstFailureAndReturnsIt) {
  std::vector<size_t> called;
  const Status status = ParallelFor(100, 1, [&](size_t idx) -> Status {
    called.push_back(idx);
    if (idx == 5) return Status::IOError("part 5: cannot read");
    if (idx == 9) return Status::Invalid("part 9: never reached");
    return Status::OK();
  });
  EXPECT_TRUE(status.IsIOError());
  EXPECT_EQ(status.message(), "part 5: cannot read");
  EXPECT_EQ(called, (std::vector<size_t>{0, 1, 2, 3, 4, 5}));
}

TEST_F(ParallelForTest, ManyThreadsReturnTheFailureAndCallNoIndexTwice) {
  constexpr size_t kCount = 4000;
  std::vector<std::atomic<int>> calls(kCount);
  const Status status = ParallelFor(kCount, 4, [&](size_t idx) -> Status {
    ++calls[idx];
    if (idx == 1234) return Status::Invalid("bad part 1234");
    return Status::OK();
  });
  ASSERT_TRUE(status.IsInvalid());
  EXPECT_EQ(status.message(), "bad part 1234");
  EXPECT_EQ(calls[1234], 1);
  for (size_t idx = 0; idx < kCount; ++idx) ASSERT_LE(calls[idx], 1) << idx;
}

TEST_F(ParallelForTest, EveryIndexFailingStillReturnsOneOfTheirStatuses) {
  std::atomic<int> calls{0};
  const Status status = ParallelFor(500, 4, [&](size_t idx) -> Status {
    ++calls;
    return Status::Invalid("index ", idx);
  });
  ASSERT_TRUE(status.IsInvalid());
  EXPECT_EQ(status.message().rfind("index ", 0), 0u) << status.ToString();
  EXPECT_GE(calls.load(), 1);
  EXPECT_LE(calls.load(), 500);
}

TEST_F(ParallelForTest, NoThreadStartsIsAnErrorNotACrashOrAHang) {
  util::SetThreadStartBudgetForTesting(0);
  std::atomic<int> calls{0};
  const Status status = ParallelFor(10, 4, [&](size_t) {
    ++calls;
    return Status::OK();
  });
  ASSERT_TRUE(status.IsIOError());
  EXPECT_NE(status.message().find("cannot start a thread (parallel work)"), std::string::npos)
      << status.ToString();
  EXPECT_EQ(calls.load(), 0);  // no thread, no work: nothing ran half-way
}

TEST_F(ParallelForTest, SomeThreadsRefusedStopsTheWorkAndReportsIt) {
  util::SetThreadStartBudgetForTesting(1);
  constexpr size_t kCount = 1000;
  std::vector<std::atomic<int>> calls(kCount);
  const Status status = ParallelFor(kCount, 4, [&](size_t idx) {
    ++calls[idx];
    return Status::OK();
  });
  ASSERT_TRUE(status.IsIOError()) << status.ToString();
  for (size_t idx = 0; idx < kCount; ++idx) ASSERT_LE(calls[idx], 1) << idx;
}

TEST_F(ParallelForTest, OneThreadNeedsNoNewThread) {
  // The single-threaded path runs on the caller, so it works even when none can start.
  util::SetThreadStartBudgetForTesting(0);
  std::atomic<int> calls{0};
  ASSERT_OK(ParallelFor(10, 1, [&](size_t) {
    ++calls;
    return Status::OK();
  }));
  EXPECT_EQ(calls.load(), 10);
}

}  // namespace
}  // namespace orchard
