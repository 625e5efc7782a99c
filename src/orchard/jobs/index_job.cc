#include "orchard/jobs/index_job.h"

#include <arrow/api.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <tuple>

#include "orchard/classify/classifier.h"
#include "orchard/classify/metrics.h"
#include "orchard/classify/predict_parts.h"
#include "orchard/image/thumbnail.h"
#include "orchard/index/dedup.h"
#include "orchard/jobs/index_steps.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/model/embedder.h"
#include "orchard/output/layout.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/report/dedup_report.h"
#include "orchard/table/predictions.h"
#include "orchard/table/tables.h"
#include "orchard/util/json_fields.h"
#include "orchard/util/memory.h"
#include "orchard/util/parallel_for.h"
#include "orchard/util/sha256.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::jobs {

using nlohmann::json;
using util::Clock;
using util::SecondsSince;

namespace index_steps {

// pca_model/model.json is small; a larger file is not one orchard wrote.
constexpr int64_t kMaxPcaModelBytes = int64_t{64} << 20;

Status CheckOn(const std::string& on) {
  if (on != table::kPcaColumn && on != table::kFeaturesColumn) {
    return UsageError("--on must be 'pca' or 'features', got '", on, "'");
  }
  return Status::OK();
}

Result<table::VectorRows> ReadVectors(const io::Location& output, const std::string& on,
                                      int threads) {
  const io::Location folder = output.Child(on);
  ORCHARD_ASSIGN_OR_RAISE(auto all, ReadVectorTable(folder, on, threads));
  if (all.num_rows() == 0) {
    return Status::Invalid("no rows in '", folder.display, "': give the output of `orchard run`",
                           on == table::kPcaColumn ? " (or featurize + fit-pca + project)" : "");
  }
  return all;
}

Result<std::vector<io::Location>> VectorParts(const io::Location& output, const std::string& on) {
  return table::ListParts(output.Child(on));
}

Result<VectorOrigin> OriginOf(const io::Location& output, const std::string& on) {
  VectorOrigin origin;
  origin.backbone_sha256 = RecordedModelSha256(output);
  if (on == table::kPcaColumn) {
    const io::Location model_file = output.Child(output::kModelJson);
    auto bytes = io::ReadBounded(model_file, kMaxPcaModelBytes);
    if (!bytes.ok()) {
      return Status::Invalid("cannot read ", model_file.display, " (", bytes.status().message(),
                             "): run `orchard fit-pca` on it, or use --on features");
    }
    origin.pca_text.assign(reinterpret_cast<const char*>((*bytes)->data()),
                           static_cast<size_t>((*bytes)->size()));
    origin.pca_sha256 = Sha256Hex(origin.pca_text);
  }
  return origin;
}

Status CheckSameOrigin(const VectorOrigin& index_origin, const VectorOrigin& query_origin,
                       const std::string& index_name, const std::string& query_name) {
  // An output re-fitted with `orchard fit-pca` keeps no backbone record in its summary
  // (RecordedModelSha256 gives ""): then only the PCA model can be compared.
  const bool backbones_known =
      !index_origin.backbone_sha256.empty() && !query_origin.backbone_sha256.empty();
  if (backbones_known && index_origin.backbone_sha256 != query_origin.backbone_sha256) {
    return Status::Invalid(query_name, " comes from the backbone with sha256 '",
                           query_origin.backbone_sha256, "' but ", index_name,
                           " from the one with sha256 '", index_origin.backbone_sha256,
                           "': featurize both with the same model");
  }
  if (index_origin.pca_sha256 != query_origin.pca_sha256) {
    return Status::Invalid(query_name, " was projected with the PCA model of sha256 '",
                           query_origin.pca_sha256, "' but ", index_name,
                           " with the one of sha256 '", index_origin.pca_sha256,
                           "': project both with the same pca_model, or use --on features");
  }
  return Status::OK();
}

PreparedRows Prepare(table::VectorRows rows, const std::string& stage) {
  PreparedRows out;
  const auto bad = index::UnindexableRows(rows.values.data(), rows.num_rows(), rows.dim);
  out.kept.dim = rows.dim;
  size_t next_bad = 0;
  for (int64_t row = 0; row < rows.num_rows(); ++row) {
    const auto at = static_cast<size_t>(row);
    if (next_bad < bad.size() && bad[next_bad] == row) {
      ++next_bad;
      out.skipped.push_back({rows.paths[at], stage,
                             "the vector has a NaN or infinite value, or is all zeros: it "
                             "cannot be indexed or searched"});
      continue;
    }
    out.kept.paths.push_back(std::move(rows.paths[at]));
    out.kept.labels.push_back(std::move(rows.labels[at]));
    out.kept.values.insert(out.kept.values.end(), rows.values.begin() + row * rows.dim,
                           rows.values.begin() + (row + 1) * rows.dim);
  }
  out.kept.values = index::Normalized(out.kept.values.data(), out.kept.num_rows(), rows.dim);
  return out;
}

// A result folder (INDEX_DIR, NN, DUP) is refused when it already holds `marker` unless
// --overwrite; a folder of anything else is never written into.
Status CheckResultFolder(const io::Location& folder, const char* marker, bool overwrite) {
  ORCHARD_ASSIGN_OR_RAISE(auto info, folder.fs->GetFileInfo(folder.path));
  if (info.type() == arrow::fs::FileType::NotFound) return Status::OK();
  if (info.type() != arrow::fs::FileType::Directory) {
    return UsageError("'", folder.display, "' exists and is not a folder");
  }
  ORCHARD_ASSIGN_OR_RAISE(bool has_marker, io::FileExists(folder.Child(marker)));
  if (has_marker && !overwrite) {
    return UsageError("'", folder.display, "' already holds ", marker,
                      ": use --overwrite to replace it");
  }
  if (!has_marker) {
    arrow::fs::FileSelector selector;
    selector.base_dir = folder.path;
    ORCHARD_ASSIGN_OR_RAISE(auto entries, folder.fs->GetFileInfo(selector));
    // What an interrupted distributed job left is no user's file: it is replaced.
    std::erase_if(entries, [](const arrow::fs::FileInfo& entry) {
      return entry.base_name() == kStagingFolder;
    });
    if (!entries.empty()) {
      return UsageError("'", folder.display, "' is not empty and holds no ", marker,
                        ": give a new folder");
    }
  }
  // A link planted there is removed, never followed (DeleteTreeIfExists).
  return io::DeleteTreeIfExists(folder.Child(kStagingFolder));
}

Status WriteSkipped(const io::Location& location, const std::vector<table::ErrorRecord>& rows) {
  ORCHARD_ASSIGN_OR_RAISE(auto batch, table::MakeErrorsBatch(rows));
  return table::WriteParquet(location, *batch);
}

Status CheckK(int64_t k) {
  if (k < 1 || k > kMaxNeighbours) {
    return UsageError("-k/--neighbours must be in 1..", kMaxNeighbours, ", got ", k);
  }
  return Status::OK();
}

}  // namespace index_steps

