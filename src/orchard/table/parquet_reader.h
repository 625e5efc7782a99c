// Reading orchard's Parquet files: one place that opens them (the table readers, the
// report, inspect), so that every failure names the file and no caller needs Parquet's
// headers. Columns are read one at a time, so a caller that needs the labels of a
// features part never reads its 5 KB vectors.
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::table {

/// One Parquet file, open. Not thread-safe: one reader per thread.
class ParquetReader {
 public:
  /// Opens `location` and reads its footer (no data). Fails with "cannot read the Parquet
  /// file '<display>': ..." when it cannot be opened or is not Parquet.
  static Result<std::unique_ptr<ParquetReader>> Open(const io::Location& location);
  ~ParquetReader();

  /// Rows of the file, from the footer.
  int64_t num_rows() const;
  /// The file's Arrow schema.
  const std::shared_ptr<arrow::Schema>& schema() const;
  /// The column `name`; fails naming the file when it has no such column or it cannot be
  /// read.
  Result<std::shared_ptr<arrow::ChunkedArray>> ReadColumn(const std::string& name);
  /// Every column.
  Result<std::shared_ptr<arrow::Table>> ReadTable();

 private:
  struct Impl;
  explicit ParquetReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The row count and schema of one Parquet file (footer only): what `orchard inspect`
/// shows per table.
struct ParquetFileInfo {
  int64_t num_rows = 0;
  std::shared_ptr<arrow::Schema> schema;
};
Result<ParquetFileInfo> ReadParquetFileInfo(const io::Location& location);

}  // namespace orchard::table
