#include "orchard/pipeline/prep_stage.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <sys/stat.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>

#include "../test_util.h"

namespace orchard::pipeline {
namespace {

namespace fs = std::filesystem;

class PrepStageTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    fs::create_directories(dir_.path() / "l");
    for (const char* name : {"a.png", "c.png"}) {
      cv::Mat image(12, 9, CV_8UC3, cv::Scalar(10, 200, 90));
      cv::imwrite((dir_.path() / "l" / name).string(), image);
    }
    std::ofstream(dir_.path() / "l" / "b.jpg") << "\xFF\xD8\xFF\xE0 not really";
    // l/gone.png is listed but absent: a local read error.
    for (const char* name : {"a.png", "b.jpg", "c.png", "gone.png"}) {
      items_.push_back({std::string("l/") + name, "l", std::string("l/") + name});
    }
    root_ = *io::ResolveLocation(dir_.path().string(), io::StorageOptions{});
    preprocess_.width = 8;
    preprocess_.height = 6;
    if (GetParam()) pool_ = std::make_unique<ThreadPool>(3);
  }

  orchard::testing::TempDir dir_;
  std::vector<ImageItem> items_;
  io::Location root_;
  image::PreprocessOptions preprocess_;
  std::unique_ptr<ThreadPool> pool_;
};

TEST_P(PrepStageTest, DecodesGoodImagesAndMakesErrorRowsOfTheRest) {
  const int64_t input_size = image::InputSize(preprocess_);
  const PrepStage prep(items_, root_, preprocess_, input_size, pool_.get());
  PrepTimes times;
  PreparedBatch batch;
  ASSERT_OK_AND_ASSIGN(batch, prep.Prepare(/*batch_idx=*/5, /*first=*/0, /*count=*/4, &times));
  EXPECT_EQ(batch.batch_idx, 5);
  EXPECT_EQ(batch.item_indices, (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(batch.input.size(), static_cast<size_t>(2 * input_size));
  ASSERT_EQ(batch.errors.size(), 2u);
  EXPECT_EQ(batch.errors[0].path, "l/b.jpg");
  EXPECT_EQ(batch.errors[0].stage, "decode");
  EXPECT_EQ(batch.errors[1].path, "l/gone.png");
  EXPECT_EQ(batch.errors[1].stage, "read");
  EXPECT_FALSE(batch.errors[1].message.empty());
  // The two good images are the same picture: the same tensor.
  EXPECT_TRUE(std::equal(batch.input.begin(), batch.input.begin() + input_size,
                         batch.input.begin() + input_size));
}

TEST_P(PrepStageTest, PreparesASliceOfTheListing) {
  const int64_t input_size = image::InputSize(preprocess_);
  const PrepStage prep(items_, root_, preprocess_, input_size, pool_.get());
  PrepTimes times;
  PreparedBatch batch;
  ASSERT_OK_AND_ASSIGN(batch, prep.Prepare(/*batch_idx=*/1, /*first=*/2, /*count=*/1, &times));
  EXPECT_EQ(batch.item_indices, (std::vector<int64_t>{2}));
  EXPECT_TRUE(batch.errors.empty());
  EXPECT_GE(times.decode_seconds, 0.0);
}

TEST_P(PrepStageTest, RefusesFilesOverTheSizeLimitFromTheListingWithoutReadingThem) {
  // l/pipe.png is a FIFO that the listing said is large: a read would say "FIFO" (or block,
  // before bounded reads); the row says the size, so nothing was opened.
  ASSERT_EQ(::mkfifo((dir_.path() / "l" / "pipe.png").c_str(), 0644), 0);
  const int64_t png_size = static_cast<int64_t>(fs::file_size(dir_.path() / "l" / "a.png"));
  std::vector<ImageItem> items = {{"l/a.png", "l", "l/a.png", png_size},
                                  {"l/pipe.png", "l", "l/pipe.png", png_size + 1}};
  preprocess_.max_file_bytes = png_size;
  const int64_t input_size = image::InputSize(preprocess_);
  const PrepStage prep(items, root_, preprocess_, input_size, pool_.get());
  PrepTimes times;
  PreparedBatch batch;
  ASSERT_OK_AND_ASSIGN(batch, prep.Prepare(0, 0, 2, &times));
  EXPECT_EQ(batch.item_indices, (std::vector<int64_t>{0}));
  ASSERT_EQ(batch.errors.size(), 1u);
  EXPECT_EQ(batch.errors[0].path, "l/pipe.png");
  EXPECT_EQ(batch.errors[0].stage, "read");
  EXPECT_NE(batch.errors[0].message.find("over the limit of " + std::to_string(png_size)),
            std::string::npos)
      << batch.errors[0].message;
}

TEST_P(PrepStageTest, KeepsTheBytesInFlightWithinTheReadAheadBudget) {
  // Six files of `size` bytes, a budget of 2.5 files: reads run ahead two at a time on a
  // pool, one at a time inline; every image still decodes.
  const int64_t size = static_cast<int64_t>(fs::file_size(dir_.path() / "l" / "a.png"));
  std::vector<ImageItem> items;
  for (int copy = 0; copy < 6; ++copy) {
    const std::string name = "l/copy" + std::to_string(copy) + ".png";
    fs::copy_file(dir_.path() / "l" / "a.png", dir_.path() / name);
    items.push_back({name, "l", name, size});
  }
  const int64_t input_size = image::InputSize(preprocess_);
  const PrepStage prep(items, root_, preprocess_, input_size, pool_.get(), 2 * size + size / 2);
  PrepTimes times;
  PreparedBatch batch;
  ASSERT_OK_AND_ASSIGN(batch, prep.Prepare(0, 0, 6, &times));
  EXPECT_EQ(batch.item_indices.size(), 6u);
  EXPECT_TRUE(batch.errors.empty());
  EXPECT_EQ(times.peak_read_bytes, pool_ ? 2 * size : size);
}

INSTANTIATE_TEST_SUITE_P(ReadInlineOrOnAPool, PrepStageTest, ::testing::Bool());

// ReadAhead with a read function of the test's own: the items are never opened.
class ReadAheadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int idx = 0; idx < 12; ++idx) {
      const std::string name = "l/" + std::to_string(idx) + ".png";
      items_.push_back({name, "l", name, /*size=*/10});
    }
  }
  std::vector<int64_t> AllInOrder() const {
    std::vector<int64_t> order(items_.size());
    for (size_t idx = 0; idx < order.size(); ++idx) order[idx] = static_cast<int64_t>(idx);
    return order;
  }
  static Result<std::shared_ptr<arrow::Buffer>> BytesOf(const ImageItem& item) {
    return arrow::Buffer::FromString(item.source);
  }

  std::vector<ImageItem> items_;
  ThreadPool pool_{8};
};

