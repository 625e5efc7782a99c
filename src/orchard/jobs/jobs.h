// The jobs behind the CLI commands (and the Python package): run, featurize, fit-pca,
// project. Each returns the run summary (also written to report/summary.json); front ends
// only parse options and print. `run` and `featurize` are the steps of FeaturizeDriver
// (run_driver.h) in one process: the Spark job runs the same steps with its tasks.
#pragma once

#include "orchard/jobs/inspect.h"  // InspectOutput
#include "orchard/jobs/options.h"
#include "orchard/output/summary.h"
#include "orchard/pipeline/tar_pack.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// The whole pipeline: featurize, fit PCA, project, report, publish.
Result<output::JobSummary> RunJob(const JobOptions& options);
/// Features and errors only (plus report/summary.json).
Result<output::JobSummary> FeaturizeJob(const JobOptions& options);
/// Fits PCA on OUT/features and publishes OUT/pca_model and the scree plot.
Result<output::JobSummary> FitPcaJob(const JobOptions& options);
/// Projects OUT/features with OUT/pca_model into OUT/pca.
Result<output::JobSummary> ProjectJob(const JobOptions& options);
/// `orchard pack`: options.input's images into WebDataset shards in options.output
/// (pipeline::PackShards; the output may not be inside the input, nor the input in it).
Result<pipeline::PackSummary> PackJob(const JobOptions& options, int64_t samples_per_shard);

}  // namespace orchard::jobs
