#include "orchard/pipeline/part_writer.h"

#include <chrono>
#include <string>
#include <utility>

namespace orchard::pipeline {

Status WritePartFiles(const io::Location& features_dir, const io::Location& errors_dir,
                      const std::string& name, const table::VectorRows& rows,
                      const std::vector<table::ErrorRecord>& errors) {
  if (!errors.empty()) {
    ORCHARD_ASSIGN_OR_RAISE(auto batch, table::MakeErrorsBatch(errors));
    ORCHARD_RETURN_NOT_OK(table::WriteParquet(errors_dir.Child(name), *batch));
  }
  // The features file last: its presence says the part is complete.
  ORCHARD_ASSIGN_OR_RAISE(auto batch, table::MakeVectorBatch(table::kFeaturesColumn, rows));
  return table::WriteParquet(features_dir.Child(name), *batch);
}

PartWriter::PartWriter(const std::vector<ImageItem>& items, const io::Location& features_dir,
                       const io::Location& errors_dir, PartWriterOptions options)
    : items_(items),
      features_dir_(features_dir),
      errors_dir_(errors_dir),
      options_(std::move(options)) {
  part_rows_.dim = options_.dim;
}

Status PartWriter::Add(int64_t part_idx, EmbeddedBatch batch) {
  if (part_idx != current_part_) {
    ORCHARD_RETURN_NOT_OK(FlushPart());
    current_part_ = part_idx;
  }
  for (const int64_t item_idx : batch.item_indices) {
    const auto& item = items_[static_cast<size_t>(item_idx)];
    part_rows_.paths.push_back(item.path);
    part_rows_.labels.push_back(item.label);
  }
  part_rows_.values.insert(part_rows_.values.end(), batch.features.begin(), batch.features.end());
  for (auto& error : batch.errors) {
    if (options_.on_error) options_.on_error(error);
    part_errors_.push_back(std::move(error));
  }
  done_ += static_cast<int64_t>(batch.item_indices.size() + batch.errors.size());
  failed_ += static_cast<int64_t>(batch.errors.size());
  return Status::OK();
}

Status PartWriter::Finish() { return FlushPart(); }

Status PartWriter::FlushPart() {
  if (current_part_ < 0) return Status::OK();
  const auto write_start = std::chrono::steady_clock::now();
  ORCHARD_RETURN_NOT_OK(WritePartFiles(features_dir_, errors_dir_,
                                       table::PartName(options_.first_part_index + current_part_),
                                       part_rows_, part_errors_));
  write_seconds_ +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count();
  if (options_.compute_pca_stats && part_rows_.num_rows() > 0) {
    pca::PcaStats part_stats(options_.dim);
    part_stats.Add(part_rows_.values.data(), part_rows_.num_rows());
    if (options_.on_part_stats) {
      ORCHARD_RETURN_NOT_OK(
          options_.on_part_stats(options_.first_part_index + current_part_, std::move(part_stats)));
    } else {
      ORCHARD_RETURN_NOT_OK(pca_.Merge(part_stats));
    }
  }
  part_rows_ = table::VectorRows{};
  part_rows_.dim = options_.dim;
  part_errors_.clear();
  current_part_ = -1;
  ++parts_written_;
  return Status::OK();
}

}  // namespace orchard::pipeline
