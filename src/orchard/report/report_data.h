// What the run report is made of: the files of an output folder read into typed structs
// (the summary through output::SummaryFromJson, the PCA model through pca::ModelFromJson,
// the tables through table::ParquetReader). Rendering (page.h, sections.h) reads only
// these structs, never a file or a JSON document.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca.h"
#include "orchard/report/html_report.h"
#include "orchard/table/tables.h"

namespace orchard::report {

/// The Run section's facts, from whichever job wrote report/summary.json: a pipeline job
/// (output::JobSummary) or `orchard predict` / the Spark predict job.
struct RunFacts {
  std::string orchard_version, command, input, output, model_path, model_sha256;
  struct Images {
    int64_t listed = 0, ok = 0, failed = 0;
    double per_second = 0;
  };
  std::optional<Images> images;
  std::optional<int64_t> threads;      ///< the CLI's; unset for the Spark jobs
  std::optional<double> peak_rss_mib;  ///< unset where the job did not record it
  std::optional<output::EngineSummary> engine;
  std::map<std::string, double> seconds;       ///< wall seconds per step
  std::map<std::string, double> busy_seconds;  ///< per stage, all threads; may be empty
};

RunFacts FactsOf(const output::JobSummary& summary);

/// Metrics of predictions with labels, as the page shows them: an output's own
/// report/metrics.json (classify::PredictMetrics, read by its FromJson), or a file given in
/// HtmlReportOptions::metrics in one of the shapes documented there (MetricsFromJson).
struct ReportMetrics {
  std::optional<double> accuracy, top5_accuracy;
  std::optional<int64_t> labelled;   ///< "labelled_rows" (orchard predict) or "n"
  std::vector<std::string> classes;  ///< confusion-matrix order
  struct ClassScore {
    std::string name;
    double precision, recall, f1, support;  ///< NaN where the file has none
  };
  std::vector<ClassScore> per_class;                          ///< in the file's order
  std::optional<std::vector<std::vector<double>>> confusion;  ///< rows: true class
};

/// Reads a metrics file given by the caller (HtmlReportOptions::metrics); `source` names it
/// in messages. Never throws.
Result<ReportMetrics> MetricsFromJson(const nlohmann::json& document, const std::string& source);

/// Reads report/summary.json of any job into the Run section's facts (a predict summary
/// by its own typed reader, every other through output::SummaryFromJson). Never throws.
Result<RunFacts> RunFactsFromJson(const nlohmann::json& document, const std::string& source);

/// Everything the page shows. Every part is optional; `notes` says what could not be read.
struct ReportData {
  std::optional<RunFacts> summary;
  std::optional<pca::PcaModel> model;
  /// Images per class, from the features table's label column.
  std::map<std::string, int64_t> class_counts;
  bool have_features = false;
  /// A point of the PCA sample.
  struct Sampled {
    uint64_t hash = 0;
    double x = 0, y = 0;
    std::string label, path;
    bool operator<(const Sampled& other) const {
      return hash != other.hash ? hash < other.hash : path < other.path;
    }
  };
  std::vector<Sampled> sample;  ///< sorted by hash
  int64_t pca_rows = 0;
  bool have_pca = false;
  std::map<std::string, int64_t> errors_per_stage;
  std::vector<table::ErrorRecord> first_errors;  ///< messages cut to kMaxMessageBytes
  int64_t error_count = 0;
  std::optional<ReportMetrics> metrics;
  std::vector<std::string> notes;
};

/// Error messages kept per row (a message can be megabytes).
inline constexpr size_t kMaxMessageBytes = 400;

/// Reads what the report of `root` shows (see RenderHtmlReport). A file that cannot be
/// read becomes a note; never fails. Reads are bounded: the pca table is read one part at
/// a time and only a sample of it is kept.
ReportData GatherReportData(const io::Location& root, const HtmlReportOptions& options);

}  // namespace orchard::report
