// The Parquet tables orchard writes (the output contract, see README "Output") and the
// code that writes and reads them. Everything goes through Arrow; any Parquet reader
// (Spark, pandas, DuckDB) reads the files.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::table {

/// The values of a string column (its type checked by the caller), each made valid UTF-8
/// (util::ValidUtf8) where it is not.
std::vector<std::string> ValidStrings(const arrow::ChunkedArray& strings);

inline constexpr const char* kPathColumn = "path";
inline constexpr const char* kLabelColumn = "label";
inline constexpr const char* kFeaturesColumn = "features";
inline constexpr const char* kPcaColumn = "pca";

/// path string, label string, <vector_column> list<float32>.
std::shared_ptr<arrow::Schema> VectorSchema(const std::string& vector_column);
/// path string, stage string, message string.
std::shared_ptr<arrow::Schema> ErrorsSchema();

/// An input that could not be featurized.
struct ErrorRecord {
  std::string path;
  std::string stage;  // "read", "decode", "embed"
  std::string message;
};

/// Rows of (path, label, vector) held in memory; values is rows x dim, row-major.
struct VectorRows {
  std::vector<std::string> paths;
  std::vector<std::string> labels;
  std::vector<float> values;
  int64_t dim = 0;
  int64_t num_rows() const { return static_cast<int64_t>(paths.size()); }
};

Result<std::shared_ptr<arrow::RecordBatch>> MakeVectorBatch(const std::string& vector_column,
                                                            const VectorRows& rows);
Result<std::shared_ptr<arrow::RecordBatch>> MakeErrorsBatch(const std::vector<ErrorRecord>& errors);

/// Writes one Parquet file from record batches; the file appears only on Close().
class ParquetFileWriter {
 public:
  static Result<std::unique_ptr<ParquetFileWriter>> Make(
      const io::Location& location, const std::shared_ptr<arrow::Schema>& schema);
  ~ParquetFileWriter();
  /// Each call writes one row group.
  Status Write(const arrow::RecordBatch& batch);
  Status Close();

 private:
  struct Impl;
  explicit ParquetFileWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Writes a whole file of one batch.
Status WriteParquet(const io::Location& location, const arrow::RecordBatch& batch);

/// Reads (path, label, vector_column) from one Parquet file. Fails when the column is
/// missing, has nulls, or rows differ in length.
Result<VectorRows> ReadVectorFile(const io::Location& location, const std::string& vector_column);

/// Reads the errors table of one file.
Result<std::vector<ErrorRecord>> ReadErrorsFile(const io::Location& location);

/// The `part-*.parquet` files of a table folder, sorted; empty when the folder is absent.
Result<std::vector<io::Location>> ListParts(const io::Location& folder);

/// "part-00042.parquet"
std::string PartName(int64_t part_idx);
/// The inverse of PartName: 42 for "part-00042.parquet" (or a path ending in it); -1 for a
/// name PartName does not make.
int64_t PartIndex(std::string_view name_or_path);

/// After a featurization: error parts exist only for parts with failed images; when no part
/// failed, writes one empty part (the schema), so readers (Spark, pandas, DuckDB) always
/// find an `errors` table.
Status EnsureErrorsTable(const io::Location& errors_dir);

}  // namespace orchard::table
