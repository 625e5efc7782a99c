#include "orchard/pipeline/shard.h"

#include <arrow/filesystem/filesystem.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/table/tables.h"
#include "orchard/util/little_endian.h"
#include "orchard/util/parallel_for.h"
#include "orchard/util/sha256.h"

namespace orchard::pipeline {

Result<std::vector<PartRow>> MatchPartRows(const ImageItem* part_items, int64_t num_items,
                                           const table::VectorRows& rows,
                                           std::vector<table::ErrorRecord> errors) {
  std::multimap<std::string, table::ErrorRecord> failed;
  for (auto& record : errors) {
    std::string path = record.path;
    failed.emplace(std::move(path), std::move(record));
  }
  std::vector<PartRow> matched(static_cast<size_t>(num_items));
  // Every image of the part is a features row (in listing order) or an error row, once.
  int64_t row = 0;
  for (int64_t idx = 0; idx < num_items; ++idx) {
    const ImageItem& item = part_items[idx];
    PartRow& out = matched[static_cast<size_t>(idx)];
    if (row < rows.num_rows() && rows.paths[static_cast<size_t>(row)] == item.path) {
      if (rows.labels[static_cast<size_t>(row)] != item.label) {
        return Status::Invalid("its row for '", item.path, "' has another label");
      }
      out.features_row = row++;
      continue;
    }
    auto found = failed.find(item.path);
    if (found == failed.end()) {
      return Status::Invalid("it has no row for '", item.path, "' of the listing");
    }
    out.error = std::move(found->second);
    failed.erase(found);
  }
  if (row != rows.num_rows() || !failed.empty()) {
    return Status::Invalid("it holds rows for images that are not its part of the listing");
  }
  return matched;
}

namespace {

// What a staged part that can be reused holds: its features rows and its error rows.
struct ReusablePart {
  int64_t ok = 0;
  int64_t failed = 0;
};

// Why the staged features part `features` (holding part `part_items` of the listing, whose
// failures are in `errors` if that exists) cannot be reused; its row counts when it can.
Result<ReusablePart> CheckReusablePart(const ImageItem* part_items, int64_t num_items,
                                       const io::Location& features, const io::Location& errors,
                                       int64_t dim) {
  ORCHARD_ASSIGN_OR_RAISE(auto rows, table::ReadVectorFile(features, table::kFeaturesColumn));
  if (rows.num_rows() > 0 && rows.dim != dim) {
    return Status::Invalid("it holds ", rows.dim, "-d features; the model gives ", dim);
  }
  for (const float value : rows.values) {
    if (!std::isfinite(value)) return Status::Invalid("it holds a non-finite feature value");
  }
  std::vector<table::ErrorRecord> records;
  ORCHARD_ASSIGN_OR_RAISE(bool has_errors, io::FileExists(errors));
  if (has_errors) {
    ORCHARD_ASSIGN_OR_RAISE(records, table::ReadErrorsFile(errors));
    for (const auto& record : records) {
      // A read that failed may not fail again (a throttled or briefly unreachable store, a
      // file being copied): its part is featurized again rather than its error kept.
      if (record.stage == "read") {
        return Status::Invalid("reading '", record.path, "' failed (", record.message,
                               "); it is read again");
      }
    }
  }
  const auto num_failed = static_cast<int64_t>(records.size());
  ORCHARD_RETURN_NOT_OK(MatchPartRows(part_items, num_items, rows, std::move(records)).status());
  return ReusablePart{rows.num_rows(), num_failed};
}

// The PCA statistics of a features part, as the part writer computes them for the parts it
// writes (all rows added at once), so that a reused part sums exactly as a written one.
Result<pca::PcaStats> StatsOfPart(const io::Location& part) {
  ORCHARD_ASSIGN_OR_RAISE(auto rows, table::ReadVectorFile(part, table::kFeaturesColumn));
  pca::PcaStats stats(rows.dim);
  stats.Add(rows.values.data(), rows.num_rows());
  return stats;
}

}  // namespace

namespace {

// The counts of FeaturizeStats that add up, in their serialized order.
constexpr int64_t FeaturizeStats::*kCountFields[] = {
    &FeaturizeStats::images,        &FeaturizeStats::ok,           &FeaturizeStats::failed,
    &FeaturizeStats::parts_written, &FeaturizeStats::parts_reused, &FeaturizeStats::images_reused};
constexpr double FeaturizeStats::*kSecondsFields[] = {
    &FeaturizeStats::read_seconds, &FeaturizeStats::decode_seconds, &FeaturizeStats::embed_seconds,
    &FeaturizeStats::write_seconds};
constexpr std::string_view kOutcomeMagic = "orchard-shard-outcome-1\n";

}  // namespace

Status MergeOutcome(const ShardOutcome& other, ShardOutcome* into) {
  for (const auto field : kCountFields) into->stats.*field += other.stats.*field;
  for (const auto field : kSecondsFields) into->stats.*field += other.stats.*field;
  into->stats.wall_seconds = std::max(into->stats.wall_seconds, other.stats.wall_seconds);
  if (into->stats.dim == 0) into->stats.dim = other.stats.dim;
  return into->pca.Merge(other.pca);
}

std::string SerializeOutcome(const ShardOutcome& outcome) {
  std::string out(kOutcomeMagic);
  for (const auto field : kCountFields) util::PutLittle<int64_t>(&out, outcome.stats.*field);
  for (const auto field : kSecondsFields) util::PutLittle<double>(&out, outcome.stats.*field);
  util::PutLittle<double>(&out, outcome.stats.wall_seconds);
  util::PutLittle<int64_t>(&out, outcome.stats.dim);
  out += outcome.pca.Serialize();
  return out;
}

Result<ShardOutcome> DeserializeOutcome(const std::string& bytes) {
  std::string_view in(bytes);
  const auto bad = [] { return Status::Invalid("a shard outcome that orchard did not encode"); };
  if (in.substr(0, kOutcomeMagic.size()) != kOutcomeMagic) return bad();
  in.remove_prefix(kOutcomeMagic.size());
  ShardOutcome outcome;
  for (const auto field : kCountFields) {
    if (!util::TakeLittle(&in, &(outcome.stats.*field))) return bad();
  }
  for (const auto field : kSecondsFields) {
    if (!util::TakeLittle(&in, &(outcome.stats.*field))) return bad();
  }
  if (!util::TakeLittle(&in, &outcome.stats.wall_seconds) ||
      !util::TakeLittle(&in, &outcome.stats.dim))
    return bad();
  ORCHARD_ASSIGN_OR_RAISE(outcome.pca, pca::PcaStats::Deserialize(std::string(in)));
  return outcome;
}

namespace {

// A shard's items, window by window: up to `max_items` next items of its listing.
using NextItems = std::function<Result<std::vector<ImageItem>>(int64_t max_items)>;

// Adds the counts and seconds of a window featurized after the others (wall seconds too).
void AddWindow(const FeaturizeStats& window, FeaturizeStats* into) {
  for (const auto field : kCountFields) into->*field += window.*field;
  for (const auto field : kSecondsFields) into->*field += window.*field;
  into->wall_seconds += window.wall_seconds;
  if (into->dim == 0) into->dim = window.dim;
}

Result<ShardOutcome> FeaturizeWindows(const NextItems& next_items, int64_t num_items,
                                      const io::Location& input_root,
                                      const model::Embedder& embedder, const io::Location& staging,
                                      FeaturizeOptions options, int threads) {
  const io::Location features_dir = staging.Child(output::kFeaturesDir);
  const io::Location errors_dir = staging.Child(output::kErrorsDir);
  const int64_t rows_per_part = EffectiveRowsPerPart(options);
  const int64_t num_parts = (num_items + rows_per_part - 1) / rows_per_part;
  const int64_t first = options.first_part_index;
  const int64_t dim = embedder.info().output_dim;
  // Whole parts at a time, so only a window of the shard's items is ever in memory.
  const int64_t parts_per_window = std::max<int64_t>(1, kShardWindowItems / rows_per_part);

  // Parts of this shard already complete (an interrupted run, an earlier task attempt),
  // each proven to be this shard's part before it is reused.
  std::set<int64_t> staged;         // local part indices
  std::set<int64_t> staged_errors;  // local part indices with an errors file
  ORCHARD_ASSIGN_OR_RAISE(auto existing, table::ListParts(features_dir));
  for (const auto& part : existing) {
    const int64_t index = table::PartIndex(part.path);
    if (index >= first && index < first + num_parts) staged.insert(index - first);
  }
  ORCHARD_ASSIGN_OR_RAISE(auto existing_errors, table::ListParts(errors_dir));
  for (const auto& part : existing_errors) {
    const int64_t index = table::PartIndex(part.path);
    if (index >= first && index < first + num_parts) staged_errors.insert(index - first);
  }

  ShardOutcome outcome;
  ReusablePart reused;
  int64_t items_read = 0;
  // The progress of earlier windows, so that the caller sees one count for the shard.
  int64_t done_before = 0, failed_before = 0, done_now = 0, failed_now = 0;
  const auto on_progress = options.on_progress;
  if (on_progress) {
    options.on_progress = [&](int64_t done, int64_t failed) {
      done_now = done;
      failed_now = failed;
      on_progress(done_before + done, failed_before + failed);
    };
  }
  for (int64_t window_part = 0; window_part < num_parts; window_part += parts_per_window) {
    const int64_t want = std::min(parts_per_window * rows_per_part, num_items - items_read);
    ORCHARD_ASSIGN_OR_RAISE(auto items, next_items(want));
    if (static_cast<int64_t>(items.size()) != want) {
      return Status::IOError("the shard's listing ended after ", items_read + items.size(),
                             " of its ", num_items, " images");
    }
    items_read += want;
    const int64_t window_parts = (want + rows_per_part - 1) / rows_per_part;
    const int64_t window_first = first + window_part;

    // Checked `threads` parts at a time; only their counts are kept (one part's statistics
    // are a dim x dim matrix, 13 MB at 1,280): the statistics are read again below, in part
    // order, so memory stays bounded by the threads, not by how many parts are reused.
    std::vector<int64_t> window_staged;  // window-local part indices
    for (auto it = staged.lower_bound(window_part);
         it != staged.end() && *it < window_part + window_parts; ++it) {
      window_staged.push_back(*it - window_part);
    }
    std::set<int64_t> skip_parts;  // window-local
    const size_t chunk = static_cast<size_t>(std::max(1, threads));
    for (size_t chunk_start = 0; chunk_start < window_staged.size(); chunk_start += chunk) {
      const size_t chunk_size = std::min(chunk, window_staged.size() - chunk_start);
      std::vector<Result<ReusablePart>> checked(chunk_size, ReusablePart{});
      ORCHARD_RETURN_NOT_OK(ParallelFor(chunk_size, threads, [&](size_t offset) -> Status {
        const int64_t local = window_staged[chunk_start + offset];
        const int64_t begin = local * rows_per_part;
        const int64_t count = std::min(rows_per_part, want - begin);
        checked[offset] = CheckReusablePart(
            items.data() + begin, count, features_dir.Child(table::PartName(window_first + local)),
            errors_dir.Child(table::PartName(window_first + local)), dim);
        return Status::OK();
      }));
      for (size_t offset = 0; offset < chunk_size; ++offset) {
        const int64_t local = window_staged[chunk_start + offset];
        if (checked[offset].ok()) {
          skip_parts.insert(local);
          reused.ok += checked[offset]->ok;
          reused.failed += checked[offset]->failed;
          continue;
        }
        const io::Location part = features_dir.Child(table::PartName(window_first + local));
        if (options.on_warning) {
          options.on_warning("staged part '" + part.display + "' is not reused (" +
                             checked[offset].status().message() + "): it is featurized again");
        }
        ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(part));
      }
    }
    // A part featurized again writes its errors file only when it has failures: an errors
    // file left by an earlier attempt of it must not survive beside the new rows.
    for (auto it = staged_errors.lower_bound(window_part);
         it != staged_errors.end() && *it < window_part + window_parts; ++it) {
      if (skip_parts.count(*it - window_part) == 0) {
        ORCHARD_RETURN_NOT_OK(
            io::DeleteTreeIfExists(errors_dir.Child(table::PartName(first + *it))));
      }
    }

    // The statistics of every part, written or reused, merged in part order: a resumed or
    // retried shard sums exactly as a fresh one, and its PCA is byte-identical.
    int64_t next_part = 0;  // the first window-local part not merged yet
    auto merge_reused_before = [&](int64_t end) -> Status {
      for (; next_part < end; ++next_part) {
        if (skip_parts.count(next_part) == 0) continue;
        ORCHARD_ASSIGN_OR_RAISE(
            auto stats, StatsOfPart(features_dir.Child(table::PartName(window_first + next_part))));
        if (stats.count() > 0) ORCHARD_RETURN_NOT_OK(outcome.pca.Merge(stats));
      }
      return Status::OK();
    };
    FeaturizeOptions window_options = options;
    window_options.first_part_index = window_first;
    window_options.compute_pca_stats = true;
    window_options.on_part_stats = [&](int64_t part_index, pca::PcaStats stats) -> Status {
      ORCHARD_RETURN_NOT_OK(merge_reused_before(part_index - window_first));
      ++next_part;
      return outcome.pca.Merge(stats);
    };
    ORCHARD_ASSIGN_OR_RAISE(auto stats, Featurize(items, input_root, embedder, features_dir,
                                                  errors_dir, skip_parts, window_options));
    ORCHARD_RETURN_NOT_OK(merge_reused_before(window_parts));
    AddWindow(stats, &outcome.stats);
    done_before += done_now;
    failed_before += failed_now;
    done_now = failed_now = 0;
  }
  outcome.stats.ok += reused.ok;
  outcome.stats.failed += reused.failed;
  return outcome;
}

}  // namespace

