#include "orchard/pipeline/reorder_window.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "../test_util.h"

namespace orchard::pipeline {
namespace {

TEST(ReorderWindowTest, HandsItemsOutInOrderWhateverOrderTheyArrive) {
  constexpr int64_t kItems = 200;
  ReorderWindow<int64_t> window(/*capacity=*/4);
  std::atomic<int64_t> next{0};
  std::vector<std::thread> producers;
  for (int thread_idx = 0; thread_idx < 4; ++thread_idx) {
    producers.emplace_back([&, thread_idx] {
      for (;;) {
        const int64_t work_idx = next.fetch_add(1);
        if (work_idx >= kItems || !window.WaitForSlot(work_idx)) break;
        // Uneven work so that items finish out of order.
        if ((work_idx + thread_idx) % 3 == 0) {
          std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        window.Put(work_idx, work_idx * 10);
      }
    });
  }
  for (int64_t expected = 0; expected < kItems; ++expected) {
    auto item = window.TakeNext();
    ASSERT_TRUE(item.has_value());
    EXPECT_EQ(*item, expected * 10);
  }
  for (auto& thread : producers) thread.join();
}

TEST(ReorderWindowTest, ProducersWaitWhileTheWindowIsFull) {
  ReorderWindow<int> window(/*capacity=*/2);
  EXPECT_TRUE(window.WaitForSlot(0));
  EXPECT_TRUE(window.WaitForSlot(1));
  window.Put(1, 1);
  window.Put(0, 0);
  std::atomic<bool> admitted{false};
  std::thread producer([&] {
    if (window.WaitForSlot(2)) admitted = true;  // blocks until item 0 is taken
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(admitted.load());
  auto first = window.TakeNext();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(*first, 0);
  producer.join();
  EXPECT_TRUE(admitted.load());
}

TEST(ReorderWindowTest, StopWakesEveryWaiter) {
  ReorderWindow<int> window(/*capacity=*/1);
  std::atomic<int> woken{0};
  std::thread producer([&] {
    if (!window.WaitForSlot(5)) ++woken;
  });
  std::thread consumer([&] {
    if (!window.TakeNext().has_value()) ++woken;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  window.Stop();
  producer.join();
  consumer.join();
  EXPECT_EQ(woken.load(), 2);
}

TEST(FirstErrorTest, KeepsTheFirstError) {
  FirstError first_error;
  EXPECT_FALSE(first_error.failed());
  EXPECT_TRUE(first_error.status().ok());
  std::vector<std::thread> threads;
  first_error.Set(Status::IOError("first"));
  for (int thread_idx = 0; thread_idx < 4; ++thread_idx) {
    threads.emplace_back([&] { first_error.Set(Status::Invalid("later")); });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_TRUE(first_error.failed());
  EXPECT_EQ(first_error.status().message(), "first");
}

}  // namespace
}  // namespace orchard::pipeline
