#include "orchard/pipeline/update.h"

#include <cmath>
#include <utility>

#include "orchard/pca/pca.h"
#include "orchard/pipeline/part_writer.h"
#include "orchard/table/parquet_reader.h"

namespace orchard::pipeline {
namespace {

// An image is unchanged when everything that makes its row is: where it is read from, its
// size and modification time (the job fingerprint's identity), and its label.
bool SameImage(const ImageItem& a, const ImageItem& b) {
  return a.path == b.path && a.size == b.size && a.mtime_ns == b.mtime_ns && a.label == b.label &&
         a.source == b.source && a.source_in_fs == b.source_in_fs &&
         a.member_offset == b.member_offset;
}

// A read can fail for a while (a throttled store, a file being copied): its row is not kept.
bool IsTransient(const OutputRow& row) { return !row.has_features && row.error.stage == "read"; }

// The next row of `rows` whose path is not before `path` (rows before it are skipped: images
// the new listing no longer has), or nullptr at the end.
Result<const OutputRow*> SeekTo(OutputRows* rows, const OutputRow* current,
                                const std::string& path) {
  while (current != nullptr && current->item.path < path) {
    ORCHARD_ASSIGN_OR_RAISE(current, rows->Next());
  }
  return current;
}

}  // namespace

Result<std::unique_ptr<OutputRows>> OutputRows::Open(const io::Location& listing,
                                                     const io::Location& features_dir,
                                                     const io::Location& errors_dir,
                                                     bool with_features) {
  std::unique_ptr<OutputRows> rows(new OutputRows());
  rows->with_features_ = with_features;
  ORCHARD_ASSIGN_OR_RAISE(rows->info_, ReadListingInfo(listing));
  rows->features_dir_ = features_dir;
  rows->errors_dir_ = errors_dir;
  ORCHARD_ASSIGN_OR_RAISE(auto reader, ListingReader::Open(listing, rows->info_.records_begin,
                                                           rows->info_.records_end));
  rows->reader_ = std::make_unique<ListingReader>(std::move(reader));
  return rows;
}

Status OutputRows::LoadPart() {
  part_.clear();
  next_row_ = 0;
  ORCHARD_ASSIGN_OR_RAISE(auto items, reader_->Next(info_.rows_per_part));
  if (items.empty()) return Status::OK();
  const std::string name = table::PartName(next_part_++);
  const io::Location features = features_dir_.Child(name);
  const io::Location errors = errors_dir_.Child(name);
  auto mismatch = [&](const std::string& why) {
    return Status::Invalid("'", features.display, "' does not hold its part of the output's ",
                           "listing (", why, "): rerun without --update (with --overwrite)");
  };
  table::VectorRows rows;
  if (with_features_) {
    ORCHARD_ASSIGN_OR_RAISE(rows, table::ReadVectorFile(features, table::kFeaturesColumn));
  } else {
    ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(features));
    ORCHARD_ASSIGN_OR_RAISE(auto paths, reader->ReadColumn(table::kPathColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto labels, reader->ReadColumn(table::kLabelColumn));
    rows.paths = table::ValidStrings(*paths);
    rows.labels = table::ValidStrings(*labels);
    if (rows.paths.size() != rows.labels.size()) return mismatch("a damaged table");
  }
  if (with_features_ && rows.num_rows() > 0) {
    if (dim_ == 0) dim_ = rows.dim;
    if (rows.dim != dim_) return mismatch("its features are " + std::to_string(rows.dim) + "-d");
  }
  std::vector<table::ErrorRecord> records;
  ORCHARD_ASSIGN_OR_RAISE(const bool has_errors, io::FileExists(errors));
  if (has_errors) {
    ORCHARD_ASSIGN_OR_RAISE(records, table::ReadErrorsFile(errors));
  }
  auto matched =
      MatchPartRows(items.data(), static_cast<int64_t>(items.size()), rows, std::move(records));
  if (!matched.ok()) return mismatch(matched.status().message());
  for (size_t idx = 0; idx < items.size(); ++idx) {
    PartRow& match = (*matched)[idx];
    OutputRow out;
    if (match.features_row >= 0) {
      if (with_features_) {
        const auto begin = rows.values.begin() + match.features_row * rows.dim;
        out.features.assign(begin, begin + rows.dim);
        for (const float value : out.features) {
          if (!std::isfinite(value)) return mismatch("a non-finite value");
        }
      }
      out.has_features = true;
    } else {
      out.error = std::move(match.error);
    }
    out.item = std::move(items[idx]);
    part_.push_back(std::move(out));
  }
  return Status::OK();
}

Result<const OutputRow*> OutputRows::Next() {
  if (next_row_ == part_.size()) {
    ORCHARD_RETURN_NOT_OK(LoadPart());
    if (part_.empty()) return nullptr;
  }
  return &part_[next_row_++];
}

Result<UpdateCounts> PlanUpdate(const ListingRange& new_listing, OutputRows* old_rows,
                                ListingWriter* to_featurize) {
  ORCHARD_ASSIGN_OR_RAISE(
      auto reader, ListingReader::Open(new_listing.file, new_listing.begin, new_listing.end));
  UpdateCounts counts;
  int64_t old_seen = 0;  // old rows passed (kept or skipped)
  ORCHARD_ASSIGN_OR_RAISE(const OutputRow* old, old_rows->Next());
  int64_t read = 0;
  while (true) {
    ORCHARD_ASSIGN_OR_RAISE(auto items, reader.Next(kShardWindowItems));
    if (items.empty()) break;
    read += static_cast<int64_t>(items.size());
    for (auto& item : items) {
      while (old != nullptr && old->item.path < item.path) {
        ++counts.removed;
        ++old_seen;
        ORCHARD_ASSIGN_OR_RAISE(old, old_rows->Next());
      }
      const bool same_path = old != nullptr && old->item.path == item.path;
      if (!same_path) {
        ++counts.added;
      } else if (!SameImage(old->item, item)) {
        ++counts.changed;
      } else if (IsTransient(*old)) {
        ++counts.retried;
      } else {
        ++counts.reused;
      }
      // The listing's own error rows are made again (no byte is read for them).
      const bool featurize = !same_path || !SameImage(old->item, item) || IsTransient(*old) ||
                             !item.listing_error.empty();
      if (same_path) {
        ++old_seen;
        ORCHARD_ASSIGN_OR_RAISE(old, old_rows->Next());
      }
      if (featurize) ORCHARD_RETURN_NOT_OK(to_featurize->Add(std::move(item)));
    }
  }
  if (read != new_listing.num_items) {
    return Status::IOError("the job's listing '", new_listing.file.display, "' holds ", read,
                           " images, not ", new_listing.num_items);
  }
  while (old != nullptr) {
    ++counts.removed;
    ++old_seen;
    ORCHARD_ASSIGN_OR_RAISE(old, old_rows->Next());
  }
  if (old_seen != old_rows->num_items()) {
    return Status::Invalid("the output's listing holds ", old_seen, " images, not the ",
                           old_rows->num_items(), " it says: rerun without --update");
  }
  return counts;
}

Result<ShardOutcome> AssembleUpdate(const ListingRange& new_listing, int64_t rows_per_part,
                                    int64_t dim, OutputRows* old_rows, OutputRows* featurized,
                                    const io::Location& features_dir,
                                    const io::Location& errors_dir) {
  ORCHARD_ASSIGN_OR_RAISE(
      auto reader, ListingReader::Open(new_listing.file, new_listing.begin, new_listing.end));
  ShardOutcome outcome;
  ORCHARD_ASSIGN_OR_RAISE(const OutputRow* old, old_rows->Next());
  ORCHARD_ASSIGN_OR_RAISE(const OutputRow* fresh, featurized->Next());
  for (int64_t part = 0;; ++part) {
    ORCHARD_ASSIGN_OR_RAISE(auto items, reader.Next(rows_per_part));
    if (items.empty()) break;
    table::VectorRows rows;
    rows.dim = dim;
    std::vector<table::ErrorRecord> errors;
    for (const auto& item : items) {
      ORCHARD_ASSIGN_OR_RAISE(fresh, SeekTo(featurized, fresh, item.path));
      ORCHARD_ASSIGN_OR_RAISE(old, SeekTo(old_rows, old, item.path));
      const OutputRow* row = nullptr;
      if (fresh != nullptr && fresh->item.path == item.path) {
        row = fresh;
      } else if (old != nullptr && old->item.path == item.path) {
        row = old;
      } else {
        return Status::Invalid("internal: no row for '", item.path, "' in the update");
      }
      if (row->has_features) {
        if (static_cast<int64_t>(row->features.size()) != dim) {
          return Status::Invalid("the output's features are ", row->features.size(),
                                 "-d but the model gives ", dim,
                                 ": an update keeps the model; rerun with --overwrite");
        }
        rows.paths.push_back(item.path);
        rows.labels.push_back(item.label);
        rows.values.insert(rows.values.end(), row->features.begin(), row->features.end());
      } else {
        errors.push_back(row->error);
      }
    }
    ORCHARD_RETURN_NOT_OK(
        WritePartFiles(features_dir, errors_dir, table::PartName(part), rows, errors));
    if (rows.num_rows() > 0) {
      pca::PcaStats stats(dim);
      stats.Add(rows.values.data(), rows.num_rows());
      ORCHARD_RETURN_NOT_OK(outcome.pca.Merge(stats));
    }
    outcome.stats.ok += rows.num_rows();
    outcome.stats.failed += static_cast<int64_t>(errors.size());
    ++outcome.stats.parts_written;
  }
  outcome.stats.dim = dim;
  return outcome;
}

}  // namespace orchard::pipeline