using namespace index_steps;  // NOLINT: the steps are this file's own

namespace index_steps {

Result<IndexInputs> BeginIndex(const IndexJobOptions& options) {
  IndexInputs inputs;
  inputs.start = Clock::now();
  ORCHARD_RETURN_NOT_OK(CheckOn(options.on));
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.threads));
  ORCHARD_ASSIGN_OR_RAISE(inputs.where, ResolveJobLocations(options.input, options.output,
                                                            options.storage, /*need_input=*/true));
  ORCHARD_RETURN_NOT_OK(
      CheckResultFolder(inputs.where.output, index::kManifestJson, options.overwrite));
  const int threads = CoreCount(options.threads);

  index::IndexMetrics& metrics = inputs.metrics;
  metrics.orchard_version = kVersion;
  metrics.source = options.input;
  metrics.output = options.output;
  metrics.vectors = options.on;
  metrics.threads = threads;
  const auto read_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(inputs.origin, OriginOf(inputs.where.input, options.on));
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadVectors(inputs.where.input, options.on, threads));
  metrics.rows_read = rows.num_rows();
  inputs.prepared = Prepare(std::move(rows), "index");
  metrics.rows_skipped = static_cast<int64_t>(inputs.prepared.skipped.size());
  metrics.read_seconds = SecondsSince(read_start);
  if (inputs.prepared.kept.num_rows() == 0) {
    return Status::Invalid("no row of '", inputs.where.input.Child(options.on).display,
                           "' can be indexed: every vector has a NaN or infinite value or is "
                           "all zeros");
  }
  inputs.build = options.build;
  inputs.build.threads = threads;
  return inputs;
}

Result<index::IndexMetrics> WriteIndexDir(const IndexJobOptions& options, IndexInputs* inputs,
                                          const index::VectorIndex& vectors) {
  index::IndexMetrics& metrics = inputs->metrics;
  const PreparedRows& prepared = inputs->prepared;
  ORCHARD_ASSIGN_OR_RAISE(auto index_bytes, vectors.Serialize());

  // Every file before the manifest; the manifest, naming their checksums, last.
  const io::Location& dir = inputs->where.output;
  ORCHARD_RETURN_NOT_OK(io::WriteAll(dir.Child(index::kIndexFile), index_bytes));
  ORCHARD_ASSIGN_OR_RAISE(auto rows_batch, index::RowsBatch(prepared.kept));
  ORCHARD_RETURN_NOT_OK(table::WriteParquet(dir.Child(index::kRowsParquet), *rows_batch));
  ORCHARD_RETURN_NOT_OK(WriteSkipped(dir.Child(index::kErrorsParquet), prepared.skipped));
  ORCHARD_ASSIGN_OR_RAISE(auto rows_bytes, io::ReadAll(dir.Child(index::kRowsParquet)));
  if (options.on == table::kPcaColumn) {
    ORCHARD_RETURN_NOT_OK(io::WriteAll(dir.Child(index::kPcaModelJson), inputs->origin.pca_text));
  }
  index::IndexManifest manifest;
  manifest.orchard_version = kVersion;
  manifest.source = options.input;
  manifest.vectors = options.on;
  manifest.rows = prepared.kept.num_rows();
  manifest.dim = prepared.kept.dim;
  manifest.kind = metrics.build.kind;
  manifest.nprobe = metrics.build.nprobe;
  manifest.backbone_sha256 = inputs->origin.backbone_sha256;
  manifest.pca_sha256 = inputs->origin.pca_sha256;
  manifest.index_sha256 = Sha256Hex(index_bytes);
  manifest.index_bytes = static_cast<int64_t>(index_bytes.size());
  manifest.rows_sha256 = Sha256Hex(std::string_view(
      reinterpret_cast<const char*>(rows_bytes->data()), static_cast<size_t>(rows_bytes->size())));
  metrics.bytes_per_vector =
      static_cast<double>(index_bytes.size()) / static_cast<double>(manifest.rows);
  metrics.total_seconds = SecondsSince(inputs->start);
  metrics.peak_rss_mib = util::PeakRssMiB();
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(dir.Child(index::kMetricsJson), util::DumpJson(index::ToJson(metrics), 2)));
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(dir.Child(index::kManifestJson), util::DumpJson(index::ToJson(manifest), 2)));
  return metrics;
}

}  // namespace index_steps

