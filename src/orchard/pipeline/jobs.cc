#include "orchard/pipeline/jobs.h"

#include <arrow/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "orchard/model/embedder.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/progress.h"
#include "orchard/report/html_report.h"
#include "orchard/report/report.h"
#include "orchard/table/tables.h"
#include "orchard/util/sha256.h"
#include "orchard/version.h"

namespace orchard::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr const char* kFeatures = "features";
constexpr const char* kErrors = "errors";
constexpr const char* kPca = "pca";
constexpr const char* kPcaModel = "pca_model";
constexpr const char* kReport = "report";

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int CoreCount(const JobOptions& options) {
  if (options.threads > 0) return options.threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Runs fn(part_idx) for every part on up to `threads` threads; returns the first error.
Status ParallelForParts(size_t num_parts, int threads, const std::function<Status(size_t)>& fn) {
  std::atomic<size_t> next{0};
  std::mutex mutex;
  Status first;
  auto worker = [&] {
    for (size_t part_idx = next++; part_idx < num_parts; part_idx = next++) {
      Status status = fn(part_idx);
      if (!status.ok()) {
        std::lock_guard lock(mutex);
        if (first.ok()) first = status;
        next = num_parts;
      }
    }
  };
  std::vector<std::thread> pool;
  const int count = std::max(1, std::min<int>(threads, static_cast<int>(num_parts)));
  for (int thread_idx = 0; thread_idx < count; ++thread_idx) pool.emplace_back(worker);
  for (auto& thread : pool) thread.join();
  return first;
}

struct Locations {
  io::Location input;
  io::Location output;
};

Status CheckBucket(const io::Location& location) {
  if (!location.is_object_store) return Status::OK();
  const std::string bucket = location.path.substr(0, location.path.find('/'));
  auto info = location.fs->GetFileInfo(bucket);
  if (!info.ok()) {
    return Status::IOError("cannot access bucket '", bucket, "' (for ", location.display,
                           "): ", info.status().message(),
                           ". Check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                           "AWS_PROFILE, ~/.aws, instance profile), the region and the bucket "
                           "policy");
  }
  if (info->type() != arrow::fs::FileType::Directory) {
    return Status::IOError("bucket '", bucket, "' does not exist or is not accessible (for ",
                           location.display, "): check the name, region and credentials");
  }
  return Status::OK();
}

Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options) {
  if (options.model.empty()) return Status::Invalid("no model given (--model)");
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(options.model, options.storage));
  auto bytes = io::ReadAll(location);
  if (!bytes.ok()) {
    return Status::IOError("cannot read model '", options.model, "': ", bytes.status().message());
  }
  model::EmbedderOptions embedder_options;
  embedder_options.output_name = options.output_name;
  embedder_options.intra_op_threads = CoreCount(options);
  embedder_options.expected_sha256 = options.model_sha256;
  embedder_options.model_name = "'" + options.model + "'";
  return model::Embedder::Make((*bytes)->ToString(), embedder_options);
}

// Identifies a featurization job, so --resume only reuses parts of the same job.
std::string Fingerprint(const std::vector<ImageItem>& items, const model::Embedder& embedder,
                        const JobOptions& options, int64_t rows_per_part) {
  std::string text = "orchard-job-1\n";
  text += "model=" + embedder.info().sha256 + " output=" + embedder.info().output_name + "\n";
  text += "rows_per_part=" + std::to_string(rows_per_part) +
          " batch=" + std::to_string(options.batch_size) +
          " max_pixels=" + std::to_string(options.max_pixels) + "\n";
  std::string listing;
  for (const auto& item : items) listing += item.path + '\t' + std::to_string(item.size) + '\n';
  text += "listing=" + Sha256Hex(listing) + " count=" + std::to_string(items.size()) + "\n";
  return text;
}

Result<pca::PcaStats> StatsOfParts(const std::vector<io::Location>& parts, int threads) {
  std::mutex mutex;
  pca::PcaStats total;
  ORCHARD_RETURN_NOT_OK(ParallelForParts(parts.size(), threads, [&](size_t part_idx) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(auto rows,
                            table::ReadVectorFile(parts[part_idx], table::kFeaturesColumn));
    pca::PcaStats stats(rows.dim);
    stats.Add(rows.values.data(), rows.num_rows());
    std::lock_guard lock(mutex);
    return total.Merge(stats);
  }));
  return total;
}

