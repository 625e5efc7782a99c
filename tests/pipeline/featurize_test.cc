#include "orchard/pipeline/featurize.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "../test_util.h"

namespace orchard::pipeline {
namespace {

namespace fs = std::filesystem;

class FeaturizeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    embedder_ = orchard::testing::LoadTestEmbedder();
    ASSERT_NE(embedder_, nullptr);
  }
  static void TearDownTestSuite() { delete embedder_; }

  void SetUp() override {
    // Two labels, 3 good images each, plus one corrupt file and one text file.
    for (int idx = 0; idx < 6; ++idx) {
      const std::string label = idx < 3 ? "apple" : "pear tree";
      fs::create_directories(input_dir() / label);
      cv::Mat image(40 + idx, 50, CV_8UC3, cv::Scalar(idx * 40, 255 - idx * 30, 128));
      cv::imwrite((input_dir() / label / ("img" + std::to_string(idx) + ".png")).string(), image);
    }
    std::ofstream(input_dir() / "apple" / "broken.jpg") << "\xFF\xD8\xFF\xE0 not really";
    std::ofstream(input_dir() / "pear tree" / "notes.txt") << "hello";
    input_ = *io::ResolveLocation(input_dir().string(), io::StorageOptions{});
    output_ = *io::ResolveLocation((dir_.path() / "out").string(), io::StorageOptions{});
  }

  fs::path input_dir() const { return dir_.path() / "in"; }

  static inline model::Embedder* embedder_ = nullptr;
  orchard::testing::TempDir dir_;
  io::Location input_;
  io::Location output_;
};

TEST_F(FeaturizeTest, ListsImagesWithParentFolderLabels) {
  std::vector<ImageItem> items;
  ASSERT_OK_AND_ASSIGN(items, ListImages(input_));
  ASSERT_EQ(items.size(), 8u);
  EXPECT_EQ(items[0].path, "apple/broken.jpg");
  EXPECT_EQ(items[0].label, "apple");
  EXPECT_EQ(items[7].label, "pear tree");
}

TEST_F(FeaturizeTest, KeepsEveryGoodImageAndRecordsTheBadOnes) {
  std::vector<ImageItem> items;
  ASSERT_OK_AND_ASSIGN(items, ListImages(input_));
  FeaturizeOptions options;
  options.batch_size = 3;
  options.rows_per_part = 6;  // parts of 2 batches: items 0-5 and 6-7
  options.prep_threads = 2;
  options.io_threads = 2;
  std::atomic<int> progress_calls{0};
  options.on_progress = [&](int64_t, int64_t) { ++progress_calls; };
  FeaturizeStats stats;
  ASSERT_OK_AND_ASSIGN(stats, Featurize(items, input_, *embedder_, output_.Child("features"),
                                        output_.Child("errors"), {}, options));
  EXPECT_EQ(stats.ok, 6);
  EXPECT_EQ(stats.failed, 2);
  EXPECT_EQ(stats.parts_written, 2);
  EXPECT_EQ(progress_calls.load(), 3);

  std::vector<io::Location> parts;
  ASSERT_OK_AND_ASSIGN(parts, table::ListParts(output_.Child("features")));
  ASSERT_EQ(parts.size(), 2u);
  table::VectorRows first;
  ASSERT_OK_AND_ASSIGN(first, table::ReadVectorFile(parts[0], table::kFeaturesColumn));
  EXPECT_EQ(first.num_rows(), 5);  // items 0-5 minus broken.jpg
  EXPECT_EQ(first.paths[0], "apple/img0.png");
  EXPECT_EQ(first.dim, 1280);
  std::vector<table::ErrorRecord> errors;
  ASSERT_OK_AND_ASSIGN(errors,
                       table::ReadErrorsFile(output_.Child("errors").Child(table::PartName(0))));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "apple/broken.jpg");
  EXPECT_EQ(errors[0].stage, "decode");
  ASSERT_OK_AND_ASSIGN(errors,
                       table::ReadErrorsFile(output_.Child("errors").Child(table::PartName(1))));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "pear tree/notes.txt");
}

TEST_F(FeaturizeTest, SkippedPartsAreNotRecomputed) {
  std::vector<ImageItem> items;
  ASSERT_OK_AND_ASSIGN(items, ListImages(input_));
  FeaturizeOptions options;
  options.batch_size = 2;
  options.rows_per_part = 4;
  FeaturizeStats stats;
  ASSERT_OK_AND_ASSIGN(stats, Featurize(items, input_, *embedder_, output_.Child("features"),
                                        output_.Child("errors"), {0}, options));
  EXPECT_EQ(stats.parts_reused, 1);
  EXPECT_EQ(stats.images_reused, 4);
  EXPECT_EQ(stats.ok + stats.failed, 4);
  std::vector<io::Location> parts;
  ASSERT_OK_AND_ASSIGN(parts, table::ListParts(output_.Child("features")));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_NE(parts[0].path.find("part-00001"), std::string::npos);
}

TEST_F(FeaturizeTest, CancellationStopsTheRun) {
  std::vector<ImageItem> items;
  ASSERT_OK_AND_ASSIGN(items, ListImages(input_));
  std::atomic<bool> cancel{true};
  FeaturizeOptions options;
  options.cancel = &cancel;
  auto result = Featurize(items, input_, *embedder_, output_.Child("features"),
                          output_.Child("errors"), {}, options);
  ASSERT_FALSE(result.ok());
  EXPECT_TRUE(result.status().IsCancelled());
}

}  // namespace
}  // namespace orchard::pipeline
