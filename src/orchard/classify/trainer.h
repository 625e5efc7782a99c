// Training of the softmax classifier (classify/classifier.h), issue 13.
//
// Training standardizes the inputs (mean and scale kept in the model), splits off a
// stratified, seeded validation share to choose the L2 regularization C, then refits on
// every row with the chosen C. The optimizer is LBFGS++ (L-BFGS, header-only, Debian
// liblbfgspp-dev); the objective and its gradient are two BLAS matrix products per
// evaluation, so training uses every core OpenBLAS is given. See docs/decisions.md.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"

namespace orchard::classify {

/// Row indices of a stratified split.
struct Split {
  std::vector<int64_t> train;
  std::vector<int64_t> validation;
};

/// Splits rows per label: of each label's n rows, round(n * validation_share) go to
/// validation (at least one when n >= 2 and the share is > 0, never all of them), chosen
/// by a shuffle seeded with `seed`. Both lists are sorted. Deterministic.
Split StratifiedSplit(const std::vector<std::string>& labels, double validation_share,
                      uint64_t seed);

struct TrainOptions {
  /// Share of the rows held out to choose C (0: no validation; needs `c`).
  double validation_split = 0.1;
  uint64_t seed = 42;
  /// Inverse L2 regularization strength as in liblinear / scikit-learn (the loss is
  /// summed over rows, the penalty is |W|^2 / 2). 0: choose from `c_grid`.
  double c = 0;
  /// Candidates, tried in increasing order with warm starts; ties go to the smaller C.
  std::vector<double> c_grid = {1e-3, 1e-2, 1e-1, 1.0, 10.0};
  int max_iterations = 500;
  /// Stop when |gradient| <= gradient_tolerance * max(1, |weights|) (on the mean loss).
  double gradient_tolerance = 1e-5;
  /// ... or when the objective fell by less than this share over the last 5 iterations
  /// (the objective is computed in float, so tighter is rarely useful).
  double tolerance = 1e-6;
  /// BLAS threads (0: leave OpenBLAS's setting).
  int threads = 0;
};

/// One fit of the softmax regression: its C and what it cost.
struct FitReport {
  double c = 0;
  double validation_accuracy = 0;  ///< candidates only
  int64_t iterations = 0;
  int64_t evaluations = 0;
  double loss = 0;
  double seconds = 0;
};

/// What Train did: the "training" section of MODEL_DIR/metrics.json (ToJson).
struct TrainReport {
  int64_t rows = 0;
  int64_t train_rows = 0;
  int64_t validation_rows = 0;
  int64_t dim = 0;
  int64_t classes = 0;
  double c = 0;           ///< the C of the model
  bool c_chosen = false;  ///< picked on the validation share (else given)
  double validation_split = 0;
  uint64_t seed = 0;
  std::vector<FitReport> candidates;  ///< the validation fits, C ascending
  FitReport final_fit;                ///< on every row, with the chosen C
  double training_accuracy = 0;
  std::optional<double> validation_accuracy;  ///< of the chosen C; none without a split
  double c_search_seconds = 0;
  double total_seconds = 0;
};

nlohmann::json ToJson(const TrainReport& report);

/// Trains on `rows` (labels = rows.labels); `report` (optional) receives the chosen C, the
/// validation accuracy of each candidate, iterations and seconds. Fails with fewer than
/// two classes, on empty input, or on non-finite values.
Result<Classifier> Train(const table::VectorRows& rows, const TrainOptions& options,
                         TrainReport* report);

}  // namespace orchard::classify