Status ProjectParts(const std::vector<io::Location>& parts, const pca::PcaModel& model,
                    const io::Location& pca_dir, int threads) {
  return ParallelForParts(parts.size(), threads, [&](size_t part_idx) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(auto rows,
                            table::ReadVectorFile(parts[part_idx], table::kFeaturesColumn));
    if (rows.num_rows() > 0 && rows.dim != model.dim) {
      return Status::Invalid(parts[part_idx].display, " has ", rows.dim,
                             "-d features but the PCA model expects ", model.dim);
    }
    table::VectorRows projected;
    projected.paths = std::move(rows.paths);
    projected.labels = std::move(rows.labels);
    projected.dim = model.k;
    projected.values.resize(static_cast<size_t>(projected.num_rows() * model.k));
    model.Project(rows.values.data(), projected.num_rows(), projected.values.data());
    ORCHARD_ASSIGN_OR_RAISE(auto batch, table::MakeVectorBatch(table::kPcaColumn, projected));
    const std::string name = parts[part_idx].path.substr(parts[part_idx].path.rfind('/') + 1);
    return table::WriteParquet(pca_dir.Child(name), *batch);
  });
}

Result<std::shared_ptr<arrow::RecordBatch>> ComponentsBatch(const pca::PcaModel& model) {
  arrow::Int32Builder index_builder;
  arrow::DoubleBuilder variance_builder, ratio_builder, cumulative_builder;
  arrow::ListBuilder vector_builder(arrow::default_memory_pool(),
                                    std::make_shared<arrow::DoubleBuilder>());
  auto* values = static_cast<arrow::DoubleBuilder*>(vector_builder.value_builder());
  double cumulative = 0;
  for (int64_t comp_idx = 0; comp_idx < model.k; ++comp_idx) {
    const auto idx = static_cast<size_t>(comp_idx);
    cumulative += model.explained_variance_ratio[idx];
    ORCHARD_RETURN_NOT_OK(index_builder.Append(static_cast<int32_t>(comp_idx)));
    ORCHARD_RETURN_NOT_OK(variance_builder.Append(model.explained_variance[idx]));
    ORCHARD_RETURN_NOT_OK(ratio_builder.Append(model.explained_variance_ratio[idx]));
    ORCHARD_RETURN_NOT_OK(cumulative_builder.Append(cumulative));
    ORCHARD_RETURN_NOT_OK(vector_builder.Append());
    ORCHARD_RETURN_NOT_OK(
        values->AppendValues(model.components.data() + comp_idx * model.dim, model.dim));
  }
  std::shared_ptr<arrow::Array> index, variance, ratio, cumulative_ratio, vectors;
  ORCHARD_RETURN_NOT_OK(index_builder.Finish(&index));
  ORCHARD_RETURN_NOT_OK(variance_builder.Finish(&variance));
  ORCHARD_RETURN_NOT_OK(ratio_builder.Finish(&ratio));
  ORCHARD_RETURN_NOT_OK(cumulative_builder.Finish(&cumulative_ratio));
  ORCHARD_RETURN_NOT_OK(vector_builder.Finish(&vectors));
  auto schema =
      arrow::schema({arrow::field("component", arrow::int32()),
                     arrow::field("explained_variance", arrow::float64()),
                     arrow::field("explained_variance_ratio", arrow::float64()),
                     arrow::field("cumulative_explained_variance_ratio", arrow::float64()),
                     arrow::field("vector", arrow::list(arrow::float64()))});
  return arrow::RecordBatch::Make(schema, model.k,
                                  {index, variance, ratio, cumulative_ratio, vectors});
}

// Writes pca_model/ and report/scree.svg below `root` (the staging folder).
Status WritePcaModel(const pca::PcaModel& model, const io::Location& root) {
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(root.Child(kPcaModel).Child("model.json"), pca::ModelToJson(model).dump()));
  ORCHARD_ASSIGN_OR_RAISE(auto components, ComponentsBatch(model));
  ORCHARD_RETURN_NOT_OK(
      table::WriteParquet(root.Child(kPcaModel).Child("components.parquet"), *components));
  const std::string title = "PCA of " + std::to_string(model.count) +
                            " feature vectors: " + std::to_string(model.k) +
                            " components explain the threshold";
  return io::WriteAll(root.Child(kReport).Child("scree.svg"), report::ScreePlotSvg(model, title));
}

// report/index.html of the staged run. A job that rewrites only part of the output passes
// the output as `rest`: what the job does not stage is read from there.
Status WriteRunReport(const io::Location& staging, std::optional<io::Location> rest = {}) {
  report::HtmlReportOptions options;
  options.fallback_root = std::move(rest);
  return report::WriteHtmlReport(staging, staging.Child(kReport).Child("index.html"), options);
}

