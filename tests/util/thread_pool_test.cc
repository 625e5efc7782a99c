// util/thread_pool.h: the ThreadPool (results, exceptions, shutdown, the pool that got no
// thread) and the BoundedQueue that joins pipeline stages. No test waits for a duration:
// every wait is on a promise, a future or the pool's own destructor.
#include "orchard/util/thread_pool.h"

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../test_util.h"
#include "orchard/util/fault.h"

namespace orchard {
namespace {

bool IsReady(const std::future<void>& future) {
  return future.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
}

// Restores the unlimited thread budget however a test ends.
class ThreadBudgetTest : public ::testing::Test {
 protected:
  void TearDown() override { util::SetThreadStartBudgetForTesting(-1); }
};

TEST(ThreadPoolTest, ReturnsEachTasksValueThroughItsFuture) {
  ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(3));
  EXPECT_EQ(pool->size(), 3);
  ASSERT_OK(pool->start_status());
  std::vector<std::future<int>> results;
  for (int idx = 0; idx < 50; ++idx) results.push_back(pool->Submit([idx] { return idx * idx; }));
  for (int idx = 0; idx < 50; ++idx) EXPECT_EQ(results[static_cast<size_t>(idx)].get(), idx * idx);
}

TEST(ThreadPoolTest, CarriesEachTasksStatusUnchanged) {
  ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(2));
  auto ok = pool->Submit([] { return Status::OK(); });
  auto failed = pool->Submit([] { return Status::IOError("cannot read 's3://b/k': denied"); });
  auto value = pool->Submit([]() -> Result<std::string> { return std::string("bytes"); });
  auto no_value = pool->Submit([]() -> Result<std::string> { return Status::Invalid("empty"); });
  ASSERT_OK(ok.get());
  const Status status = failed.get();
  EXPECT_TRUE(status.IsIOError());
  EXPECT_EQ(status.message(), "cannot read 's3://b/k': denied");
  auto got = value.get();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "bytes");
  auto missing = no_value.get();
  ASSERT_FALSE(missing.ok());
  EXPECT_TRUE(missing.status().IsInvalid());
  EXPECT_EQ(missing.status().message(), "empty");
}

TEST(ThreadPoolTest, AThrowingTaskFailsOnlyItsFutureAndThePoolKeepsWorking) {
  ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(1));
  auto thrown = pool->Submit([]() -> int { throw std::runtime_error("task blew up"); });
  auto after = pool->Submit([] { return 7; });
  try {
    thrown.get();
    ADD_FAILURE() << "the exception was not carried by the future";
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "task blew up");
  }
  // The one worker survived the exception and ran the next task.
  EXPECT_EQ(after.get(), 7);
}

TEST(ThreadPoolTest, APoolOfOneRunsTasksOneAtATimeInSubmissionOrder) {
  ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(1));
  EXPECT_EQ(pool->size(), 1);
  std::vector<int> order;  // written by the single worker only
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::set<std::thread::id> workers;
  std::vector<std::future<void>> done;
  for (int idx = 0; idx < 200; ++idx) {
    done.push_back(pool->Submit([&, idx] {
      const int now = ++running;
      int seen = max_running.load();
      while (now > seen && !max_running.compare_exchange_weak(seen, now)) {
      }
      order.push_back(idx);
      workers.insert(std::this_thread::get_id());
      --running;
    }));
  }
  for (auto& future : done) future.get();
  std::vector<int> expected(200);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(order, expected);
  EXPECT_EQ(max_running.load(), 1);
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_NE(*workers.begin(), std::this_thread::get_id());
}

TEST(ThreadPoolTest, AtLeastOneThreadWhateverIsAsked) {
  for (int asked : {0, -5}) {
    ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(asked));
    EXPECT_EQ(pool->size(), 1) << asked;
    EXPECT_EQ(pool->Submit([] { return 1; }).get(), 1);
  }
}

TEST(ThreadPoolTest, ManyMoreTasksThanThreadsAllRunOnceOnThePoolsThreads) {
  constexpr int kTasks = 20000;
  ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(3));
  std::vector<std::atomic<int>> runs(kTasks);
  std::mutex mutex;
  std::set<std::thread::id> workers;
  std::vector<std::future<int64_t>> results;
  results.reserve(kTasks);
  for (int idx = 0; idx < kTasks; ++idx) {
    results.push_back(pool->Submit([&, idx]() -> int64_t {
      ++runs[static_cast<size_t>(idx)];
      std::lock_guard lock(mutex);
      workers.insert(std::this_thread::get_id());
      return idx;
    }));
  }
  int64_t sum = 0;
  for (auto& result : results) sum += result.get();
  EXPECT_EQ(sum, int64_t{kTasks} * (kTasks - 1) / 2);
  for (int idx = 0; idx < kTasks; ++idx) ASSERT_EQ(runs[static_cast<size_t>(idx)], 1) << idx;
  EXPECT_LE(workers.size(), 3u);
  EXPECT_EQ(workers.count(std::this_thread::get_id()), 0u);
}