Result<int64_t> ParseMaxMemory(const std::string& text) {
  if (text.empty()) return int64_t{0};
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return UsageError("--max-memory: not a size: '", text, "' (e.g. 512M, 4G)");
  }
  const std::string unit = text.substr(used);
  double scale = 1;
  if (unit == "K" || unit == "k") scale = 1024.0;
  if (unit == "M" || unit == "m") scale = 1024.0 * 1024;
  if (unit == "G" || unit == "g") scale = 1024.0 * 1024 * 1024;
  if (!(unit.empty() || scale > 1) || !(value > 0) || value * scale > 9e18) {
    return UsageError("--max-memory: not a size: '", text, "' (e.g. 512M, 4G)");
  }
  return static_cast<int64_t>(value * scale);
}

Result<index::IndexMetrics> IndexJob(const IndexJobOptions& options) {
  ORCHARD_ASSIGN_OR_RAISE(auto inputs, BeginIndex(options));
  const auto build_start = Clock::now();
  const table::VectorRows& kept = inputs.prepared.kept;
  ORCHARD_ASSIGN_OR_RAISE(auto vectors,
                          index::VectorIndex::Build(kept.values.data(), kept.num_rows(), kept.dim,
                                                    inputs.build, &inputs.metrics.build));
  inputs.metrics.build_seconds = SecondsSince(build_start);
  return WriteIndexDir(options, &inputs, vectors);
}

namespace index_steps {

Result<index::LoadedIndex> LoadIndexAt(const std::string& index_dir,
                                       const io::StorageOptions& storage) {
  if (index_dir.empty()) return UsageError("give the index folder (-x INDEX_DIR)");
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(index_dir, storage));
  return index::LoadIndex(location);
}

VectorOrigin OriginOf(const index::IndexManifest& manifest) {
  return {manifest.backbone_sha256, manifest.pca_sha256, ""};
}

}  // namespace index_steps

Result<std::unique_ptr<PhotoSearcher>> PhotoSearcher::Open(const SearchJobOptions& options) {
  ORCHARD_RETURN_NOT_OK(CheckK(options.k));
  std::unique_ptr<PhotoSearcher> searcher(new PhotoSearcher());
  searcher->k_ = options.k;
  ORCHARD_ASSIGN_OR_RAISE(searcher->job_, ResolveJobOptions(options.job));
  const JobOptions& job = searcher->job_;
  ORCHARD_ASSIGN_OR_RAISE(auto loaded, LoadIndexAt(options.index_dir, job.storage));
  searcher->index_ = std::make_unique<index::LoadedIndex>(std::move(loaded));
  ORCHARD_ASSIGN_OR_RAISE(searcher->embedder_, LoadEmbedder(job));
  const index::LoadedIndex& index = *searcher->index_;
  const model::Embedder& embedder = *searcher->embedder_;
  if (embedder.info().sha256 != index.manifest.backbone_sha256) {
    return Status::Invalid("model '", job.model, "' has sha256 '", embedder.info().sha256,
                           "' but the index was built from features of the model with sha256 '",
                           index.manifest.backbone_sha256, "': give that model with --backbone");
  }
  const int64_t features_dim = embedder.info().output_dim;
  if (index.pca && index.pca->dim != features_dim) {
    return Status::Invalid("the index's PCA model takes ", index.pca->dim,
                           " values but the model gives ", features_dim);
  }
  return searcher;
}

PhotoSearcher::~PhotoSearcher() = default;

Result<std::vector<FileNeighbours>> PhotoSearcher::Search(
    const std::vector<std::string>& files) const {
  const index::LoadedIndex& index = *index_;
  ORCHARD_ASSIGN_OR_RAISE(auto embedded, EmbedNamedFiles(files, *embedder_, job_));
  std::vector<FileNeighbours> results(files.size());
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    results[file_idx].path = files[file_idx];
    results[file_idx].error = embedded.errors[file_idx];
  }
  const auto ok_count = static_cast<int64_t>(embedded.file_of_row.size());
  const int64_t dim = index.manifest.dim;
  std::vector<float> vectors;
  if (index.pca) {
    vectors.resize(static_cast<size_t>(ok_count * dim));
    index.pca->Project(embedded.features.data(), ok_count, vectors.data());
  } else {
    vectors = embedded.features;
  }
  // A photo whose vector cannot be searched (all zeros, NaN) says so; the others are searched.
  const auto bad = index::UnindexableRows(vectors.data(), ok_count, dim);
  const auto unit = index::Normalized(vectors.data(), ok_count, dim);
  ORCHARD_ASSIGN_OR_RAISE(auto found, index.vectors.Search(unit.data(), ok_count, k_));
  for (int64_t ok_idx = 0; ok_idx < ok_count; ++ok_idx) {
    auto& result = results[embedded.file_of_row[static_cast<size_t>(ok_idx)]];
    if (std::binary_search(bad.begin(), bad.end(), ok_idx)) {
      result.error = "search: the image's vector has a NaN or infinite value, or is all zeros";
      continue;
    }
    for (int64_t rank = 0; rank < k_; ++rank) {
      const size_t at = static_cast<size_t>(ok_idx * k_ + rank);
      const int64_t id = found.ids[at];
      if (id < 0) break;
      result.neighbours.push_back({index.rows.paths[static_cast<size_t>(id)],
                                   index.rows.labels[static_cast<size_t>(id)],
                                   found.distances[at]});
    }
  }
  return results;
}

