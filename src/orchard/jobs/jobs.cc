#include "orchard/jobs/jobs.h"

#include <string>
#include <vector>

#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/pipeline/shard.h"
#include "orchard/table/tables.h"
#include "orchard/util/fault.h"
#include "orchard/util/stopwatch.h"

namespace orchard::jobs {
namespace {

using output::JobSummary;
using util::Clock;
using util::SecondsSince;

using output::kFeaturesDir;
using output::kPcaDir;
using output::kPcaModelDir;
using output::kReportDir;

// `run` and `featurize`: the driver's steps in this process, one shard holding every part.
Result<JobSummary> RunFeaturizeSteps(const JobOptions& requested, FeaturizeJobKind kind,
                                     const std::string& command) {
  ORCHARD_ASSIGN_OR_RAISE(auto driver, FeaturizeDriver::Begin(requested, kind, command,
                                                              /*num_shards=*/1, requested.threads));
  const JobOptions& options = driver->options();
  ReportedFeaturizeOptions reported(options, driver->images_to_do());
  // One shard holding every part (none when an update has nothing to featurize).
  pipeline::ShardOutcome shard;
  for (const auto& plan : driver->shards()) {
    ORCHARD_ASSIGN_OR_RAISE(
        shard, pipeline::FeaturizeShard(driver->RangeOf(plan), driver->locations().input,
                                        driver->embedder(), driver->featurize_staging(),
                                        reported.get(), options.threads));
  }
  reported.Finish();
  const double featurize_seconds = shard.stats.wall_seconds;
  ORCHARD_RETURN_NOT_OK(driver->FinishFeaturize(std::move(shard), featurize_seconds));
  if (kind == FeaturizeJobKind::kRun) {
    ORCHARD_ASSIGN_OR_RAISE(auto model, driver->FitPca());
    const auto project_start = Clock::now();
    const io::Location staging = driver->staging();
    ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(staging.Child(kFeaturesDir)));
    ORCHARD_RETURN_NOT_OK(
        pipeline::ProjectParts(parts, model, staging.Child(kPcaDir), options.threads));
    driver->FinishProject(SecondsSince(project_start));
  }
  return driver->Finish();
}

// A job that updates a published output (fit-pca, project) stages a copy of its report
// folder, not the folder itself: until Publish, the published output must stay whole.
// Crash points are named "<command>:<step>" (util::MaybeDieAt).
Status StageReportCopy(const JobLocations& where, const output::OutputCommitter& committer,
                       const std::string& command) {
  ORCHARD_RETURN_NOT_OK(
      io::CopyTree(where.output.Child(kReportDir), committer.staging().Child(kReportDir)));
  util::MaybeDieAt(command + ":after-report-copy");
  return Status::OK();
}

// The end of an update: the summary and index.html are rewritten, and `dirs` with the
// report replace their published versions in one publish.
Status FinishUpdate(const JobLocations& where, output::OutputCommitter* committer,
                    JobSummary* summary, Clock::time_point start, std::vector<std::string> dirs) {
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

// The start every job that updates a finished output (fit-pca, project) shares: its
// options resolved, its output located and begun for an update (crash recovery first).
struct UpdateJob {
  Clock::time_point start;
  JobOptions options;
  JobLocations where;
  JobSummary summary;
  output::OutputCommitter committer;
};

Result<UpdateJob> BeginUpdate(const JobOptions& requested, const std::string& command) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(JobOptions options, ResolveJobOptions(requested));
  ORCHARD_ASSIGN_OR_RAISE(auto where,
                          ResolveJobLocations(options.input, options.output, options.storage,
                                              /*need_input=*/false));
  JobSummary summary = BaseSummary(command, options);
  ORCHARD_ASSIGN_OR_RAISE(
      auto committer,
      output::OutputCommitter::Begin(where.output, output::ExistingOutput::kUpdate, "", nullptr));
  util::MaybeDieAt(command + ":begun");
  return UpdateJob{start, std::move(options), std::move(where), std::move(summary),
                   std::move(committer)};
}

}  // namespace

Result<JobSummary> RunJob(const JobOptions& options) {
  return RunFeaturizeSteps(options, FeaturizeJobKind::kRun, "run");
}

Result<JobSummary> FeaturizeJob(const JobOptions& options) {
  return RunFeaturizeSteps(options, FeaturizeJobKind::kFeaturize, "featurize");
}

Result<JobSummary> FitPcaJob(const JobOptions& requested) {
  ORCHARD_ASSIGN_OR_RAISE(auto job, BeginUpdate(requested, "fit-pca"));
  auto& [start, options, where, summary, committer] = job;
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(where.output.Child(kFeaturesDir)));
  ORCHARD_ASSIGN_OR_RAISE(auto stats, pipeline::StatsOfParts(parts, options.threads));
  ORCHARD_ASSIGN_OR_RAISE(auto model, FitFromStats(stats, options, &summary));
  util::MaybeDieAt("fit-pca:after-fit");
  // The copy first: the new scree plot replaces the copied one.
  ORCHARD_RETURN_NOT_OK(StageReportCopy(where, committer, summary.command));
  ORCHARD_RETURN_NOT_OK(WritePcaFiles(model, committer.staging()));
  util::MaybeDieAt("fit-pca:after-model");
  ORCHARD_RETURN_NOT_OK(FinishUpdate(where, &committer, &summary, start, {kPcaModelDir}));
  return summary;
}

Result<JobSummary> ProjectJob(const JobOptions& requested) {
  ORCHARD_ASSIGN_OR_RAISE(auto job, BeginUpdate(requested, "project"));
  auto& [start, options, where, summary, committer] = job;
  ORCHARD_ASSIGN_OR_RAISE(auto model, output::ReadPcaModel(where.output));
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(where.output.Child(kFeaturesDir)));
  const auto project_start = Clock::now();
  ORCHARD_RETURN_NOT_OK(
      pipeline::ProjectParts(parts, model, committer.staging().Child(kPcaDir), options.threads));
  util::MaybeDieAt("project:after-project");
  summary.seconds["project"] = SecondsSince(project_start);
  summary.pca = SummaryOf(model);
  ORCHARD_RETURN_NOT_OK(StageReportCopy(where, committer, summary.command));
  ORCHARD_RETURN_NOT_OK(FinishUpdate(where, &committer, &summary, start, {kPcaDir}));
  return summary;
}

Result<pipeline::PackSummary> PackJob(const JobOptions& options, int64_t samples_per_shard) {
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveJobLocations(options.input, options.output,
                                                          options.storage, /*need_input=*/true));
  return pipeline::PackShards(where.input, where.output, samples_per_shard, options.max_file_bytes);
}

}  // namespace orchard::jobs
