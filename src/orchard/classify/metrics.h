// The metrics of a prediction pass (issue 13): counts that add up over parts (or Spark
// tasks) and the report/metrics.json computed from their sum. Both are typed structs with
// ToJson and FromJson: the jobs use the structs and serialize only at the edge (the file,
// the Spark task results), and FromJson reads back exactly what ToJson writes.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/util/status.h"

namespace orchard::classify {

/// What report/metrics.json is computed from: counts that add up, so that the predictions
/// of parts (or of Spark tasks) can be counted apart and merged in any order.
struct PredictionCounts {
  int64_t rows = 0;  ///< every predicted row, labelled or not
  /// classes x classes, row-major: rows of true class i predicted as class j (rows whose
  /// label the classifier knows).
  std::vector<int64_t> confusion;
  int64_t top_correct = 0;  ///< labelled rows whose true class is in the top k
  std::map<std::string, int64_t> unknown_labels;  ///< rows per label the classifier lacks

  /// Empty counts for a classifier of `num_classes` classes (a zero confusion matrix).
  static PredictionCounts Zero(int64_t num_classes);

  /// Counts one scored row of a classifier of `num_classes` classes (the confusion matrix
  /// has their square): `true_class` is the index of its label among the classes, or -1
  /// for a label the classifier lacks (counted under `label`); `top` holds the best
  /// classes, best first (at least one).
  void Add(const std::string& label, int64_t true_class, const std::vector<int64_t>& top,
           int64_t num_classes);

  /// Adds `other` (same classifier); fails on a confusion matrix of another size.
  Status Merge(const PredictionCounts& other);
  nlohmann::json ToJson() const;
  /// Refuses a missing field, a field of the wrong type or a negative count, naming it.
  static Result<PredictionCounts> FromJson(const nlohmann::json& json);
};

/// Precision, recall and F1 of one class over the labelled rows.
struct ClassMetrics {
  double precision = 0;  ///< of the rows predicted as the class, the share that are
  double recall = 0;     ///< of the rows of the class, the share predicted as it
  double f1 = 0;         ///< harmonic mean of the two (0 when both are 0)
  int64_t support = 0;   ///< rows of the class
};

/// report/metrics.json of `orchard predict` (and its Spark job).
struct PredictMetrics {
  int64_t rows = 0;                ///< every predicted row
  int64_t labelled_rows = 0;       ///< rows whose label the classifier knows
  int64_t unknown_label_rows = 0;  ///< the others
  std::map<std::string, int64_t> unknown_labels;
  double accuracy = 0;       ///< of the labelled rows (0 without any)
  double top5_accuracy = 0;  ///< true class within the top k, of the labelled rows
  double macro_f1 = 0;       ///< the mean F1 over the classes
  /// The classifier's classes, in its order: the labels of the confusion matrix and the
  /// keys of per_class.
  std::vector<std::string> classes;
  std::vector<ClassMetrics> per_class;  ///< one per class, in that order
  /// classes x classes: rows of true class i predicted as class j.
  std::vector<std::vector<int64_t>> confusion;

  /// The document of report/metrics.json.
  nlohmann::json ToJson() const;
  /// Reads what ToJson writes. Refuses a missing field or one of the wrong type, and
  /// per-class entries or a confusion matrix that do not match the class list, naming the
  /// field; never throws.
  static Result<PredictMetrics> FromJson(const nlohmann::json& json);
};

/// The metrics of `counts` for a classifier of these classes. A confusion matrix of
/// another size than classes x classes counts as empty (no labelled rows).
PredictMetrics ComputePredictMetrics(const std::vector<std::string>& classes,
                                     const PredictionCounts& counts);

}  // namespace orchard::classify