Result<std::vector<FileNeighbours>> SearchFiles(const SearchJobOptions& options,
                                                const std::vector<std::string>& files) {
  ORCHARD_ASSIGN_OR_RAISE(auto searcher, PhotoSearcher::Open(options));
  return searcher->Search(files);
}

json ToJson(const NeighbourJobSummary& summary) {
  return {{"orchard_version", summary.orchard_version},
          {"command", summary.command},
          {"input", summary.input},
          {"against", summary.against},
          {"output", summary.output},
          {"index_kind", summary.index_kind},
          {"rows", summary.rows},
          {"skipped", summary.skipped},
          {"k", summary.k},
          {"threshold", summary.threshold},
          {"groups", summary.groups},
          {"grouped_rows", summary.grouped_rows},
          {"matched_rows", summary.matched_rows},
          {"seconds", {{"total", summary.seconds}}},
          {"peak_rss_mib", summary.peak_rss_mib}};
}

Result<NeighbourJobSummary> NeighbourJobSummaryFromJson(const json& document,
                                                        const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, util::JsonFields::Of(document, source));
  NeighbourJobSummary summary;
  ORCHARD_ASSIGN_OR_RAISE(summary.orchard_version, fields.String("orchard_version"));
  ORCHARD_ASSIGN_OR_RAISE(summary.command, fields.String("command"));
  ORCHARD_ASSIGN_OR_RAISE(summary.input, fields.String("input"));
  ORCHARD_ASSIGN_OR_RAISE(summary.against, fields.String("against"));
  ORCHARD_ASSIGN_OR_RAISE(summary.output, fields.String("output"));
  ORCHARD_ASSIGN_OR_RAISE(summary.index_kind, fields.String("index_kind"));
  ORCHARD_ASSIGN_OR_RAISE(summary.rows, fields.Integer("rows", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.skipped, fields.Integer("skipped", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.k, fields.Integer("k", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.threshold, fields.Number("threshold"));
  ORCHARD_ASSIGN_OR_RAISE(summary.groups, fields.Integer("groups", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.grouped_rows, fields.Integer("grouped_rows", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.matched_rows, fields.Integer("matched_rows", 0));
  ORCHARD_ASSIGN_OR_RAISE(auto seconds, fields.Object("seconds"));
  ORCHARD_ASSIGN_OR_RAISE(summary.seconds, seconds.Number("total"));
  ORCHARD_ASSIGN_OR_RAISE(summary.peak_rss_mib, fields.Number("peak_rss_mib"));
  return summary;
}

namespace index_steps {

Result<SearchInputs> BeginSearch(const SearchJobOptions& options) {
  SearchInputs inputs;
  inputs.start = Clock::now();
  ORCHARD_RETURN_NOT_OK(CheckK(options.k));
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.job.threads));
  ORCHARD_ASSIGN_OR_RAISE(inputs.where, ResolveJobLocations(options.job.input, options.job.output,
                                                            options.job.storage, true));
  ORCHARD_RETURN_NOT_OK(
      CheckResultFolder(inputs.where.output, kNeighboursParquet, options.overwrite));
  ORCHARD_ASSIGN_OR_RAISE(inputs.loaded, LoadIndexAt(options.index_dir, options.job.storage));
  inputs.threads = CoreCount(options.job.threads);
  inputs.loaded->vectors.set_threads(inputs.threads);
  ORCHARD_ASSIGN_OR_RAISE(auto origin,
                          OriginOf(inputs.where.input, inputs.loaded->manifest.vectors));
  ORCHARD_RETURN_NOT_OK(CheckSameOrigin(OriginOf(inputs.loaded->manifest), origin,
                                        "the index '" + options.index_dir + "'",
                                        "'" + options.job.input + "'"));
  return inputs;
}

Result<std::shared_ptr<arrow::RecordBatch>> NeighboursBatch(const table::VectorRows& queries,
                                                            const table::VectorRows& index_rows,
                                                            const index::Neighbours& found) {
  std::vector<std::string> paths, labels, neighbour_paths, neighbour_labels;
  std::vector<int64_t> ranks;
  std::vector<float> distances;
  for (int64_t row = 0; row < found.queries; ++row) {
    for (int64_t rank = 0; rank < found.k; ++rank) {
      const size_t at = static_cast<size_t>(row * found.k + rank);
      const int64_t id = found.ids[at];
      if (id < 0) break;
      paths.push_back(queries.paths[static_cast<size_t>(row)]);
      labels.push_back(queries.labels[static_cast<size_t>(row)]);
      ranks.push_back(rank + 1);
      neighbour_paths.push_back(index_rows.paths[static_cast<size_t>(id)]);
      neighbour_labels.push_back(index_rows.labels[static_cast<size_t>(id)]);
      distances.push_back(found.distances[at]);
    }
  }
  TableBuilder table(static_cast<int64_t>(paths.size()));
  ORCHARD_RETURN_NOT_OK(table.Strings(table::kPathColumn, paths));
  ORCHARD_RETURN_NOT_OK(table.Strings(table::kLabelColumn, labels));
  ORCHARD_RETURN_NOT_OK(table.Int64s("rank", ranks));
  ORCHARD_RETURN_NOT_OK(table.Strings("neighbour_path", neighbour_paths));
  ORCHARD_RETURN_NOT_OK(table.Strings("neighbour_label", neighbour_labels));
  ORCHARD_RETURN_NOT_OK(table.Floats("distance", distances));
  return table.Batch();
}

Result<NeighbourJobSummary> FinishSearch(const SearchJobOptions& options,
                                         const SearchInputs& inputs, int64_t rows,
                                         int64_t skipped) {
  NeighbourJobSummary summary;
  summary.orchard_version = kVersion;
  summary.command = "search";
  summary.input = options.job.input;
  summary.output = options.job.output;
  summary.index_kind = inputs.loaded->manifest.kind;
  summary.rows = rows;
  summary.skipped = skipped;
  summary.k = options.k;
  summary.seconds = SecondsSince(inputs.start);
  summary.peak_rss_mib = util::PeakRssMiB();
  ORCHARD_RETURN_NOT_OK(io::WriteAll(inputs.where.output.Child(kResultSummaryJson),
                                     util::DumpJson(ToJson(summary), 2)));
  return summary;
}

}  // namespace index_steps

Result<NeighbourJobSummary> SearchJob(const SearchJobOptions& options) {
  ORCHARD_ASSIGN_OR_RAISE(auto inputs, BeginSearch(options));
  const index::LoadedIndex& loaded = *inputs.loaded;
  ORCHARD_ASSIGN_OR_RAISE(auto rows,
                          ReadVectors(inputs.where.input, loaded.manifest.vectors, inputs.threads));
  if (rows.dim != loaded.manifest.dim) {
    return Status::Invalid("'", options.job.input, "' has vectors of ", rows.dim,
                           " values but the index ", loaded.manifest.dim);
  }
  PreparedRows prepared = Prepare(std::move(rows), "search");
  const int64_t count = prepared.kept.num_rows();
  ORCHARD_ASSIGN_OR_RAISE(auto found,
                          loaded.vectors.Search(prepared.kept.values.data(), count, options.k));
  ORCHARD_ASSIGN_OR_RAISE(auto batch, NeighboursBatch(prepared.kept, loaded.rows, found));
  const io::Location& output = inputs.where.output;
  ORCHARD_RETURN_NOT_OK(WriteSkipped(output.Child(index::kErrorsParquet), prepared.skipped));
  ORCHARD_RETURN_NOT_OK(table::WriteParquet(output.Child(kNeighboursParquet), *batch));
  return FinishSearch(options, inputs, count, static_cast<int64_t>(prepared.skipped.size()));
}

namespace index_steps {

Result<DedupInputs> BeginDedup(const DedupJobOptions& options) {
  DedupInputs inputs;
  inputs.start = Clock::now();
  ORCHARD_RETURN_NOT_OK(CheckOn(options.on));
  ORCHARD_RETURN_NOT_OK(CheckK(options.k));
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.threads));
  if (!(options.threshold >= 0 && options.threshold <= 2)) {
    return UsageError("--threshold is a cosine distance in [0, 2], got ", options.threshold);
  }
  ORCHARD_ASSIGN_OR_RAISE(
      inputs.where, ResolveJobLocations(options.input, options.output, options.storage, true));
  inputs.across = !options.against.empty();
  const char* result_file = inputs.across ? kMatchesParquet : kDuplicatesParquet;
  ORCHARD_RETURN_NOT_OK(CheckResultFolder(inputs.where.output, result_file, options.overwrite));
  inputs.threads = CoreCount(options.threads);
  ORCHARD_ASSIGN_OR_RAISE(auto origin, OriginOf(inputs.where.input, options.on));
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadVectors(inputs.where.input, options.on, inputs.threads));
  inputs.input = Prepare(std::move(rows), "dedup");
  const int64_t dim = inputs.input.kept.dim;

  NeighbourJobSummary& summary = inputs.summary;
  summary.orchard_version = kVersion;
  summary.command = "dedup";
  summary.input = options.input;
  summary.against = options.against;
  summary.output = options.output;
  summary.rows = inputs.input.kept.num_rows();
  summary.skipped = static_cast<int64_t>(inputs.input.skipped.size());
  summary.threshold = options.threshold;
  summary.k = inputs.k(options);
  inputs.build = options.build;
  inputs.build.threads = inputs.threads;
  if (inputs.across) {
    ORCHARD_ASSIGN_OR_RAISE(inputs.against, io::ResolveLocation(options.against, options.storage));
    ORCHARD_ASSIGN_OR_RAISE(auto other_origin, OriginOf(inputs.against, options.on));
    ORCHARD_RETURN_NOT_OK(CheckSameOrigin(origin, other_origin, "'" + options.input + "'",
                                          "'" + options.against + "' (--against)"));
    ORCHARD_ASSIGN_OR_RAISE(auto other_rows,
                            ReadVectors(inputs.against, options.on, inputs.threads));
    if (other_rows.dim != dim) {
      return Status::Invalid("'", options.against, "' has vectors of ", other_rows.dim,
                             " values but '", options.input, "' of ", dim);
    }
    inputs.other = Prepare(std::move(other_rows), "dedup --against");
  }
  return inputs;
}

