// Reading helpers shared by the table readers of this folder (tables.cc, predictions.cc);
// not for use outside table/.
#pragma once

#include <arrow/type_fwd.h>

#include <memory>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::table::internal {

/// The whole Parquet file, chunks combined; a failure names the file.
Result<std::shared_ptr<arrow::Table>> ReadTable(const io::Location& location);

/// A string column, made valid UTF-8 (util::ValidUtf8); fails, naming the file, when the
/// column is missing or not of strings.
Result<std::vector<std::string>> ReadStrings(const arrow::Table& table, const char* column,
                                             const io::Location& location);

}  // namespace orchard::table::internal
