#include "orchard/pipeline/embed_bytes.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <atomic>
#include <cmath>
#include <fstream>
#include <sstream>

#include "../test_util.h"
#include "orchard/util/fault.h"
#include "orchard/util/parallel_for.h"
#include "orchard/util/start_thread.h"
#include "orchard/util/thread_pool.h"

namespace orchard::pipeline {
namespace {

class EmbedBytesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    embedder_ = orchard::testing::LoadTestEmbedder();
    ASSERT_NE(embedder_, nullptr);
  }
  static void TearDownTestSuite() { delete embedder_; }

  void SetUp() override {
    // 0..4 good PNG/JPEG images, a corrupt JPEG at 2, a text file at 5.
    for (int idx = 0; idx < 5; ++idx) {
      cv::Mat image(40 + idx, 50 + 3 * idx, CV_8UC3, cv::Scalar(idx * 40, 255 - idx * 30, 128));
      cv::circle(image, {20, 20}, 5 + idx, cv::Scalar(10, 200, 30), -1);
      std::vector<uchar> encoded;
      ASSERT_TRUE(cv::imencode(idx % 2 == 0 ? ".png" : ".jpg", image, encoded));
      files_.emplace_back(encoded.begin(), encoded.end());
    }
    files_.insert(files_.begin() + 2, std::string("\xFF\xD8\xFF\xE0 not really a jpeg", 22));
    files_.push_back("just some text\n");
  }

  std::vector<EncodedImage> Views() const {
    std::vector<EncodedImage> views;
    for (const auto& file : files_) {
      views.push_back({reinterpret_cast<const uint8_t*>(file.data()), file.size()});
    }
    return views;
  }

  static inline model::Embedder* embedder_ = nullptr;
  std::vector<std::string> files_;
};

TEST_F(EmbedBytesTest, MatchesDecodeThenEmbedOneByOne) {
  EmbedBytesOptions options;
  options.batch_size = 3;
  EmbedBytesResult result;
  ASSERT_OK_AND_ASSIGN(result, EmbedEncodedImages(Views(), *embedder_, options));
  ASSERT_EQ(result.dim, 1280);
  EXPECT_EQ(result.ok_indices, (std::vector<int64_t>{0, 1, 3, 4, 5}));
  ASSERT_EQ(result.features.size(), 5u * 1280u);
  ASSERT_EQ(result.errors.size(), 2u);

  image::PreprocessOptions preprocess;
  std::vector<float> input(static_cast<size_t>(embedder_->input_size()));
  std::vector<float> expected(1280);
  for (size_t row = 0; row < result.ok_indices.size(); ++row) {
    const auto& file = files_[static_cast<size_t>(result.ok_indices[row])];
    ASSERT_OK(image::DecodeAndPreprocess(reinterpret_cast<const uint8_t*>(file.data()), file.size(),
                                         preprocess, input.data()));
    ASSERT_OK(embedder_->Embed(input.data(), 1, expected.data()));
    for (size_t col = 0; col < expected.size(); ++col) {
      ASSERT_NEAR(result.features[row * 1280 + col], expected[col], 1e-5) << row << "," << col;
    }
  }
  // Errors carry the decoder's own message, as the CLI's errors table does.
  for (const auto& error : result.errors) {
    const auto& file = files_[static_cast<size_t>(error.index)];
    const Status status = image::DecodeAndPreprocess(reinterpret_cast<const uint8_t*>(file.data()),
                                                     file.size(), preprocess, input.data());
    EXPECT_EQ(error.stage, "decode");
    EXPECT_EQ(error.message, status.message());
    EXPECT_FALSE(error.message.empty());
  }
  EXPECT_EQ(result.errors[0].index, 2);
  EXPECT_EQ(result.errors[1].index, 6);
}

TEST_F(EmbedBytesTest, DecodeThreadsAndBatchSizeDoNotChangeTheResult) {
  EmbedBytesOptions serial;
  serial.batch_size = 32;
  EmbedBytesOptions parallel;
  parallel.batch_size = 2;
  parallel.decode_threads = 3;
  EmbedBytesResult one, two;
  ASSERT_OK_AND_ASSIGN(one, EmbedEncodedImages(Views(), *embedder_, serial));
  ASSERT_OK_AND_ASSIGN(two, EmbedEncodedImages(Views(), *embedder_, parallel));
  EXPECT_EQ(one.ok_indices, two.ok_indices);
  ASSERT_EQ(one.features.size(), two.features.size());
  for (size_t idx = 0; idx < one.features.size(); ++idx) {
    ASSERT_NEAR(one.features[idx], two.features[idx], 1e-5);
  }
  ASSERT_EQ(one.errors.size(), two.errors.size());
  for (size_t idx = 0; idx < one.errors.size(); ++idx) {
    EXPECT_EQ(one.errors[idx].index, two.errors[idx].index);
    EXPECT_EQ(one.errors[idx].message, two.errors[idx].message);
  }
}

TEST_F(EmbedBytesTest, EmptyInputAndBadOptions) {
  EmbedBytesResult result;
  ASSERT_OK_AND_ASSIGN(result, EmbedEncodedImages({}, *embedder_, EmbedBytesOptions{}));
  EXPECT_TRUE(result.ok_indices.empty());
  EXPECT_TRUE(result.features.empty());
  EXPECT_TRUE(result.errors.empty());
  EmbedBytesOptions bad;
  bad.batch_size = 0;
  EXPECT_TRUE(EmbedEncodedImages(Views(), *embedder_, bad).status().IsInvalid());
  bad.batch_size = 4;
  bad.decode_threads = 0;
  EXPECT_TRUE(EmbedEncodedImages(Views(), *embedder_, bad).status().IsInvalid());
}

TEST_F(EmbedBytesTest, EmptyFileIsADecodeError) {
  const std::string empty;
  EmbedBytesResult result;
  ASSERT_OK_AND_ASSIGN(
      result, EmbedEncodedImages({{reinterpret_cast<const uint8_t*>(empty.data()), 0}}, *embedder_,
                                 EmbedBytesOptions{}));
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].stage, "decode");
  EXPECT_TRUE(result.ok_indices.empty());
}

// Thread starts the system refuses (the ORCHARD_FAULT_THREADS hook, set in-process): every
// place that starts threads returns the error, after joining the threads it did start.
TEST(ThreadStartTest, RefusedThreadsAreErrorsNeverACrashOrAHang) {
  util::SetThreadStartBudgetForTesting(1);
  std::atomic<int> done{0};
  const Status parallel = ParallelFor(100, 4, [&](size_t) {
    ++done;
    return Status::OK();
  });
  EXPECT_FALSE(parallel.ok());
  EXPECT_NE(parallel.message().find("cannot start a thread"), std::string::npos) << parallel;

  util::SetThreadStartBudgetForTesting(2);
  EXPECT_FALSE(ThreadPool::Make(3).ok());
  util::SetThreadStartBudgetForTesting(0);
  ThreadPool no_threads(2);  // got none: runs each task inside Submit
  EXPECT_FALSE(no_threads.start_status().ok());
  EXPECT_EQ(no_threads.Submit([] { return 7; }).get(), 7);
  EXPECT_FALSE(util::CheckThreadsAvailable(2, "probe").ok());
  util::SetThreadStartBudgetForTesting(-1);
  EXPECT_TRUE(util::CheckThreadsAvailable(2, "probe").ok());
  EXPECT_TRUE(ParallelFor(10, 4, [](size_t) { return Status::OK(); }).ok());
}

}  // namespace
}  // namespace orchard::pipeline