json PcaSummary(const pca::PcaModel& model) {
  return {{"k", model.k},
          {"n", model.count},
          {"dim", model.dim},
          {"variance_threshold", model.variance_threshold},
          {"cumulative_explained_variance_ratio", model.CumulativeRatio(model.k)}};
}

// Progress and warnings of the featurize stage, wired to the options' callbacks.
struct StageReporting {
  std::unique_ptr<ProgressLine> progress;
  std::atomic<int64_t> warnings{0};
};

constexpr int64_t kMaxWarnings = 20;

struct FeaturizeOutcome {
  FeaturizeStats stats;
  int64_t listed = 0;
  double list_seconds = 0;
  std::string model_sha256;
  int64_t dim = 0;
};

// Lists, loads the model, begins the commit and featurizes into staging.
Result<FeaturizeOutcome> FeaturizeIntoStaging(const JobOptions& options, const Locations& where,
                                              std::optional<table::OutputCommitter>* committer) {
  FeaturizeOutcome outcome;
  auto list_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto items, ListImages(where.input));
  outcome.list_seconds = SecondsSince(list_start);
  outcome.listed = static_cast<int64_t>(items.size());
  if (items.empty()) {
    return Status::Invalid("no files under input '", where.input.display,
                           "': expected one sub-folder of images per label");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto embedder, LoadEmbedder(options));
  outcome.model_sha256 = embedder->info().sha256;
  outcome.dim = embedder->info().output_dim;

  FeaturizeOptions featurize;
  featurize.batch_size = options.batch_size;
  featurize.rows_per_part = options.rows_per_part;
  featurize.io_threads = options.io_threads;
  featurize.preprocess.max_pixels = options.max_pixels;
  featurize.cancel = options.cancel;
  // Decoding needs a fraction of the cores inference needs; ONNX Runtime gets them all.
  featurize.prep_threads = std::max(1, CoreCount(options) / 2);
  const int64_t rows_per_part = EffectiveRowsPerPart(featurize);

  ORCHARD_ASSIGN_OR_RAISE(auto begun, table::OutputCommitter::Begin(
                                          where.output, options.existing,
                                          Fingerprint(items, *embedder, options, rows_per_part)));
  committer->emplace(std::move(begun));
  const io::Location staging = (*committer)->staging();
  std::set<int64_t> skip_parts;
  if ((*committer)->resuming()) {
    ORCHARD_ASSIGN_OR_RAISE(auto feature_parts, table::ListParts(staging.Child(kFeatures)));
    ORCHARD_ASSIGN_OR_RAISE(auto error_parts, table::ListParts(staging.Child(kErrors)));
    std::set<std::string> error_names;
    for (const auto& part : error_parts)
      error_names.insert(part.path.substr(part.path.rfind('/') + 1));
    for (const auto& part : feature_parts) {
      const std::string name = part.path.substr(part.path.rfind('/') + 1);
      if (error_names.count(name) == 0) continue;  // the part's error file is missing
      skip_parts.insert(std::stoll(name.substr(5, name.size() - 13)));
    }
  }

  StageReporting reporting;
  reporting.progress = std::make_unique<ProgressLine>(
      "featurize", outcome.listed - static_cast<int64_t>(skip_parts.size()) * rows_per_part,
      options.progress);
  featurize.on_progress = [&](int64_t done, int64_t failed) {
    reporting.progress->Update(done, failed);
  };
  featurize.on_error = [&](const table::ErrorRecord& error) {
    if (!options.warn) return;
    const int64_t count = ++reporting.warnings;
    if (count <= kMaxWarnings) {
      options.warn(error.path + ": " + error.stage + ": " + error.message);
    } else if (count == kMaxWarnings + 1) {
      options.warn("more failed images: see the errors table");
    }
  };
  ORCHARD_ASSIGN_OR_RAISE(outcome.stats,
                          Featurize(items, where.input, *embedder, staging.Child(kFeatures),
                                    staging.Child(kErrors), skip_parts, featurize));
  reporting.progress->Finish();
  return outcome;
}

Result<Locations> ResolveBoth(const JobOptions& options, bool need_input) {
  Locations where;
  if (need_input) {
    if (options.input.empty()) return Status::Invalid("no input given (--input)");
    ORCHARD_ASSIGN_OR_RAISE(where.input, io::ResolveLocation(options.input, options.storage));
    ORCHARD_RETURN_NOT_OK(CheckBucket(where.input));
  }
  if (options.output.empty()) return Status::Invalid("no output given (--output)");
  ORCHARD_ASSIGN_OR_RAISE(where.output, io::ResolveLocation(options.output, options.storage));
  ORCHARD_RETURN_NOT_OK(CheckBucket(where.output));
  return where;
}

