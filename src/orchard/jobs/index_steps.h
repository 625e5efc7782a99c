// The steps of the index, search and dedup jobs (index_job.h), shared by the one-process
// jobs (index_job.cc) and their drivers for a distributed front end (index_driver.h), so
// that both read, check, prepare and write the same way. Not for use outside jobs/.
#pragma once

#include <arrow/api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchard/index/index_files.h"
#include "orchard/index/vector_index.h"
#include "orchard/jobs/index_job.h"
#include "orchard/jobs/locations.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"
#include "orchard/util/stopwatch.h"

namespace orchard::jobs::index_steps {

/// The folder a distributed job stages its tasks' files in, inside its result folder
/// (removed when the job finishes; a result folder holding only it is taken as empty).
inline constexpr const char* kStagingFolder = "_staging";

Status CheckOn(const std::string& on);
Status CheckK(int64_t k);

/// Every part of OUT/`on` in one VectorRows; refuses an empty table.
Result<table::VectorRows> ReadVectors(const io::Location& output, const std::string& on,
                                      int threads);
/// The parts of OUT/`on`, in part order.
Result<std::vector<io::Location>> VectorParts(const io::Location& output, const std::string& on);

/// The models an output's vectors come from: the backbone's sha256 (report/summary.json)
/// and, for pca vectors, the sha256 and text of pca_model/model.json.
struct VectorOrigin {
  std::string backbone_sha256;
  std::string pca_sha256;
  std::string pca_text;
};
Result<VectorOrigin> OriginOf(const io::Location& output, const std::string& on);
VectorOrigin OriginOf(const index::IndexManifest& manifest);
/// Refuses vectors of one model searched in an index (or output) of another, naming both.
Status CheckSameOrigin(const VectorOrigin& index_origin, const VectorOrigin& query_origin,
                       const std::string& index_name, const std::string& query_name);

/// Rows that can be indexed or searched, as unit vectors, and those that cannot.
struct PreparedRows {
  table::VectorRows kept;  ///< paths, labels, unit values
  std::vector<table::ErrorRecord> skipped;
};
PreparedRows Prepare(table::VectorRows rows, const std::string& stage);

/// A result folder (INDEX_DIR, NN, DUP) is refused when it already holds `marker` unless
/// `overwrite`; a folder of anything else (but a staging folder) is never written into.
/// A staging folder an interrupted distributed job left there is removed.
Status CheckResultFolder(const io::Location& folder, const char* marker, bool overwrite);

Status WriteSkipped(const io::Location& location, const std::vector<table::ErrorRecord>& rows);

Result<index::LoadedIndex> LoadIndexAt(const std::string& index_dir,
                                       const io::StorageOptions& storage);

/// A table of the given string, int64 and float columns, in the order added.
class TableBuilder {
 public:
  explicit TableBuilder(int64_t rows) : rows_(rows) {}
  template <typename Builder, typename Values>
  Status Add(const std::string& name, const std::shared_ptr<arrow::DataType>& type,
             const Values& values) {
    Builder builder;
    ORCHARD_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values.size())));
    for (const auto& value : values) ORCHARD_RETURN_NOT_OK(builder.Append(value));
    std::shared_ptr<arrow::Array> array;
    ORCHARD_RETURN_NOT_OK(builder.Finish(&array));
    fields_.push_back(arrow::field(name, type, /*nullable=*/false));
    arrays_.push_back(std::move(array));
    return Status::OK();
  }
  Status Strings(const std::string& name, const std::vector<std::string>& values) {
    return Add<arrow::StringBuilder>(name, arrow::utf8(), values);
  }
  Status Int64s(const std::string& name, const std::vector<int64_t>& values) {
    return Add<arrow::Int64Builder>(name, arrow::int64(), values);
  }
  Status Floats(const std::string& name, const std::vector<float>& values) {
    return Add<arrow::FloatBuilder>(name, arrow::float32(), values);
  }
  std::shared_ptr<arrow::RecordBatch> Batch() const {
    return arrow::RecordBatch::Make(arrow::schema(fields_), rows_, arrays_);
  }
  Status Write(const io::Location& location) const {
    return table::WriteParquet(location, *Batch());
  }

 private:
  int64_t rows_;
  std::vector<std::shared_ptr<arrow::Field>> fields_;
  std::vector<std::shared_ptr<arrow::Array>> arrays_;
};

// ---------------------------------------------------------------------------- index
/// What `index` has read and checked before it builds.
struct IndexInputs {
  JobLocations where;
  VectorOrigin origin;
  PreparedRows prepared;
  index::IndexMetrics metrics;  ///< filled as the job goes
  index::BuildOptions build;    ///< threads resolved
  util::Clock::time_point start;
};
/// Checks the options and the result folder, reads and prepares OUT's vectors.
Result<IndexInputs> BeginIndex(const IndexJobOptions& options);
/// Writes INDEX_DIR from the built index (metrics.build filled): every file, then the
/// manifest naming their checksums, last.
Result<index::IndexMetrics> WriteIndexDir(const IndexJobOptions& options, IndexInputs* inputs,
                                          const index::VectorIndex& vectors);

// --------------------------------------------------------------------------- search
/// What batch search has loaded and checked before it searches.
struct SearchInputs {
  JobLocations where;
  std::optional<index::LoadedIndex> loaded;  ///< set by BeginSearch
  int threads = 1;
  util::Clock::time_point start;
};
Result<SearchInputs> BeginSearch(const SearchJobOptions& options);
/// The neighbours table of `queries` (path, label, rank, neighbour_path, neighbour_label,
/// distance), `found` their k nearest rows of `index_rows`.
Result<std::shared_ptr<arrow::RecordBatch>> NeighboursBatch(const table::VectorRows& queries,
                                                            const table::VectorRows& index_rows,
                                                            const index::Neighbours& found);
/// NN/summary.json of a batch search of `rows` rows (`skipped` could not be searched).
Result<NeighbourJobSummary> FinishSearch(const SearchJobOptions& options,
                                         const SearchInputs& inputs, int64_t rows, int64_t skipped);

// ---------------------------------------------------------------------------- dedup
/// What dedup has read and checked before it searches: the rows searched (input's) and
/// the rows indexed (input's, or against's with --against).
struct DedupInputs {
  JobLocations where;
  io::Location against;  ///< with --against
  bool across = false;
  PreparedRows input;
  PreparedRows other;  ///< against's rows (across only)
  index::BuildOptions build;
  int threads = 1;
  NeighbourJobSummary summary;  ///< filled as the job goes
  util::Clock::time_point start;
  /// The rows the index is built of.
  const PreparedRows& indexed() const { return across ? other : input; }
  /// Neighbours searched per row of input.
  int64_t k(const DedupJobOptions& options) const { return across ? 1 : options.k; }
};
Result<DedupInputs> BeginDedup(const DedupJobOptions& options);
/// From the neighbours of every kept row of input among the indexed rows: the groups
/// (duplicates.parquet) or matches (matches.parquet), errors.parquet, summary.json.
Result<NeighbourJobSummary> FinishDedup(const DedupJobOptions& options, DedupInputs* inputs,
                                        const std::string& index_kind,
                                        const index::Neighbours& found);

}  // namespace orchard::jobs::index_steps