Result<ShardOutcome> FeaturizeShard(const std::vector<ImageItem>& items,
                                    const io::Location& input_root, const model::Embedder& embedder,
                                    const io::Location& staging, FeaturizeOptions options,
                                    int threads) {
  size_t next = 0;
  const NextItems next_items = [&](int64_t max_items) -> Result<std::vector<ImageItem>> {
    const size_t count = std::min(items.size() - next, static_cast<size_t>(max_items));
    std::vector<ImageItem> window(items.begin() + static_cast<ptrdiff_t>(next),
                                  items.begin() + static_cast<ptrdiff_t>(next + count));
    next += count;
    return window;
  };
  return FeaturizeWindows(next_items, static_cast<int64_t>(items.size()), input_root, embedder,
                          staging, std::move(options), threads);
}

Result<ShardOutcome> FeaturizeShard(const ListingRange& range, const io::Location& input_root,
                                    const model::Embedder& embedder, const io::Location& staging,
                                    FeaturizeOptions options, int threads) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, ListingReader::Open(range.file, range.begin, range.end));
  const NextItems next_items = [&](int64_t max_items) { return reader.Next(max_items); };
  ORCHARD_ASSIGN_OR_RAISE(
      auto outcome, FeaturizeWindows(next_items, range.num_items, input_root, embedder, staging,
                                     std::move(options), threads));
  ORCHARD_ASSIGN_OR_RAISE(auto rest, reader.Next(1));
  if (!rest.empty()) {
    return Status::IOError("the job's listing '", range.file.display, "' holds more than the ",
                           range.num_items, " images of the shard: rerun the job");
  }
  return outcome;
}

