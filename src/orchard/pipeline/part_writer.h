// The writer stage of featurize: collects the embedded rows of one part at a time and
// writes the part's files (pipeline/featurize.cc runs it on the writer thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/listing.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// A batch after the model.
struct EmbeddedBatch {
  int64_t batch_idx = 0;
  std::vector<int64_t> item_indices;  ///< images embedded, in order
  std::vector<float> features;        ///< item_indices.size() x dim
  std::vector<table::ErrorRecord> errors;
};

struct PartWriterOptions {
  int64_t dim = 0;               ///< feature dimension
  int64_t first_part_index = 0;  ///< local part p is written as part first_part_index + p
  bool compute_pca_stats = false;
  /// See FeaturizeOptions::on_part_stats.
  std::function<Status(int64_t, pca::PcaStats)> on_part_stats;
  /// Called once per error row, as its batch is added.
  std::function<void(const table::ErrorRecord&)> on_error;
};

/// Writes the files of one part named `name` into `features_dir` and `errors_dir`: its
/// errors file only when `errors` is not empty, and before its features file, since an
/// existing features file says its part is complete (the resume marker). Every writer of
/// parts goes through here (PartWriter, `run --update`'s AssembleUpdate).
Status WritePartFiles(const io::Location& features_dir, const io::Location& errors_dir,
                      const std::string& name, const table::VectorRows& rows,
                      const std::vector<table::ErrorRecord>& errors);

/// Writes part files from batches that arrive in part order. A part's errors file is
/// written only when the part has error rows, and before its features file: an existing
/// features file says its part is complete (the resume marker). Not thread-safe: one
/// writer thread owns it. Holds references to `items` and the folders.
class PartWriter {
 public:
  PartWriter(const std::vector<ImageItem>& items, const io::Location& features_dir,
             const io::Location& errors_dir, PartWriterOptions options);

  /// Adds `batch`, which belongs to local part `part_idx` (never less than the previous
  /// batch's); when the part changes, the previous part is written first. Fails on a
  /// storage error (the batch is then not added).
  Status Add(int64_t part_idx, EmbeddedBatch batch);
  /// Writes the part in progress, if any.
  Status Finish();

  int64_t rows_done() const { return done_; }  ///< images added, ok or failed
  int64_t rows_failed() const { return failed_; }
  int64_t parts_written() const { return parts_written_; }
  double write_seconds() const { return write_seconds_; }
  /// Statistics of the written features rows (compute_pca_stats only), merged in part order.
  const pca::PcaStats& pca() const { return pca_; }

 private:
  Status FlushPart();

  const std::vector<ImageItem>& items_;
  const io::Location& features_dir_;
  const io::Location& errors_dir_;
  PartWriterOptions options_;
  table::VectorRows part_rows_;
  std::vector<table::ErrorRecord> part_errors_;
  int64_t current_part_ = -1;
  int64_t done_ = 0;
  int64_t failed_ = 0;
  int64_t parts_written_ = 0;
  double write_seconds_ = 0;
  pca::PcaStats pca_;
};

}  // namespace orchard::pipeline