TEST(ThreadPoolTest, TasksRunConcurrentlyOnSeparateThreads) {
  // Each of 3 tasks waits until all 3 have started: this finishes only if the pool really
  // runs them at the same time (a pool that ran them one by one would hang, caught by the
  // ctest timeout).
  ASSERT_OK_AND_ASSIGN(auto pool, ThreadPool::Make(3));
  std::mutex mutex;
  std::condition_variable all_started;
  int started = 0;
  std::vector<std::future<std::thread::id>> ids;
  for (int idx = 0; idx < 3; ++idx) {
    ids.push_back(pool->Submit([&] {
      std::unique_lock lock(mutex);
      ++started;
      all_started.notify_all();
      all_started.wait(lock, [&] { return started == 3; });
      return std::this_thread::get_id();
    }));
  }
  std::set<std::thread::id> distinct;
  for (auto& id : ids) distinct.insert(id.get());
  EXPECT_EQ(distinct.size(), 3u);
}

TEST(ThreadPoolTest, DestructorRunsEveryQueuedTaskBeforeItReturns) {
  auto pool = std::make_unique<ThreadPool>(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> ran{0};
  // The only worker is held by the first task, so the others are all still queued when
  // the release comes; the destructor must drain them, not drop them.
  auto blocker = pool->Submit([released, &ran] {
    released.wait();
    ++ran;
  });
  std::vector<std::future<void>> queued;
  for (int idx = 0; idx < 500; ++idx) queued.push_back(pool->Submit([&ran] { ++ran; }));
  EXPECT_FALSE(IsReady(queued.back()));
  release.set_value();
  pool.reset();
  EXPECT_EQ(ran.load(), 501);
  EXPECT_TRUE(IsReady(blocker));
  for (auto& future : queued) EXPECT_TRUE(IsReady(future));
}

TEST(ThreadPoolTest, TasksSubmittedByATaskDuringShutdownStillRun) {
  auto pool = std::make_unique<ThreadPool>(2);
  // unique_ptr::reset clears the pointer before it destroys the pool: the tasks use this.
  ThreadPool* const raw_pool = pool.get();
  std::atomic<int> chain{0};
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  // A task that submits its successor: the queue is never empty when a worker checks it,
  // so the destructor may not stop before the chain ends. The futures are not kept:
  // destruction itself is what waits.
  std::function<void()> link = [&] {
    if (++chain < 50) raw_pool->Submit(link);
  };
  raw_pool->Submit([&, released] {
    released.wait();
    link();
  });
  release.set_value();
  pool.reset();
  EXPECT_EQ(chain.load(), 50);
}

TEST(ThreadPoolTest, IdleAndJustStartedPoolsAreDestroyedWithoutDeadlock) {
  // Workers may not have reached their wait yet, or be waiting with nothing queued:
  // either way the destructor wakes and joins them (a lost wake-up hangs, caught by the
  // ctest timeout).
  for (int round = 0; round < 200; ++round) {
    ThreadPool pool(4);
    ASSERT_EQ(pool.size(), 4);
  }
  ThreadPool idle(2);
  idle.Submit([] {}).get();
}

TEST_F(ThreadBudgetTest, MakeFailsWhenNoThreadCanStartAndSaysWhatToDo) {
  util::SetThreadStartBudgetForTesting(0);
  auto made = ThreadPool::Make(4);
  ASSERT_FALSE(made.ok());
  EXPECT_TRUE(made.status().IsIOError());
  EXPECT_NE(made.status().message().find("cannot start a thread (thread pool)"), std::string::npos)
      << made.status().ToString();
  EXPECT_NE(made.status().message().find("--threads"), std::string::npos);
}

TEST_F(ThreadBudgetTest, MakeFailsWhenOnlySomeThreadsStart) {
  util::SetThreadStartBudgetForTesting(2);
  auto made = ThreadPool::Make(4);
  ASSERT_FALSE(made.ok());
  EXPECT_TRUE(made.status().IsIOError());
}

TEST_F(ThreadBudgetTest, APoolWithNoThreadRunsEachTaskInsideSubmit) {
  util::SetThreadStartBudgetForTesting(0);
  ThreadPool pool(4);
  EXPECT_EQ(pool.size(), 0);
  EXPECT_TRUE(pool.start_status().IsIOError());
  std::thread::id ran_on;
  auto done = pool.Submit([&] { ran_on = std::this_thread::get_id(); });
  // Ready on return: no worker exists that could ever run a queued task.
  EXPECT_TRUE(IsReady(done));
  EXPECT_EQ(ran_on, std::this_thread::get_id());
  EXPECT_EQ(pool.Submit([] { return 41 + 1; }).get(), 42);
  auto status = pool.Submit([] { return Status::Invalid("bad part"); });
  EXPECT_TRUE(status.get().IsInvalid());
  // An exception stays in the future; Submit itself does not throw.
  std::future<int> thrown;
  EXPECT_NO_THROW(thrown = pool.Submit([]() -> int { throw std::logic_error("inline"); }));
  EXPECT_THROW(thrown.get(), std::logic_error);
}

TEST_F(ThreadBudgetTest, APoolWithSomeThreadsRunsEverythingOnThem) {
  util::SetThreadStartBudgetForTesting(2);
  ThreadPool pool(5);
  EXPECT_EQ(pool.size(), 2);
  EXPECT_TRUE(pool.start_status().IsIOError());
  std::vector<std::future<std::thread::id>> ids;
  for (int idx = 0; idx < 100; ++idx) {
    ids.push_back(pool.Submit([] { return std::this_thread::get_id(); }));
  }
  std::set<std::thread::id> distinct;
  for (auto& id : ids) distinct.insert(id.get());
  EXPECT_LE(distinct.size(), 2u);
  EXPECT_EQ(distinct.count(std::this_thread::get_id()), 0u);
}

TEST(BoundedQueueTest, PopsInPushOrder) {
  BoundedQueue<int> queue(8);
  for (int idx = 0; idx < 8; ++idx) ASSERT_TRUE(queue.Push(idx));
  for (int idx = 0; idx < 8; ++idx) EXPECT_EQ(queue.Pop(), idx);
}

TEST(BoundedQueueTest, CloseRefusesPushesAndDrainsWhatIsLeft) {
  BoundedQueue<std::string> queue(4);
  ASSERT_TRUE(queue.Push("a"));
  ASSERT_TRUE(queue.Push("b"));
  queue.Close();
  EXPECT_FALSE(queue.Push("c"));
  EXPECT_EQ(queue.Pop(), "a");
  EXPECT_EQ(queue.Pop(), "b");
  EXPECT_EQ(queue.Pop(), std::nullopt);
  EXPECT_EQ(queue.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, CloseWakesABlockedConsumer) {
  BoundedQueue<int> queue(1);
  auto popped = std::async(std::launch::async, [&] { return queue.Pop(); });
  queue.Close();
  EXPECT_EQ(popped.get(), std::nullopt);
}

TEST(BoundedQueueTest, CloseWakesAProducerBlockedOnAFullQueue) {
  // Capacity 0 is taken as 1: the first push fits, the second blocks until Close.
  BoundedQueue<int> queue(0);
  ASSERT_TRUE(queue.Push(1));
  std::promise<void> about_to_push;
  auto pushed = std::async(std::launch::async, [&] {
    about_to_push.set_value();
    return queue.Push(2);
  });
  about_to_push.get_future().wait();
  queue.Close();
  EXPECT_FALSE(pushed.get());
  EXPECT_EQ(queue.Pop(), 1);
  EXPECT_EQ(queue.Pop(), std::nullopt);
}

TEST(BoundedQueueTest, ManyProducersAndConsumersDeliverEachItemExactlyOnce) {
  constexpr int kProducers = 4;
  constexpr int kPerProducer = 5000;
  BoundedQueue<int> queue(3);  // small, so producers block often
  std::vector<std::atomic<int>> seen(kProducers * kPerProducer);
  std::vector<std::thread> consumers;
  for (int idx = 0; idx < 3; ++idx) {
    consumers.emplace_back([&] {
      while (auto item = queue.Pop()) ++seen[static_cast<size_t>(*item)];
    });
  }
  std::vector<std::thread> producers;
  for (int producer = 0; producer < kProducers; ++producer) {
    producers.emplace_back([&, producer] {
      for (int idx = 0; idx < kPerProducer; ++idx) {
        EXPECT_TRUE(queue.Push(producer * kPerProducer + idx));
      }
    });
  }
  for (auto& thread : producers) thread.join();
  queue.Close();  // consumers drain what is left, then stop
  for (auto& thread : consumers) thread.join();
  for (size_t idx = 0; idx < seen.size(); ++idx) ASSERT_EQ(seen[idx], 1) << idx;
}

}  // namespace
}  // namespace orchard