TEST_F(ReadAheadTest, ReadsRunAheadAcrossBatchesUpToTheReadsInFlight) {
  // Each read waits until six reads are in flight at once: reading one batch of two at a
  // time (as prep threads did) would never get there, and every read would say so.
  std::mutex mutex;
  std::condition_variable arrived;
  int in_flight = 0;
  int most_in_flight = 0;
  auto read = [&](const ImageItem& item) -> Result<std::shared_ptr<arrow::Buffer>> {
    std::unique_lock lock(mutex);
    most_in_flight = std::max(most_in_flight, ++in_flight);
    arrived.notify_all();
    const bool all_there =
        arrived.wait_for(lock, std::chrono::seconds(60), [&] { return most_in_flight >= 6; });
    --in_flight;
    if (!all_there) return Status::IOError("only ", most_in_flight, " reads ran at once");
    return BytesOf(item);
  };
  ReadAhead read_ahead(items_, AllInOrder(), read, &pool_, /*max_in_flight=*/6,
                       /*budget_bytes=*/1000, /*max_file_bytes=*/100);
  for (int64_t idx = 0; idx < 12; ++idx) {
    auto bytes = read_ahead.Take(idx);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    read_ahead.Release(idx);
  }
  std::lock_guard lock(mutex);
  EXPECT_EQ(most_in_flight, 6);  // never more than allowed
}

TEST_F(ReadAheadTest, KeepsTheBytesHeldWithinTheBudgetAndReadsEachItemOnce) {
  std::mutex mutex;
  std::map<std::string, int> reads;
  auto read = [&](const ImageItem& item) {
    std::lock_guard lock(mutex);
    ++reads[item.source];
    return BytesOf(item);
  };
  // Item 3 is over the size limit: never read. Items are taken out of order (7 first, as a
  // prep thread whose batch is ahead may): 7 is read at once, and not again in its turn.
  items_[3].size = 1000;
  ReadAhead read_ahead(items_, AllInOrder(), read, &pool_, /*max_in_flight=*/8,
                       /*budget_bytes=*/35, /*max_file_bytes=*/100);
  for (int64_t idx : {7, 0, 1, 2, 4, 5, 6, 8, 9, 10, 11}) {
    auto bytes = read_ahead.Take(idx);
    ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
    EXPECT_EQ(std::string(reinterpret_cast<const char*>((*bytes)->data()),
                          static_cast<size_t>((*bytes)->size())),
              items_[static_cast<size_t>(idx)].source);
    read_ahead.Release(idx);
  }
  // Three items of 10 bytes fit the budget of 35; the one taken out of turn may add one.
  EXPECT_LE(read_ahead.peak_bytes(), 40);
  std::lock_guard lock(mutex);
  EXPECT_EQ(reads.count("l/3.png"), 0u);
  EXPECT_EQ(reads.size(), 11u);
  for (const auto& [source, count] : reads) EXPECT_EQ(count, 1) << source;
}

TEST_F(ReadAheadTest, AFailedReadIsTheResultOfItsItemOnly) {
  auto read = [&](const ImageItem& item) -> Result<std::shared_ptr<arrow::Buffer>> {
    if (item.source == "l/5.png") return Status::IOError("503 SlowDown after 10 attempts");
    return BytesOf(item);
  };
  ReadAhead read_ahead(items_, AllInOrder(), read, &pool_, 4, 1000, 100);
  for (int64_t idx = 0; idx < 12; ++idx) {
    auto bytes = read_ahead.Take(idx);
    EXPECT_EQ(bytes.ok(), idx != 5) << idx;
    read_ahead.Release(idx);
  }
}

}  // namespace
}  // namespace orchard::pipeline