Status RemoveStrayStagedFiles(const io::Location& staging, int64_t num_parts,
                              const std::function<void(const std::string&)>& warn) {
  auto remove = [&](const io::Location& where) -> Status {
    if (warn) {
      warn("removing '" + where.display +
           "' from the interrupted run's staging: it is not a part this job makes");
    }
    return io::DeleteTreeIfExists(where);
  };
  arrow::fs::FileSelector top;
  top.base_dir = staging.path;
  top.allow_not_found = true;
  ORCHARD_ASSIGN_OR_RAISE(auto entries, staging.fs->GetFileInfo(top));
  for (const auto& entry : entries) {
    const std::string name = entry.base_name();
    const io::Location where = staging.Child(name);
    if (name == output::kJobFingerprintFile) continue;
    if (name != output::kFeaturesDir && name != output::kErrorsDir) {
      // The PCA, projection and report are always made anew: nothing of theirs is kept.
      ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(where));
      continue;
    }
    arrow::fs::FileSelector below;
    below.base_dir = where.path;
    below.allow_not_found = true;
    ORCHARD_ASSIGN_OR_RAISE(auto files, staging.fs->GetFileInfo(below));
    for (const auto& file : files) {
      const int64_t index = table::PartIndex(file.base_name());
      const bool ours = file.type() == arrow::fs::FileType::File && index >= 0 && index < num_parts;
      if (!ours) ORCHARD_RETURN_NOT_OK(remove(where.Child(file.base_name())));
    }
  }
  return Status::OK();
}

