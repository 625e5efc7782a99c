#include "orchard/pipeline/jobs.h"

#include <arrow/api.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/pipeline/progress.h"
#include "orchard/pipeline/shard.h"
#include "orchard/report/html_report.h"
#include "orchard/report/report.h"
#include "orchard/table/tables.h"
#include "orchard/util/fault.h"
#include "orchard/util/sha256.h"
#include "orchard/version.h"

namespace orchard::pipeline {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

using output::kErrorsDir;
using output::kFeaturesDir;
using output::kPcaDir;
using output::kPcaModelDir;
using output::kReportDir;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The options with the thread count worked out once, at the job's entry: from here on
// `threads` is the number of cores the job uses.
JobOptions WithThreadCount(const JobOptions& options) {
  JobOptions resolved = options;
  resolved.threads = CoreCount(options.threads);
  return resolved;
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

// report/index.html of the staged run. A job that rewrites only part of the output passes
// the output as `rest`: what the job does not stage is read from there.
Status WriteRunReport(const io::Location& staging, std::optional<io::Location> rest = {}) {
  report::HtmlReportOptions options;
  options.fallback_root = std::move(rest);
  return report::WriteHtmlReport(staging, staging.Child(kReportDir).Child("index.html"), options);
}

PcaSummary SummaryOf(const pca::PcaModel& model) {
  PcaSummary summary;
  summary.k = model.k;
  summary.n = model.count;
  summary.dim = model.dim;
  summary.variance_threshold = model.variance_threshold;
  summary.cumulative_explained_variance_ratio = model.CumulativeRatio(model.k);
  return summary;
}

// Progress and warnings of the featurize stage, wired to the options' callbacks.
struct StageReporting {
  std::unique_ptr<ProgressLine> progress;
  std::atomic<int64_t> warnings{0};
};

constexpr int64_t kMaxWarnings = 20;

struct FeaturizeOutcome {
  FeaturizeStats stats;
  pca::PcaStats pca;  ///< of every featurized row
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
  featurize.prep_threads = std::max(1, options.threads / 2);
  const int64_t rows_per_part = EffectiveRowsPerPart(featurize);

  ORCHARD_ASSIGN_OR_RAISE(
      auto begun, table::OutputCommitter::Begin(
                      where.output, options.existing,
                      JobFingerprint(items, embedder->info().sha256, embedder->info().output_name,
                                     rows_per_part, options.batch_size, options.max_pixels)));
  committer->emplace(std::move(begun));
  const io::Location staging = (*committer)->staging();
  // Parts an interrupted run finished are reused (FeaturizeShard); the progress line counts
  // only the rest.
  int64_t reused_rows = 0;
  if ((*committer)->resuming()) {
    ORCHARD_ASSIGN_OR_RAISE(auto done_parts, table::ListParts(staging.Child(kFeaturesDir)));
    reused_rows =
        std::min<int64_t>(outcome.listed, static_cast<int64_t>(done_parts.size()) * rows_per_part);
  }

  StageReporting reporting;
  reporting.progress =
      std::make_unique<ProgressLine>("featurize", outcome.listed - reused_rows, options.progress);
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
  ORCHARD_ASSIGN_OR_RAISE(auto shard, FeaturizeShard(items, where.input, *embedder, staging,
                                                     featurize, options.threads));
  reporting.progress->Finish();
  outcome.stats = std::move(shard.stats);
  outcome.pca = std::move(shard.pca);
  ORCHARD_RETURN_NOT_OK(table::EnsureErrorsTable(staging.Child(kErrorsDir)));
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

JobSummary BaseSummary(const std::string& command, const JobOptions& options) {
  JobSummary summary;
  summary.orchard_version = kVersion;
  summary.command = command;
  summary.input = options.input;
  summary.output = options.output;
  summary.model_path = options.model;
  summary.model_output = options.output_name;
  summary.threads = options.threads;
  summary.batch_size = options.batch_size;
  return summary;
}

void AddFeaturizeSummary(const FeaturizeOutcome& outcome, JobSummary* summary) {
  const auto& stats = outcome.stats;
  FeaturizeSummary featurize;
  featurize.model_sha256 = outcome.model_sha256;
  featurize.model_dim = outcome.dim;
  featurize.listed = outcome.listed;
  featurize.ok = stats.ok;
  featurize.failed = stats.failed;
  featurize.reused_from_interrupted_run = stats.images_reused;
  featurize.images_per_second =
      stats.wall_seconds > 0 ? static_cast<double>(stats.images) / stats.wall_seconds : 0.0;
  featurize.read_seconds = stats.read_seconds;
  featurize.decode_seconds = stats.decode_seconds;
  featurize.embed_seconds = stats.embed_seconds;
  featurize.write_seconds = stats.write_seconds;
  summary->featurize = featurize;
  summary->seconds["list"] = outcome.list_seconds;
  summary->seconds["featurize"] = stats.wall_seconds;
}

Status WriteSummary(const io::Location& staging, JobSummary* summary, Clock::time_point start) {
  summary->seconds["total"] = SecondsSince(start);
  summary->peak_rss_mib = PeakRssMiB();
  return io::WriteAll(staging.Child(output::kSummaryJson), ToJson(*summary).dump(2));
}

Result<pca::PcaModel> FitFromStats(const pca::PcaStats& stats, const JobOptions& options,
                                   Clock::time_point start, JobSummary* summary) {
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
  summary->seconds["fit_pca"] = SecondsSince(start);
  summary->pca = SummaryOf(model);
  return model;
}

Result<pca::PcaModel> FitFromFeatures(const io::Location& features_dir, const JobOptions& options,
                                      JobSummary* summary) {
  auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(features_dir));
  ORCHARD_ASSIGN_OR_RAISE(auto stats, StatsOfParts(parts, options.threads));
  return FitFromStats(stats, options, start, summary);
}

}  // namespace

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

Result<JobSummary> RunJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/true));
  JobSummary summary = BaseSummary("run", options);
  std::optional<table::OutputCommitter> committer;
  ORCHARD_ASSIGN_OR_RAISE(auto outcome, FeaturizeIntoStaging(options, where, &committer));
  AddFeaturizeSummary(outcome, &summary);
  const io::Location staging = committer->staging();
  ORCHARD_ASSIGN_OR_RAISE(auto model, FitFromStats(outcome.pca, options, Clock::now(), &summary));
  ORCHARD_RETURN_NOT_OK(output::WritePcaModel(model, staging));
  auto project_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(staging.Child(kFeaturesDir)));
  ORCHARD_RETURN_NOT_OK(ProjectParts(parts, model, staging.Child(kPcaDir), options.threads));
  summary.seconds["project"] = SecondsSince(project_start);
  ORCHARD_RETURN_NOT_OK(WriteSummary(staging, &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(staging));
  ORCHARD_RETURN_NOT_OK(
      committer->Publish({kFeaturesDir, kErrorsDir, kPcaDir, kPcaModelDir, kReportDir}));
  return summary;
}

