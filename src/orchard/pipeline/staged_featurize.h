// The featurize step of the `run` and `featurize` jobs: list the input, load the model,
// begin the output commit (refuse, overwrite or resume) and featurize every image into the
// staging folder as one shard, with the progress line and warnings the options ask for.
// What comes after (PCA, report, publish) is the job's.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "orchard/output/summary.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/job_locations.h"
#include "orchard/pipeline/jobs.h"
#include "orchard/pipeline/progress.h"
#include "orchard/table/commit.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// The featurize options of a job (`options.threads` already a core count), with its
/// progress line and its first warnings wired in; later warnings are only in the errors
/// table. Not copyable: the callbacks point into it.
class ReportedFeaturizeOptions {
 public:
  ReportedFeaturizeOptions(const JobOptions& options, int64_t images_to_do);
  ReportedFeaturizeOptions(const ReportedFeaturizeOptions&) = delete;
  ReportedFeaturizeOptions& operator=(const ReportedFeaturizeOptions&) = delete;

  const FeaturizeOptions& get() const { return featurize_; }
  /// Draws the final progress line.
  void Finish() { progress_.Finish(); }

 private:
  void Warn(const table::ErrorRecord& error);

  std::function<void(const std::string&)> warn_;
  ProgressLine progress_;
  std::atomic<int64_t> warnings_{0};
  FeaturizeOptions featurize_;
};

/// The featurize options the job options ask for, without reporting.
FeaturizeOptions FeaturizeOptionsOf(const JobOptions& options);

struct StagedFeaturize {
  FeaturizeStats stats;
  pca::PcaStats pca;  ///< of every featurized row, rows of reused parts included
  int64_t listed = 0;
  double list_seconds = 0;
  std::string model_sha256;
  int64_t dim = 0;
};

/// Featurizes `where.input` into the staging folder of a commit begun on `where.output`
/// (`*committer` holds it on return, also on failure after it began, so the caller decides
/// what to publish). `options.threads` must already be a core count (CoreCount).
Result<StagedFeaturize> FeaturizeIntoStaging(const JobOptions& options, const JobLocations& where,
                                             std::optional<table::OutputCommitter>* committer);

/// The images section of the run summary.
output::FeaturizeSummary SummaryOf(const StagedFeaturize& staged);

}  // namespace orchard::pipeline