std::string JobFingerprint(const std::string& identity_digest, int64_t num_items,
                           const std::string& model_sha256, const std::string& output_name,
                           int64_t rows_per_part, int batch_size, int64_t max_pixels,
                           int64_t max_file_bytes) {
  // Version 2: each image is identified by its size and modification time, so a file
  // replaced by another of the same size is featurized again.
  std::string text = "orchard-job-2\n";
  text += "model=" + model_sha256 + " output=" + output_name + "\n";
  text += "rows_per_part=" + std::to_string(rows_per_part) +
          " batch=" + std::to_string(batch_size) + " max_pixels=" + std::to_string(max_pixels) +
          " max_file_bytes=" + std::to_string(max_file_bytes) + "\n";
  text += "listing=" + identity_digest + " count=" + std::to_string(num_items) + "\n";
  return text;
}

std::string JobFingerprint(const std::vector<ImageItem>& items, const std::string& model_sha256,
                           const std::string& output_name, int64_t rows_per_part, int batch_size,
                           int64_t max_pixels, int64_t max_file_bytes) {
  Sha256Stream identity;
  for (const auto& item : items) identity.Update(IdentityLine(item));
  return JobFingerprint(identity.HexDigest(), static_cast<int64_t>(items.size()), model_sha256,
                        output_name, rows_per_part, batch_size, max_pixels, max_file_bytes);
}

