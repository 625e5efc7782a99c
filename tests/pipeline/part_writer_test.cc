#include "orchard/pipeline/part_writer.h"

#include <filesystem>

#include "../test_util.h"

namespace orchard::pipeline {
namespace {

namespace fs = std::filesystem;

class PartWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int idx = 0; idx < 6; ++idx) {
      items_.push_back({"l/" + std::to_string(idx) + ".png", "l", "l/" + std::to_string(idx)});
    }
    features_ = *io::ResolveLocation((dir_.path() / "features").string(), io::StorageOptions{});
    errors_ = *io::ResolveLocation((dir_.path() / "errors").string(), io::StorageOptions{});
  }
  static EmbeddedBatch Batch(int64_t batch_idx, std::vector<int64_t> ok,
                             std::vector<table::ErrorRecord> errors = {}) {
    EmbeddedBatch batch;
    batch.batch_idx = batch_idx;
    for (const int64_t item_idx : ok) {
      batch.features.push_back(static_cast<float>(item_idx));
      batch.features.push_back(-static_cast<float>(item_idx));
    }
    batch.item_indices = std::move(ok);
    batch.errors = std::move(errors);
    return batch;
  }
  bool Exists(const std::string& relative) { return fs::exists(dir_.path() / relative); }

  orchard::testing::TempDir dir_;
  std::vector<ImageItem> items_;
  io::Location features_;
  io::Location errors_;
};

TEST_F(PartWriterTest, WritesEachPartWhenTheNextBegins) {
  PartWriterOptions options;
  options.dim = 2;
  options.first_part_index = 7;
  options.compute_pca_stats = true;
  int reported = 0;
  options.on_error = [&](const table::ErrorRecord&) { ++reported; };
  PartWriter writer(items_, features_, errors_, options);
  ASSERT_OK(writer.Add(0, Batch(0, {0, 1})));
  ASSERT_OK(writer.Add(0, Batch(1, {3}, {{"l/2.png", "decode", "bad"}})));
  EXPECT_FALSE(Exists("features/part-00007.parquet"));  // the part is still open
  ASSERT_OK(writer.Add(1, Batch(2, {4, 5})));
  EXPECT_TRUE(Exists("features/part-00007.parquet"));
  EXPECT_TRUE(Exists("errors/part-00007.parquet"));
  EXPECT_FALSE(Exists("features/part-00008.parquet"));
  ASSERT_OK(writer.Finish());
  EXPECT_TRUE(Exists("features/part-00008.parquet"));
  // No error rows in part 8: no errors file.
  EXPECT_FALSE(Exists("errors/part-00008.parquet"));

  table::VectorRows rows;
  ASSERT_OK_AND_ASSIGN(
      rows, table::ReadVectorFile(features_.Child("part-00007.parquet"), table::kFeaturesColumn));
  EXPECT_EQ(rows.paths, (std::vector<std::string>{"l/0.png", "l/1.png", "l/3.png"}));
  EXPECT_EQ(rows.values, (std::vector<float>{0, -0, 1, -1, 3, -3}));
  std::vector<table::ErrorRecord> errors;
  ASSERT_OK_AND_ASSIGN(errors, table::ReadErrorsFile(errors_.Child("part-00007.parquet")));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "l/2.png");
  EXPECT_EQ(errors[0].stage, "decode");

  EXPECT_EQ(reported, 1);
  EXPECT_EQ(writer.rows_done(), 6);
  EXPECT_EQ(writer.rows_failed(), 1);
  EXPECT_EQ(writer.parts_written(), 2);
  EXPECT_EQ(writer.pca().count(), 5);
}

TEST_F(PartWriterTest, WritesTheErrorsFileBeforeTheFeaturesFile) {
  // The errors folder is a file: writing the errors part fails, and no features file may
  // claim the part complete.
  ASSERT_OK(io::WriteAll(errors_, "not a folder"));
  PartWriterOptions options;
  options.dim = 2;
  PartWriter writer(items_, features_, errors_, options);
  ASSERT_OK(writer.Add(0, Batch(0, {0}, {{"l/1.png", "read", "gone"}})));
  EXPECT_FALSE(writer.Finish().ok());
  EXPECT_FALSE(Exists("features/part-00000.parquet"));
}

TEST_F(PartWriterTest, APartOfOnlyErrorsHasAnEmptyFeaturesFile) {
  PartWriterOptions options;
  options.dim = 2;
  PartWriter writer(items_, features_, errors_, options);
  ASSERT_OK(writer.Add(0, Batch(0, {}, {{"l/0.png", "decode", "bad"}})));
  ASSERT_OK(writer.Finish());
  table::VectorRows rows;
  ASSERT_OK_AND_ASSIGN(
      rows, table::ReadVectorFile(features_.Child("part-00000.parquet"), table::kFeaturesColumn));
  EXPECT_EQ(rows.num_rows(), 0);
  EXPECT_TRUE(Exists("errors/part-00000.parquet"));
  EXPECT_EQ(writer.pca().count(), 0);
}

}  // namespace
}  // namespace orchard::pipeline
