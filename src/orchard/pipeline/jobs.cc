#include "orchard/pipeline/jobs.h"

#include <chrono>
#include <optional>
#include <vector>

#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/pipeline/job_locations.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/pipeline/shard.h"
#include "orchard/pipeline/staged_featurize.h"
#include "orchard/report/html_report.h"
#include "orchard/table/tables.h"
#include "orchard/util/fault.h"
#include "orchard/util/memory.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::pipeline {
namespace {

using util::Clock;
using util::SecondsSince;

using output::kErrorsDir;
using output::kFeaturesDir;
using output::kPcaDir;
using output::kPcaModelDir;
using output::kReportDir;

// The options with the thread count worked out once, at the job's entry: from here on
// `threads` is the number of cores the job uses.
JobOptions WithThreadCount(const JobOptions& options) {
  JobOptions resolved = options;
  resolved.threads = CoreCount(options.threads);
  return resolved;
}

Result<JobLocations> Locate(const JobOptions& options, bool need_input) {
  return ResolveJobLocations(options.input, options.output, options.storage, need_input);
}

// report/index.html of the staged run. A job that rewrites only part of the output passes
// the output as `rest`: what the job does not stage is read from there.
Status WriteRunReport(const io::Location& staging, std::optional<io::Location> rest = {}) {
  report::HtmlReportOptions options;
  options.fallback_root = std::move(rest);
  return report::WriteHtmlReport(staging, staging.Child(kReportDir).Child("index.html"), options);
}

output::PcaSummary SummaryOf(const pca::PcaModel& model) {
  output::PcaSummary summary;
  summary.k = model.k;
  summary.n = model.count;
  summary.dim = model.dim;
  summary.variance_threshold = model.variance_threshold;
  summary.cumulative_explained_variance_ratio = model.CumulativeRatio(model.k);
  return summary;
}

output::JobSummary BaseSummary(const std::string& command, const JobOptions& options) {
  output::JobSummary summary;
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

void AddFeaturizeSummary(const StagedFeaturize& staged, output::JobSummary* summary) {
  summary->featurize = SummaryOf(staged);
  summary->seconds["list"] = staged.list_seconds;
  summary->seconds["featurize"] = staged.stats.wall_seconds;
}

Status WriteSummary(const io::Location& staging, output::JobSummary* summary,
                    Clock::time_point start) {
  summary->seconds["total"] = SecondsSince(start);
  summary->peak_rss_mib = util::PeakRssMiB();
  return io::WriteAll(staging.Child(output::kSummaryJson), util::DumpJson(ToJson(*summary), 2));
}

Result<pca::PcaModel> FitFromStats(const pca::PcaStats& stats, const JobOptions& options,
                                   output::JobSummary* summary) {
  const auto start = Clock::now();
  if (stats.count() < 2) {
    return Status::Invalid("PCA needs at least 2 featurized images, got ", stats.count(),
                           ": check the errors table");
  }
  if (options.pca.k > stats.dim()) {
    return Status::Invalid("--pca-k ", options.pca.k, " is larger than the feature dimension ",
                           stats.dim());
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model, pca::FitPca(stats, options.pca));
  summary->seconds["fit_pca"] = SecondsSince(start);
  summary->pca = SummaryOf(model);
  return model;
}

// A job that updates a published output (fit-pca, project) stages a copy of its report
// folder, not the folder itself: until Publish, the published output must stay whole.
// Crash points are named "<command>:<step>" (util::MaybeDieAt).
Status StageReportCopy(const JobLocations& where, const table::OutputCommitter& committer,
                       const std::string& command) {
  ORCHARD_RETURN_NOT_OK(
      io::CopyTree(where.output.Child(kReportDir), committer.staging().Child(kReportDir)));
  util::MaybeDieAt(command + ":after-report-copy");
  return Status::OK();
}

// The end of an update: the summary and index.html are rewritten, and `dirs` with the
// report replace their published versions in one publish.
Status FinishUpdate(const JobLocations& where, table::OutputCommitter* committer,
                    output::JobSummary* summary, Clock::time_point start,
                    std::vector<std::string> dirs) {
  const std::string& command = summary->command;
  const io::Location staging = committer->staging();
  ORCHARD_RETURN_NOT_OK(WriteSummary(staging, summary, start));
  util::MaybeDieAt(command + ":after-summary");
  ORCHARD_RETURN_NOT_OK(WriteRunReport(staging, where.output));
  util::MaybeDieAt(command + ":after-html-report");
  dirs.push_back(kReportDir);
  ORCHARD_RETURN_NOT_OK(committer->Publish(dirs));
  util::MaybeDieAt(command + ":published");
  return Status::OK();
}

}  // namespace

Result<output::JobSummary> RunJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, Locate(options, /*need_input=*/true));
  output::JobSummary summary = BaseSummary("run", options);
  std::optional<table::OutputCommitter> committer;
  ORCHARD_ASSIGN_OR_RAISE(auto staged, FeaturizeIntoStaging(options, where, &committer));
  AddFeaturizeSummary(staged, &summary);
  const io::Location staging = committer->staging();
  ORCHARD_ASSIGN_OR_RAISE(auto model, FitFromStats(staged.pca, options, &summary));
  ORCHARD_RETURN_NOT_OK(output::WritePcaModel(model, staging));
  const auto project_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(staging.Child(kFeaturesDir)));
  ORCHARD_RETURN_NOT_OK(ProjectParts(parts, model, staging.Child(kPcaDir), options.threads));
  summary.seconds["project"] = SecondsSince(project_start);
  ORCHARD_RETURN_NOT_OK(WriteSummary(staging, &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(staging));
  ORCHARD_RETURN_NOT_OK(
      committer->Publish({kFeaturesDir, kErrorsDir, kPcaDir, kPcaModelDir, kReportDir}));
  return summary;
}

