#include "orchard/table/tables.h"

#include <arrow/api.h>

#include "../test_util.h"

namespace orchard::table {
namespace {

TEST(TablesTest, VectorTableRoundTripsThroughParquet) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  VectorRows rows;
  rows.dim = 3;
  rows.paths = {"a/1.jpg", "b/ü 2.jpg"};
  rows.labels = {"a", "b"};
  rows.values = {1, 2, 3, 4.5f, -5, 6};
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, MakeVectorBatch(kFeaturesColumn, rows));
  ASSERT_OK(WriteParquet(root.Child("features").Child(PartName(7)), *batch));
  std::vector<io::Location> parts;
  ASSERT_OK_AND_ASSIGN(parts, ListParts(root.Child("features")));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].path, root.path + "/features/part-00007.parquet");
  VectorRows back;
  ASSERT_OK_AND_ASSIGN(back, ReadVectorFile(parts[0], kFeaturesColumn));
  EXPECT_EQ(back.paths, rows.paths);
  EXPECT_EQ(back.labels, rows.labels);
  EXPECT_EQ(back.values, rows.values);
  EXPECT_EQ(back.dim, 3);
  EXPECT_FALSE(ReadVectorFile(parts[0], kPcaColumn).ok());
}

TEST(TablesTest, EmptyTablesAndErrorsRoundTrip) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, MakeErrorsBatch({{"x.txt", "decode", "not an image"}}));
  ASSERT_OK(WriteParquet(root.Child("e.parquet"), *batch));
  std::vector<ErrorRecord> errors;
  ASSERT_OK_AND_ASSIGN(errors, ReadErrorsFile(root.Child("e.parquet")));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].stage, "decode");
  EXPECT_EQ(errors[0].message, "not an image");

  VectorRows empty;
  empty.dim = 4;
  ASSERT_OK_AND_ASSIGN(batch, MakeVectorBatch(kPcaColumn, empty));
  ASSERT_OK(WriteParquet(root.Child("p.parquet"), *batch));
  VectorRows back;
  ASSERT_OK_AND_ASSIGN(back, ReadVectorFile(root.Child("p.parquet"), kPcaColumn));
  EXPECT_EQ(back.num_rows(), 0);
}

// Parquet strings must be UTF-8: free text quoting a raw name is made valid on the way in,
// and a table written elsewhere with invalid strings reads back as valid text.
TEST(TablesTest, StringsWrittenAndReadAreValidUtf8) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, MakeErrorsBatch({{"a/%FF.jpg", "read", "cannot open 'a/\xFF.jpg'"}}));
  ASSERT_OK(batch->ValidateFull());  // Arrow's full validation checks UTF-8
  ASSERT_OK(WriteParquet(root.Child("e.parquet"), *batch));
  std::vector<ErrorRecord> errors;
  ASSERT_OK_AND_ASSIGN(errors, ReadErrorsFile(root.Child("e.parquet")));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "a/%FF.jpg");
  EXPECT_EQ(errors[0].message, "cannot open 'a/%FF.jpg'");

  VectorRows rows;
  rows.dim = 1;
  rows.paths = {"x/1.jpg", "y/2.jpg"};
  rows.labels = {"x", "y"};
  rows.values = {1, 2};
  ASSERT_OK_AND_ASSIGN(batch, MakeVectorBatch(kFeaturesColumn, rows));
  // A foreign writer's labels: the same bytes viewed as strings, one not UTF-8.
  arrow::BinaryBuilder raw_labels;
  ASSERT_OK(raw_labels.Append(std::string("col\xFFx")));
  ASSERT_OK(raw_labels.Append(std::string("\xED\xA0\x80")));
  std::shared_ptr<arrow::Array> binary;
  ASSERT_OK(raw_labels.Finish(&binary));
  std::shared_ptr<arrow::Array> invalid;
  ASSERT_OK_AND_ASSIGN(invalid, binary->View(arrow::utf8()));
  ASSERT_OK_AND_ASSIGN(batch, batch->SetColumn(1, batch->schema()->field(1), invalid));
  ASSERT_OK(WriteParquet(root.Child("f.parquet"), *batch));
  VectorRows back;
  ASSERT_OK_AND_ASSIGN(back, ReadVectorFile(root.Child("f.parquet"), kFeaturesColumn));
  EXPECT_EQ(back.labels, (std::vector<std::string>{"col%FFx", "%ED%A0%80"}));
}

TEST(TablesTest, ListPartsIgnoresUnfinishedAndForeignFiles) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  ASSERT_OK(io::WriteAll(root.Child("t/part-00001.parquet"), "x"));
  ASSERT_OK(io::WriteAll(root.Child("t/part-00000.parquet"), "x"));
  ASSERT_OK(io::WriteAll(root.Child("t/part-00002.parquet.inprogress"), "x"));
  ASSERT_OK(io::WriteAll(root.Child("t/notes.txt"), "x"));
  std::vector<io::Location> parts;
  ASSERT_OK_AND_ASSIGN(parts, ListParts(root.Child("t")));
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_NE(parts[0].path.find("part-00000"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(parts, ListParts(root.Child("absent")));
  EXPECT_TRUE(parts.empty());
}

TEST(TablesTest, PartIndexInvertsPartName) {
  for (int64_t index : {0, 7, 42, 99999, 123456}) {
    EXPECT_EQ(PartIndex(PartName(index)), index);
    EXPECT_EQ(PartIndex("s3://bucket/out/features/" + PartName(index)), index);
  }
  for (const char* foreign : {"part-.parquet", "part-1.parquet", "part-00001.parquet.inprogress",
                              "part-0000a.parquet", "x-00001.parquet", "part-00001.csv", ""}) {
    EXPECT_EQ(PartIndex(foreign), -1) << foreign;
  }
}

TEST(TablesTest, EnsureErrorsTableWritesOneEmptyPartOnlyWhenThereIsNone) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  ASSERT_OK(EnsureErrorsTable(root.Child("errors")));
  std::vector<io::Location> parts;
  ASSERT_OK_AND_ASSIGN(parts, ListParts(root.Child("errors")));
  ASSERT_EQ(parts.size(), 1u);
  std::vector<ErrorRecord> read;
  ASSERT_OK_AND_ASSIGN(read, ReadErrorsFile(parts[0]));
  EXPECT_TRUE(read.empty());

  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, MakeErrorsBatch({{"a/b.jpg", "decode", "corrupt"}}));
  ASSERT_OK(WriteParquet(root.Child("more/" + PartName(3)), *batch));
  ASSERT_OK(EnsureErrorsTable(root.Child("more")));
  ASSERT_OK_AND_ASSIGN(parts, ListParts(root.Child("more")));
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(PartIndex(parts[0].path), 3);
}

}  // namespace
}  // namespace orchard::table
