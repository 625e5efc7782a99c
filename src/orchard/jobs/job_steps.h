// Steps the jobs share (jobs.cc, run_driver.cc, train_job.cc, predict_job.cc): the
// summary's common part, writing it, the report page of a staged output, the PCA fit with
// its checks and its files, the embedding model an earlier output was made with. Internal
// to jobs/ (and the Python extension's PCA files).
#pragma once

#include <optional>
#include <string>

#include "orchard/io/storage.h"
#include "orchard/jobs/options.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca.h"
#include "orchard/util/status.h"
#include "orchard/util/stopwatch.h"

namespace orchard::jobs {

/// The fields every job's summary has.
output::JobSummary BaseSummary(const std::string& command, const JobOptions& options);

/// The PCA section of a summary.
output::PcaSummary SummaryOf(const pca::PcaModel& model);

/// Adds the total time and peak memory, writes staging/report/summary.json.
Status WriteSummary(const io::Location& staging, output::JobSummary* summary,
                    util::Clock::time_point start);

/// report/index.html of the staged output. A job that rewrites only part of the output
/// passes the output as `rest`: what the job does not stage is read from there.
Status WriteRunReport(const io::Location& staging, std::optional<io::Location> rest = {});

/// Fits PCA on `stats` as `options.pca` asks, refusing too few rows or a k above the
/// width; records the time and the PCA section in `summary`.
Result<pca::PcaModel> FitFromStats(const pca::PcaStats& stats, const JobOptions& options,
                                   output::JobSummary* summary);

/// Writes the PCA model files (output::WritePcaModel: pca_model/model.json and
/// components.parquet) and the scree plot (report/scree.svg) below `root` (a staging
/// folder). Here, not in output/, because the chart is drawn by the report layer.
Status WritePcaFiles(const pca::PcaModel& model, const io::Location& root);

/// The embedding model's sha256 recorded by the run that wrote `output`
/// (report/summary.json), or "" when there is none.
std::string RecordedModelSha256(const io::Location& output);

}  // namespace orchard::jobs