// The images' root an output was made from (its report/summary.json "input"); unset,
// with the reason, when the summary cannot be read or names none.
struct ImageRoot {
  std::optional<io::Location> location;
  std::string why_not;
};

ImageRoot ImageRootOf(const io::Location& output, const io::StorageOptions& storage) {
  ImageRoot root;
  auto bytes = io::ReadBounded(output.Child(output::kSummaryJson), kMaxPcaModelBytes);
  if (!bytes.ok()) {
    root.why_not = "no readable " + output.Child(output::kSummaryJson).display +
                   ": the images' folder is unknown";
    return root;
  }
  std::string input;
  try {
    const auto document = nlohmann::json::parse((*bytes)->ToString());
    if (document.contains("input") && document["input"].is_string()) {
      input = document["input"].get<std::string>();
    }
  } catch (const nlohmann::json::exception&) {
  }
  if (input.empty()) {
    root.why_not = output.Child(output::kSummaryJson).display + " names no input folder";
    return root;
  }
  auto location = io::ResolveLocation(input, storage);
  if (!location.ok()) {
    root.why_not = "cannot resolve the input '" + input + "': " + location.status().message();
    return root;
  }
  root.location = *location;
  return root;
}

// A row's path under its root, refused when it could leave it (an absolute path, "..").
bool StaysUnder(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.find('\0') != std::string::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (path.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}

// A row of the page: the image's thumbnail, or the reason there is none. Never fails: an
// image that cannot be read, decoded or scaled gets a placeholder on the page.
report::DedupImage ImageShown(const ImageRoot& root, const std::string& path,
                              const std::string& label, float distance) {
  report::DedupImage image{path, label, distance, "", ""};
  if (!root.location) {
    image.missing_reason = root.why_not;
    return image;
  }
  if (!StaysUnder(path)) {
    image.missing_reason = "the path is not one under the input folder";
    return image;
  }
  const image::PreprocessOptions limits;  // the pipeline's default bounds
  auto bytes = io::ReadBounded(root.location->Child(path), limits.max_file_bytes);
  if (!bytes.ok()) {
    image.missing_reason = "cannot read it: " + bytes.status().message();
    return image;
  }
  auto thumbnail = image::JpegThumbnail((*bytes)->data(), static_cast<size_t>((*bytes)->size()),
                                        image::kThumbnailSide, limits);
  if (!thumbnail.ok()) {
    image.missing_reason = "cannot show it: " + thumbnail.status().message();
    return image;
  }
  image.thumbnail_jpeg = std::move(*thumbnail);
  return image;
}

// The thumbnails of `images` [(root, path, label, distance)], on `threads` threads.
std::vector<report::DedupImage> ImagesShown(
    const std::vector<std::tuple<const ImageRoot*, std::string, std::string, float>>& images,
    int threads) {
  std::vector<report::DedupImage> out(images.size());
  (void)ParallelFor(images.size(), threads, [&](size_t idx) -> Status {
    const auto& [root, path, label, distance] = images[idx];
    out[idx] = ImageShown(*root, path, label, distance);
    return Status::OK();
  });
  return out;
}

// DUP/report/index.html: the largest groups (or the closest matches), bounded by the
// report's kMaxDedup* constants.
Status WriteDedupPage(const DedupJobOptions& options, const DedupInputs& inputs,
                      const std::vector<index::DuplicateMember>& members,
                      std::vector<std::tuple<int64_t, int64_t, float>> matches) {
  const NeighbourJobSummary& summary = inputs.summary;
  report::DedupReport page;
  page.input = options.input;
  page.against = options.against;
  page.output = options.output;
  page.threshold = options.threshold;
  page.rows = summary.rows;
  page.skipped = summary.skipped;
  page.groups = summary.groups;
  page.grouped_rows = summary.grouped_rows;
  page.matched_rows = summary.matched_rows;
  const ImageRoot input_root = ImageRootOf(inputs.where.input, options.storage);
  const ImageRoot other_root =
      inputs.across ? ImageRootOf(inputs.against, options.storage) : ImageRoot{};
  if (!input_root.location) page.thumbnails_note = "No thumbnails: " + input_root.why_not;
  const table::VectorRows& rows = inputs.input.kept;
  std::vector<std::tuple<const ImageRoot*, std::string, std::string, float>> wanted;
  if (!inputs.across) {
    // Groups by size, largest first (ties: in group order); their first members.
    std::vector<std::pair<int64_t, int64_t>> group_spans;  // (first member, size)
    for (size_t idx = 0; idx < members.size(); ++idx) {
      if (idx == 0 || members[idx].group != members[idx - 1].group) {
        group_spans.emplace_back(static_cast<int64_t>(idx), 0);
      }
      ++group_spans.back().second;
    }
    std::stable_sort(group_spans.begin(), group_spans.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    if (static_cast<int64_t>(group_spans.size()) > report::kMaxDedupGroupsShown) {
      group_spans.resize(static_cast<size_t>(report::kMaxDedupGroupsShown));
    }
    for (const auto& [first, size] : group_spans) {
      report::DedupGroupShown group;
      group.group = members[static_cast<size_t>(first)].group;
      group.size = size;
      page.largest_groups.push_back(group);
      for (int64_t idx = first; idx < first + std::min(size, report::kMaxDedupMembersShown);
           ++idx) {
        const auto& member = members[static_cast<size_t>(idx)];
        wanted.emplace_back(&input_root, rows.paths[static_cast<size_t>(member.row)],
                            rows.labels[static_cast<size_t>(member.row)], member.distance);
      }
    }
    auto shown = ImagesShown(wanted, inputs.threads);
    size_t next = 0;
    for (auto& group : page.largest_groups) {
      const int64_t count = std::min(group.size, report::kMaxDedupMembersShown);
      for (int64_t idx = 0; idx < count; ++idx) group.members.push_back(std::move(shown[next++]));
    }
  } else {
    // The closest matches first: (input row, other row, distance).
    std::stable_sort(matches.begin(), matches.end(),
                     [](const auto& a, const auto& b) { return std::get<2>(a) < std::get<2>(b); });
    if (static_cast<int64_t>(matches.size()) > report::kMaxDedupMatchesShown) {
      matches.resize(static_cast<size_t>(report::kMaxDedupMatchesShown));
    }
    const table::VectorRows& other = inputs.other.kept;
    for (const auto& [row, match, distance] : matches) {
      wanted.emplace_back(&input_root, rows.paths[static_cast<size_t>(row)],
                          rows.labels[static_cast<size_t>(row)], distance);
      wanted.emplace_back(&other_root, other.paths[static_cast<size_t>(match)],
                          other.labels[static_cast<size_t>(match)], distance);
    }
    auto shown = ImagesShown(wanted, inputs.threads);
    for (size_t idx = 0; idx + 1 < shown.size(); idx += 2) {
      page.matches.push_back({std::move(shown[idx]), std::move(shown[idx + 1])});
    }
  }
  return io::WriteAll(inputs.where.output.Child(kDedupReportHtml), report::RenderDedupPage(page));
}

Result<NeighbourJobSummary> FinishDedup(const DedupJobOptions& options, DedupInputs* inputs,
                                        const std::string& index_kind,
                                        const index::Neighbours& found) {
  NeighbourJobSummary& summary = inputs->summary;
  const PreparedRows& prepared = inputs->input;
  const int64_t count = prepared.kept.num_rows();
  if (found.queries != count) {
    return Status::Invalid("dedup: neighbours of ", found.queries, " rows for ", count,
                           " rows searched");
  }
  summary.index_kind = index_kind;
  const io::Location& output = inputs->where.output;
  std::vector<table::ErrorRecord> skipped = prepared.skipped;
  if (!inputs->across) {
    const auto members = index::GroupDuplicates(found, prepared.kept.values.data(),
                                                prepared.kept.dim, options.threshold);
    std::vector<int64_t> groups;
    std::vector<std::string> paths, labels, representatives;
    std::vector<float> distances;
    for (const auto& member : members) {
      groups.push_back(member.group);
      paths.push_back(prepared.kept.paths[static_cast<size_t>(member.row)]);
      labels.push_back(prepared.kept.labels[static_cast<size_t>(member.row)]);
      distances.push_back(member.distance);
    }
    // Each member's representative: the first member of its group.
    for (size_t idx = 0, first = 0; idx < members.size(); ++idx) {
      if (members[idx].representative) first = idx;
      representatives.push_back(paths[first]);
    }
    summary.groups = members.empty() ? 0 : members.back().group + 1;
    summary.grouped_rows = static_cast<int64_t>(members.size());
    TableBuilder table(static_cast<int64_t>(members.size()));
    ORCHARD_RETURN_NOT_OK(table.Int64s("group", groups));
    ORCHARD_RETURN_NOT_OK(table.Strings(table::kPathColumn, paths));
    ORCHARD_RETURN_NOT_OK(table.Strings(table::kLabelColumn, labels));
    ORCHARD_RETURN_NOT_OK(table.Strings("representative", representatives));
    ORCHARD_RETURN_NOT_OK(table.Floats("distance", distances));
    ORCHARD_RETURN_NOT_OK(table.Write(output.Child(kDuplicatesParquet)));
    ORCHARD_RETURN_NOT_OK(WriteDedupPage(options, *inputs, members, {}));
  } else {
    const PreparedRows& other = inputs->other;
    std::vector<std::string> paths, labels, match_paths, match_labels;
    std::vector<float> distances;
    std::vector<std::tuple<int64_t, int64_t, float>> matched;
    for (int64_t row = 0; row < count; ++row) {
      const int64_t id = found.ids[static_cast<size_t>(row * found.k)];
      const float distance = found.distances[static_cast<size_t>(row * found.k)];
      if (id < 0 || distance > options.threshold) continue;
      paths.push_back(prepared.kept.paths[static_cast<size_t>(row)]);
      labels.push_back(prepared.kept.labels[static_cast<size_t>(row)]);
      match_paths.push_back(other.kept.paths[static_cast<size_t>(id)]);
      match_labels.push_back(other.kept.labels[static_cast<size_t>(id)]);
      distances.push_back(distance);
      matched.emplace_back(row, id, distance);
    }
    summary.matched_rows = static_cast<int64_t>(paths.size());
    summary.skipped += static_cast<int64_t>(other.skipped.size());
    skipped.insert(skipped.end(), other.skipped.begin(), other.skipped.end());
    TableBuilder table(static_cast<int64_t>(paths.size()));
    ORCHARD_RETURN_NOT_OK(table.Strings(table::kPathColumn, paths));
    ORCHARD_RETURN_NOT_OK(table.Strings(table::kLabelColumn, labels));
    ORCHARD_RETURN_NOT_OK(table.Strings("match_path", match_paths));
    ORCHARD_RETURN_NOT_OK(table.Strings("match_label", match_labels));
    ORCHARD_RETURN_NOT_OK(table.Floats("distance", distances));
    ORCHARD_RETURN_NOT_OK(table.Write(output.Child(kMatchesParquet)));
    ORCHARD_RETURN_NOT_OK(WriteDedupPage(options, *inputs, {}, std::move(matched)));
  }
  ORCHARD_RETURN_NOT_OK(WriteSkipped(output.Child(index::kErrorsParquet), skipped));
  summary.seconds = SecondsSince(inputs->start);
  summary.peak_rss_mib = util::PeakRssMiB();
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(output.Child(kResultSummaryJson), util::DumpJson(ToJson(summary), 2)));
  return summary;
}

}  // namespace index_steps

