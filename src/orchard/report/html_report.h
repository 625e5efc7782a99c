// The run report, report/index.html: one self-contained HTML file (inline CSS and SVG, no
// script, nothing loaded from anywhere) built from the contents of an output folder, so
// that every front end (CLI jobs, the Spark driver, a user re-rendering an old output)
// makes the same report from the same files.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::report {

struct HtmlReportOptions {
  /// Where to look for what `root` lacks. A job that rewrites only part of an output (fit-pca,
  /// project) stages just that part; the rest is read from the published output.
  std::optional<io::Location> fallback_root;
  /// Metrics of predictions with labels from another tool. Unset: `<root>/report/metrics.json`
  /// when it exists, read strictly as orchard predict writes it (classify::PredictMetrics).
  /// A file given here may have this shape (extra keys are ignored, every key is optional):
  ///   {"accuracy": 0.97, "top5_accuracy": 0.99, "n": 1234,
  ///    "classes": ["Apple", ...],
  ///    "per_class": [{"class": "Apple", "precision": .9, "recall": .8, "f1": .85,
  ///                   "support": 40}, ...]      (or an object keyed by class name)
  ///    "confusion_matrix": [[...], ...]}         (rows: true class, columns: predicted,
  ///                                               both in "classes" order; or an object
  ///                                               {"classes"|"labels": [...],
  ///                                                "matrix"|"counts": [[...]]})
  std::optional<io::Location> metrics;
  /// At most this many points in the PCA scatter, chosen by a hash of the image path (the
  /// same points whatever the partitioning, run after run).
  int64_t max_scatter_points = 5000;
  /// Error rows listed in full (all are counted).
  int64_t max_error_rows = 100;
  /// Classes named (and coloured) in the scatter legend; the others are grey.
  int max_named_classes = 10;
};

/// Renders the report of the output folder `root`: report/summary.json,
/// pca_model/model.json, the pca table (first two components and labels), the features
/// table's label column, the errors table and optional predict metrics. Every input is
/// optional: what is missing is left out of the page (what cannot be read is named in a
/// note on it). Fails only when `target` cannot be written. Reads are bounded: the pca
/// table is read one part at a time and only a sample of it is kept. Thread-compatible.
Status WriteHtmlReport(const io::Location& root, const io::Location& target,
                       const HtmlReportOptions& options = {});

/// The HTML itself (what WriteHtmlReport writes).
Result<std::string> RenderHtmlReport(const io::Location& root,
                                     const HtmlReportOptions& options = {});

}  // namespace orchard::report