json BaseSummary(const std::string& command, const JobOptions& options) {
  return {{"orchard_version", kVersion},
          {"command", command},
          {"input", options.input},
          {"output", options.output},
          {"model", {{"path", options.model}, {"output", options.output_name}}},
          {"threads", CoreCount(options)},
          {"batch_size", options.batch_size}};
}

void AddFeaturizeSummary(const FeaturizeOutcome& outcome, json* summary) {
  const auto& stats = outcome.stats;
  (*summary)["model"]["sha256"] = outcome.model_sha256;
  (*summary)["model"]["dim"] = outcome.dim;
  (*summary)["images"] = {{"listed", outcome.listed},
                          {"ok", stats.ok},
                          {"failed", stats.failed},
                          {"reused_from_interrupted_run", stats.images_reused}};
  (*summary)["images_per_second"] =
      stats.wall_seconds > 0 ? static_cast<double>(stats.images) / stats.wall_seconds : 0.0;
  (*summary)["seconds"]["list"] = outcome.list_seconds;
  (*summary)["seconds"]["featurize"] = stats.wall_seconds;
  (*summary)["busy_seconds"] = {{"read", stats.read_seconds},
                                {"decode", stats.decode_seconds},
                                {"embed", stats.embed_seconds},
                                {"write", stats.write_seconds}};
}

Status WriteSummary(const io::Location& staging, json* summary, Clock::time_point start) {
  (*summary)["seconds"]["total"] = SecondsSince(start);
  (*summary)["peak_rss_mib"] = PeakRssMiB();
  return io::WriteAll(staging.Child(kReport).Child("summary.json"), summary->dump(2));
}

Result<pca::PcaModel> FitFromFeatures(const io::Location& features_dir, const JobOptions& options,
                                      json* summary) {
  auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(features_dir));
  ORCHARD_ASSIGN_OR_RAISE(auto stats, StatsOfParts(parts, CoreCount(options)));
  if (stats.count() < 2) {
    return Status::Invalid("PCA needs at least 2 featurized images, got ", stats.count(),
                           ": check the errors table");
  }
  pca::PcaFitOptions fit = options.pca;
  if (fit.k > stats.dim()) {
    return Status::Invalid("--pca-k ", fit.k, " is larger than the feature dimension ",
                           stats.dim());
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model, pca::FitPca(stats, fit));
  (*summary)["seconds"]["fit_pca"] = SecondsSince(start);
  (*summary)["pca"] = PcaSummary(model);
  return model;
}

}  // namespace

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

Result<json> RunJob(const JobOptions& options) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/true));
  json summary = BaseSummary("run", options);
  std::optional<table::OutputCommitter> committer;
  ORCHARD_ASSIGN_OR_RAISE(auto outcome, FeaturizeIntoStaging(options, where, &committer));
  AddFeaturizeSummary(outcome, &summary);
  const io::Location staging = committer->staging();
  ORCHARD_ASSIGN_OR_RAISE(auto model, FitFromFeatures(staging.Child(kFeatures), options, &summary));
  ORCHARD_RETURN_NOT_OK(WritePcaModel(model, staging));
  auto project_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(staging.Child(kFeatures)));
  ORCHARD_RETURN_NOT_OK(ProjectParts(parts, model, staging.Child(kPca), CoreCount(options)));
  summary["seconds"]["project"] = SecondsSince(project_start);
  ORCHARD_RETURN_NOT_OK(WriteSummary(staging, &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(staging));
  ORCHARD_RETURN_NOT_OK(committer->Publish({kFeatures, kErrors, kPca, kPcaModel, kReport}));
  return summary;
}

Result<json> FeaturizeJob(const JobOptions& options) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/true));
  json summary = BaseSummary("featurize", options);
  std::optional<table::OutputCommitter> committer;
  ORCHARD_ASSIGN_OR_RAISE(auto outcome, FeaturizeIntoStaging(options, where, &committer));
  AddFeaturizeSummary(outcome, &summary);
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer->staging(), &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer->staging()));
  ORCHARD_RETURN_NOT_OK(committer->Publish({kFeatures, kErrors, kReport}));
  return summary;
}