Result<JobSummary> FeaturizeJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/true));
  JobSummary summary = BaseSummary("featurize", options);
  std::optional<table::OutputCommitter> committer;
  ORCHARD_ASSIGN_OR_RAISE(auto outcome, FeaturizeIntoStaging(options, where, &committer));
  AddFeaturizeSummary(outcome, &summary);
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer->staging(), &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer->staging()));
  ORCHARD_RETURN_NOT_OK(committer->Publish({kFeaturesDir, kErrorsDir, kReportDir}));
  return summary;
}

Result<JobSummary> FitPcaJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/false));
  JobSummary summary = BaseSummary("fit-pca", options);
  ORCHARD_ASSIGN_OR_RAISE(auto committer, table::OutputCommitter::Begin(
                                              where.output, table::ExistingOutput::kUpdate, ""));
  util::MaybeDieAt("fit-pca:begun");
  ORCHARD_ASSIGN_OR_RAISE(auto model,
                          FitFromFeatures(where.output.Child(kFeaturesDir), options, &summary));
  util::MaybeDieAt("fit-pca:after-fit");
  // The scree plot joins the existing report folder: stage a copy of what is there (a copy:
  // until Publish, the published output must stay whole).
  ORCHARD_RETURN_NOT_OK(
      io::CopyTree(where.output.Child(kReportDir), committer.staging().Child(kReportDir)));
  util::MaybeDieAt("fit-pca:after-report-copy");
  ORCHARD_RETURN_NOT_OK(output::WritePcaModel(model, committer.staging()));
  util::MaybeDieAt("fit-pca:after-model");
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer.staging(), &summary, start));
  util::MaybeDieAt("fit-pca:after-summary");
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer.staging(), where.output));
  util::MaybeDieAt("fit-pca:after-html-report");
  ORCHARD_RETURN_NOT_OK(committer.Publish({kPcaModelDir, kReportDir}));
  util::MaybeDieAt("fit-pca:published");
  return summary;
}

Result<JobSummary> ProjectJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveBoth(options, /*need_input=*/false));
  JobSummary summary = BaseSummary("project", options);
  ORCHARD_ASSIGN_OR_RAISE(auto committer, table::OutputCommitter::Begin(
                                              where.output, table::ExistingOutput::kUpdate, ""));
  util::MaybeDieAt("project:begun");
  auto model_bytes = io::ReadAll(where.output.Child(output::kModelJson));
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
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(where.output.Child(kFeaturesDir)));
  auto project_start = Clock::now();
  ORCHARD_RETURN_NOT_OK(
      ProjectParts(parts, model, committer.staging().Child(kPcaDir), options.threads));
  util::MaybeDieAt("project:after-project");
  summary.seconds["project"] = SecondsSince(project_start);
  summary.pca = SummaryOf(model);
  ORCHARD_RETURN_NOT_OK(
      io::CopyTree(where.output.Child(kReportDir), committer.staging().Child(kReportDir)));
  util::MaybeDieAt("project:after-report-copy");
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer.staging(), &summary, start));
  util::MaybeDieAt("project:after-summary");
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer.staging(), where.output));
  util::MaybeDieAt("project:after-html-report");
  ORCHARD_RETURN_NOT_OK(committer.Publish({kPcaDir, kReportDir}));
  util::MaybeDieAt("project:published");
  return summary;
}

}  // namespace orchard::pipeline
