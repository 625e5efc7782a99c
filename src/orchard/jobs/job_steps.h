// Steps the jobs share (jobs.cc, run_driver.cc, train_job.cc, predict_job.cc): the
// summary's common part, writing it, the report page of a staged output, the PCA fit with
// its checks and its files, the embedding model an earlier output was made with. Internal
// to jobs/ (and the Python extension's PCA files).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/jobs/options.h"
#include "orchard/model/embedder.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca.h"
#include "orchard/table/tables.h"
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

/// The rows of `parts` of a vector table (`column` its vector column) in one VectorRows,
/// read on `threads` threads and kept in the order given; refuses parts of different widths,
/// naming the first that differs.
Result<table::VectorRows> ReadVectorParts(const std::vector<io::Location>& parts,
                                          const std::string& column, int threads);

/// Every part of a vector table (features/ or pca/) in one VectorRows, in part order.
Result<table::VectorRows> ReadVectorTable(const io::Location& folder, const std::string& column,
                                          int threads);

/// Files named by a user (local paths or URIs), read and embedded for single-image
/// commands (`predict FILE...`, `search -x INDEX FILE...`).
struct EmbeddedFiles {
  std::vector<std::string> errors;  ///< per file: "" when embedded, else "<stage>: message"
  std::vector<float> features;      ///< the embedded files' rows (file_of_row.size() x dim)
  std::vector<size_t> file_of_row;  ///< the file each row of `features` is of
};

/// Reads each file (a FIFO, folder or device refused before it is opened, a file over
/// options.max_file_bytes before it is read) and embeds the readable ones with `embedder`,
/// as the pipeline would; a file that fails gets its error, the others their rows.
Result<EmbeddedFiles> EmbedNamedFiles(const std::vector<std::string>& files,
                                      const model::Embedder& embedder, const JobOptions& options);

/// The embedding model's sha256 recorded by the run that wrote `output`
/// (report/summary.json), or "" when there is none.
std::string RecordedModelSha256(const io::Location& output);

}  // namespace orchard::jobs
