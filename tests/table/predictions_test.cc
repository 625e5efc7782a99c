#include "orchard/table/predictions.h"

#include <arrow/api.h>

#include "../test_util.h"
#include "orchard/table/tables.h"

namespace orchard::table {
namespace {

const std::vector<std::string> kClasses = {"cat", "dog", "ü bird"};

TEST(PredictionsTableTest, RoundTripsThroughParquet) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  const std::vector<float> first = {0.1f, 0.7f, 0.2f}, second = {0.5f, 0.25f, 0.25f};
  PredictionsBatchBuilder builder(kClasses);
  ASSERT_OK(builder.Append("dog/1.jpg", "dog", {1, 2, 0}, first.data()));
  ASSERT_OK(builder.Append("x/ü 2.png", "", {0, 1}, second.data()));
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, builder.Finish());
  EXPECT_TRUE(batch->schema()->Equals(*PredictionsSchema()));
  ASSERT_OK(batch->ValidateFull());
  const io::Location part = root.Child("predictions").Child(PartName(3));
  ASSERT_OK(WriteParquet(part, *batch));

  PredictionRows rows;
  ASSERT_OK_AND_ASSIGN(rows, ReadPredictionsFile(part));
  ASSERT_EQ(rows.num_rows(), 2);
  EXPECT_EQ(rows.paths, (std::vector<std::string>{"dog/1.jpg", "x/ü 2.png"}));
  EXPECT_EQ(rows.labels, (std::vector<std::string>{"dog", ""}));
  EXPECT_EQ(rows.predicted, (std::vector<std::string>{"dog", "cat"}));
  EXPECT_EQ(rows.probabilities, (std::vector<float>{0.7f, 0.5f}));
  ASSERT_EQ(rows.top.size(), 2u);
  ASSERT_EQ(rows.top[0].size(), 3u);
  EXPECT_EQ(rows.top[0][0].label, "dog");
  EXPECT_EQ(rows.top[0][1].label, "ü bird");
  EXPECT_EQ(rows.top[0][1].probability, 0.2f);
  EXPECT_EQ(rows.top[0][2].label, "cat");
  ASSERT_EQ(rows.top[1].size(), 2u);
  EXPECT_EQ(rows.top[1][1].label, "dog");
  EXPECT_EQ(rows.top[1][1].probability, 0.25f);

  // The builder starts over after Finish: an empty part keeps the schema.
  ASSERT_OK_AND_ASSIGN(batch, builder.Finish());
  EXPECT_EQ(batch->num_rows(), 0);
  ASSERT_OK(WriteParquet(root.Child("predictions").Child(PartName(4)), *batch));
  ASSERT_OK_AND_ASSIGN(rows, ReadPredictionsFile(root.Child("predictions").Child(PartName(4))));
  EXPECT_EQ(rows.num_rows(), 0);
}

TEST(PredictionsTableTest, RefusesBadRowsAndOtherTables) {
  PredictionsBatchBuilder builder(kClasses);
  const std::vector<float> probabilities = {0.2f, 0.3f, 0.5f};
  EXPECT_FALSE(builder.Append("a.jpg", "a", {}, probabilities.data()).ok());
  EXPECT_FALSE(builder.Append("a.jpg", "a", {2, 3}, probabilities.data()).ok());
  EXPECT_FALSE(builder.Append("a.jpg", "a", {-1}, probabilities.data()).ok());

  // A features part is not a predictions part: the reader names the file and the column.
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  VectorRows features;
  features.dim = 2;
  features.paths = {"a.jpg"};
  features.labels = {"a"};
  features.values = {1, 2};
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, MakeVectorBatch(kFeaturesColumn, features));
  const io::Location part = root.Child(PartName(0));
  ASSERT_OK(WriteParquet(part, *batch));
  const auto refused = ReadPredictionsFile(part);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find(part.display), std::string::npos);
  EXPECT_NE(refused.status().message().find("'predicted'"), std::string::npos)
      << refused.status().message();
  // A top5 column of another type is refused too.
  auto wrong_top = arrow::schema({arrow::field(kPathColumn, arrow::utf8()),
                                  arrow::field(kLabelColumn, arrow::utf8()),
                                  arrow::field(kPredictedColumn, arrow::utf8()),
                                  arrow::field(kProbabilityColumn, arrow::float32()),
                                  arrow::field(kTopColumn, arrow::list(arrow::utf8()))});
  arrow::StringBuilder strings;
  std::shared_ptr<arrow::Array> empty_strings, empty_floats, empty_lists;
  ASSERT_OK(strings.Finish(&empty_strings));
  arrow::FloatBuilder floats;
  ASSERT_OK(floats.Finish(&empty_floats));
  arrow::ListBuilder lists(arrow::default_memory_pool(), std::make_shared<arrow::StringBuilder>());
  ASSERT_OK(lists.Finish(&empty_lists));
  auto wrong = arrow::RecordBatch::Make(
      wrong_top, 0, {empty_strings, empty_strings, empty_strings, empty_floats, empty_lists});
  ASSERT_OK(WriteParquet(root.Child(PartName(1)), *wrong));
  const auto refused_top = ReadPredictionsFile(root.Child(PartName(1)));
  ASSERT_FALSE(refused_top.ok());
  EXPECT_NE(refused_top.status().message().find("'top5'"), std::string::npos)
      << refused_top.status().message();
}

}  // namespace
}  // namespace orchard::table