Result<output::JobSummary> FeaturizeJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, Locate(options, /*need_input=*/true));
  output::JobSummary summary = BaseSummary("featurize", options);
  std::optional<table::OutputCommitter> committer;
  ORCHARD_ASSIGN_OR_RAISE(auto staged, FeaturizeIntoStaging(options, where, &committer));
  AddFeaturizeSummary(staged, &summary);
  ORCHARD_RETURN_NOT_OK(WriteSummary(committer->staging(), &summary, start));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(committer->staging()));
  ORCHARD_RETURN_NOT_OK(committer->Publish({kFeaturesDir, kErrorsDir, kReportDir}));
  return summary;
}

Result<output::JobSummary> FitPcaJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, Locate(options, /*need_input=*/false));
  output::JobSummary summary = BaseSummary("fit-pca", options);
  ORCHARD_ASSIGN_OR_RAISE(
      auto committer,
      table::OutputCommitter::Begin(where.output, table::ExistingOutput::kUpdate, "", nullptr));
  util::MaybeDieAt("fit-pca:begun");
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(where.output.Child(kFeaturesDir)));
  ORCHARD_ASSIGN_OR_RAISE(auto stats, StatsOfParts(parts, options.threads));
  ORCHARD_ASSIGN_OR_RAISE(auto model, FitFromStats(stats, options, &summary));
  util::MaybeDieAt("fit-pca:after-fit");
  // The copy first: the new scree plot replaces the copied one.
  ORCHARD_RETURN_NOT_OK(StageReportCopy(where, committer, summary.command));
  ORCHARD_RETURN_NOT_OK(output::WritePcaModel(model, committer.staging()));
  util::MaybeDieAt("fit-pca:after-model");
  ORCHARD_RETURN_NOT_OK(FinishUpdate(where, &committer, &summary, start, {kPcaModelDir}));
  return summary;
}

Result<output::JobSummary> ProjectJob(const JobOptions& requested) {
  const JobOptions options = WithThreadCount(requested);
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto where, Locate(options, /*need_input=*/false));
  output::JobSummary summary = BaseSummary("project", options);
  ORCHARD_ASSIGN_OR_RAISE(
      auto committer,
      table::OutputCommitter::Begin(where.output, table::ExistingOutput::kUpdate, "", nullptr));
  util::MaybeDieAt("project:begun");
  ORCHARD_ASSIGN_OR_RAISE(auto model, output::ReadPcaModel(where.output));
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(where.output.Child(kFeaturesDir)));
  const auto project_start = Clock::now();
  ORCHARD_RETURN_NOT_OK(
      ProjectParts(parts, model, committer.staging().Child(kPcaDir), options.threads));
  util::MaybeDieAt("project:after-project");
  summary.seconds["project"] = SecondsSince(project_start);
  summary.pca = SummaryOf(model);
  ORCHARD_RETURN_NOT_OK(StageReportCopy(where, committer, summary.command));
  ORCHARD_RETURN_NOT_OK(FinishUpdate(where, &committer, &summary, start, {kPcaDir}));
  return summary;
}

}  // namespace orchard::pipeline