Result<NeighbourJobSummary> DedupJob(const DedupJobOptions& options) {
  ORCHARD_ASSIGN_OR_RAISE(auto inputs, BeginDedup(options));
  const PreparedRows& indexed = inputs.indexed();
  index::BuildReport report;
  ORCHARD_ASSIGN_OR_RAISE(
      auto vectors, index::VectorIndex::Build(indexed.kept.values.data(), indexed.kept.num_rows(),
                                              indexed.kept.dim, inputs.build, &report));
  ORCHARD_ASSIGN_OR_RAISE(
      auto found, vectors.Search(inputs.input.kept.values.data(), inputs.input.kept.num_rows(),
                                 inputs.k(options)));
  return FinishDedup(options, &inputs, report.kind, found);
}

Result<PredictSummary> KnnPredictJob(const KnnPredictOptions& options) {
  const auto start = Clock::now();
  ORCHARD_RETURN_NOT_OK(CheckK(options.k));
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.threads));
  ORCHARD_ASSIGN_OR_RAISE(
      auto where, ResolveJobLocations(options.input, options.output, options.storage, true));
  ORCHARD_RETURN_NOT_OK(CheckResultFolder(where.output, output::kSummaryJson, options.overwrite));
  ORCHARD_ASSIGN_OR_RAISE(auto loaded, LoadIndexAt(options.index_dir, options.storage));
  const int threads = CoreCount(options.threads);
  ORCHARD_ASSIGN_OR_RAISE(auto origin, OriginOf(where.input, loaded.manifest.vectors));
  ORCHARD_RETURN_NOT_OK(CheckSameOrigin(OriginOf(loaded.manifest), origin,
                                        "the index '" + options.index_dir + "'",
                                        "'" + options.input + "'"));
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadVectors(where.input, loaded.manifest.vectors, threads));
  if (rows.dim != loaded.manifest.dim) {
    return Status::Invalid("'", options.input, "' has vectors of ", rows.dim,
                           " values but the index ", loaded.manifest.dim);
  }
  PreparedRows prepared = Prepare(std::move(rows), "predict");
  const int64_t count = prepared.kept.num_rows();
  const auto predict_start = Clock::now();

  // The classes: the index's labels, sorted (as a classifier's are).
  std::vector<std::string> classes = loaded.rows.labels;
  std::sort(classes.begin(), classes.end());
  classes.erase(std::unique(classes.begin(), classes.end()), classes.end());
  const auto num_classes = static_cast<int64_t>(classes.size());
  std::vector<int64_t> class_of_row(loaded.rows.labels.size());
  for (size_t row = 0; row < class_of_row.size(); ++row) {
    class_of_row[row] =
        std::lower_bound(classes.begin(), classes.end(), loaded.rows.labels[row]) - classes.begin();
  }
  ORCHARD_ASSIGN_OR_RAISE(auto found,
                          loaded.vectors.Search(prepared.kept.values.data(), count, options.k));
  table::PredictionsBatchBuilder builder(classes);
  auto counts = classify::PredictionCounts::Zero(num_classes);
  std::vector<float> votes(static_cast<size_t>(num_classes));
  for (int64_t row = 0; row < count; ++row) {
    std::fill(votes.begin(), votes.end(), 0.0f);
    double total = 0;
    for (int64_t rank = 0; rank < options.k; ++rank) {
      const size_t at = static_cast<size_t>(row * options.k + rank);
      if (found.ids[at] < 0) break;
      // Distance-weighted: an exact copy (distance 0) outvotes everything, not infinitely.
      const double weight = 1.0 / (double{found.distances[at]} + 1e-6);
      votes[static_cast<size_t>(class_of_row[static_cast<size_t>(found.ids[at])])] +=
          static_cast<float>(weight);
      total += weight;
    }
    for (auto& vote : votes) vote = static_cast<float>(vote / total);
    const auto top = classify::TopK(votes.data(), num_classes, classify::kTopK);
    const std::string& label = prepared.kept.labels[static_cast<size_t>(row)];
    const auto known = std::lower_bound(classes.begin(), classes.end(), label);
    const int64_t true_class =
        known != classes.end() && *known == label ? known - classes.begin() : -1;
    counts.Add(label, true_class, top, num_classes);
    ORCHARD_RETURN_NOT_OK(
        builder.Append(prepared.kept.paths[static_cast<size_t>(row)], label, top, votes.data()));
  }
  ORCHARD_ASSIGN_OR_RAISE(auto batch, builder.Finish());
  ORCHARD_RETURN_NOT_OK(table::WriteParquet(
      where.output.Child(std::string(output::kPredictionsDir) + "/" + table::PartName(0)), *batch));
  ORCHARD_RETURN_NOT_OK(WriteSkipped(where.output.Child(index::kErrorsParquet), prepared.skipped));
  const classify::PredictMetrics metrics = classify::ComputePredictMetrics(classes, counts);

  PredictSummary summary;
  summary.orchard_version = kVersion;
  summary.command = "predict --knn";
  summary.input = options.input;
  summary.output = options.output;
  summary.classifier = options.index_dir;
  summary.threads = threads;
  summary.features_from = options.input;
  summary.model_sha256 = loaded.manifest.backbone_sha256;
  summary.rows = count;
  if (metrics.labelled_rows > 0) {
    ORCHARD_RETURN_NOT_OK(io::WriteAll(where.output.Child(output::kPredictMetricsJson),
                                       util::DumpJson(metrics.ToJson(), 2)));
    summary.accuracy =
        PredictSummary::Accuracy{metrics.accuracy, metrics.top5_accuracy, metrics.labelled_rows};
  }
  summary.seconds["predict"] = SecondsSince(predict_start);
  summary.seconds["total"] = SecondsSince(start);
  summary.peak_rss_mib = util::PeakRssMiB();
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(where.output.Child(output::kSummaryJson), util::DumpJson(ToJson(summary), 2)));
  return summary;
}

}  // namespace orchard::jobs