Result<json> FitPcaJob(const JobOptions& options) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/false));
  json summary = BaseSummary("fit-pca", options);
  ORCHARD_ASSIGN_OR_RAISE(auto committer, table::OutputCommitter::Begin(
                                              where.output, table::ExistingOutput::kUpdate, ""));
  ORCHARD_ASSIGN_OR_RAISE(auto model,
                          FitFromFeatures(where.output.Child(kFeatures), options, &summary));
  // The scree plot joins the existing report folder: stage a copy of what is there.
  ORCHARD_RETURN_NOT_OK(
      io::MoveTree(where.output.Child(kReport), committer.staging().Child(kReport)));
  ORCHARD_RETURN_NOT_OK(WritePcaModel(model, committer.staging()));
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer.staging(), &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer.staging(), where.output));
  ORCHARD_RETURN_NOT_OK(committer.Publish({kPcaModel, kReport}));
  return summary;
}

Result<json> ProjectJob(const JobOptions& options) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/false));
  json summary = BaseSummary("project", options);
  ORCHARD_ASSIGN_OR_RAISE(auto committer, table::OutputCommitter::Begin(
                                              where.output, table::ExistingOutput::kUpdate, ""));
  auto model_bytes = io::ReadAll(where.output.Child(kPcaModel).Child("model.json"));
  if (!model_bytes.ok()) {
    return Status::Invalid("no PCA model in '", where.output.display,
                           "' (pca_model/model.json): run `orchard fit-pca` first");
  }
  json model_json;
  try {
    model_json = json::parse((*model_bytes)->ToString());
  } catch (const json::exception& error) {
    return Status::Invalid("cannot parse pca_model/model.json: ", error.what());
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model, pca::ModelFromJson(model_json));
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(where.output.Child(kFeatures)));
  auto project_start = Clock::now();
  ORCHARD_RETURN_NOT_OK(
      ProjectParts(parts, model, committer.staging().Child(kPca), CoreCount(options)));
  summary["seconds"]["project"] = SecondsSince(project_start);
  summary["pca"] = PcaSummary(model);
  ORCHARD_RETURN_NOT_OK(
      io::MoveTree(where.output.Child(kReport), committer.staging().Child(kReport)));
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer.staging(), &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer.staging(), where.output));
  ORCHARD_RETURN_NOT_OK(committer.Publish({kPca, kReport}));
  return summary;
}

Result<json> InspectOutput(const std::string& output, const io::StorageOptions& storage) {
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(output, storage));
  ORCHARD_ASSIGN_OR_RAISE(auto root_info, location.fs->GetFileInfo(location.path));
  if (root_info.type() != arrow::fs::FileType::Directory) {
    return Status::IOError("output '", location.display, "' does not exist");
  }
  json result = {{"output", output}};
  ORCHARD_ASSIGN_OR_RAISE(result["complete"], io::FileExists(location.Child(table::kSuccessFile)));
  for (const char* name : {kFeatures, kPca, kErrors}) {
    ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(location.Child(name)));
    if (parts.empty()) continue;
    int64_t rows = 0;
    std::string schema;
    for (const auto& part : parts) {
      ORCHARD_ASSIGN_OR_RAISE(auto file, part.fs->OpenInputFile(part.path));
      ORCHARD_ASSIGN_OR_RAISE(auto reader,
                              parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
      rows += reader->parquet_reader()->metadata()->num_rows();
      if (schema.empty()) {
        std::shared_ptr<arrow::Schema> arrow_schema;
        ORCHARD_RETURN_NOT_OK(reader->GetSchema(&arrow_schema));
        schema = arrow_schema->ToString();
      }
    }
    result["tables"][name] = {{"parts", parts.size()}, {"rows", rows}, {"schema", schema}};
  }
  auto model_bytes = io::ReadAll(location.Child(kPcaModel).Child("model.json"));
  if (model_bytes.ok()) {
    try {
      auto model = json::parse((*model_bytes)->ToString());
      result["pca"] = {
          {"k", model.at("k")},
          {"n", model.at("n")},
          {"dim", model.at("dim")},
          {"variance_threshold", model.at("variance_threshold")},
          {"cumulative_explained_variance_ratio", model.at("cumulative_explained_variance_ratio")}};
    } catch (const json::exception& error) {
      return Status::Invalid("cannot parse pca_model/model.json: ", error.what());
    }
  }
  auto summary_bytes = io::ReadAll(location.Child(kReport).Child("summary.json"));
  if (summary_bytes.ok()) {
    try {
      result["summary"] = json::parse((*summary_bytes)->ToString());
    } catch (const json::exception&) {
      result["summary"] = "unreadable";
    }
  }
  return result;
}

}  // namespace orchard::pipeline