Result<pca::PcaStats> StatsOfParts(const std::vector<io::Location>& parts, int threads) {
  // One slot per part, merged in part order afterwards: the same sums whatever the timing.
  std::vector<pca::PcaStats> per_part(parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(parts.size(), threads, [&](size_t part_idx) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(auto rows,
                            table::ReadVectorFile(parts[part_idx], table::kFeaturesColumn));
    if (rows.num_rows() == 0) return Status::OK();
    pca::PcaStats stats(rows.dim);
    stats.Add(rows.values.data(), rows.num_rows());
    per_part[part_idx] = std::move(stats);
    return Status::OK();
  }));
  pca::PcaStats total;
  for (const auto& stats : per_part) ORCHARD_RETURN_NOT_OK(total.Merge(stats));
  return total;
}

Status ProjectParts(const std::vector<io::Location>& feature_parts, const pca::PcaModel& model,
                    const io::Location& pca_dir, int threads) {
  return ParallelFor(feature_parts.size(), threads, [&](size_t part_idx) -> Status {
    const io::Location& part = feature_parts[part_idx];
    ORCHARD_ASSIGN_OR_RAISE(auto rows, table::ReadVectorFile(part, table::kFeaturesColumn));
    if (rows.num_rows() > 0 && rows.dim != model.dim) {
      return Status::Invalid(part.display, " has ", rows.dim,
                             "-d features but the PCA model expects ", model.dim);
    }
    table::VectorRows projected;
    projected.paths = std::move(rows.paths);
    projected.labels = std::move(rows.labels);
    projected.dim = model.k;
    projected.values.resize(static_cast<size_t>(projected.num_rows() * model.k));
    model.Project(rows.values.data(), projected.num_rows(), projected.values.data());
    ORCHARD_ASSIGN_OR_RAISE(auto batch, table::MakeVectorBatch(table::kPcaColumn, projected));
    return table::WriteParquet(pca_dir.Child(part.path.substr(part.path.rfind('/') + 1)), *batch);
  });
}

}  // namespace orchard::pipeline
