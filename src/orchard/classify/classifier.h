// A multinomial logistic-regression (softmax) classifier over feature vectors: the
// model behind `orchard train` / `orchard predict` (issue 13).
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

#include "orchard/io/storage.h"
#include "orchard/pca/pca.h"
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

/// A trained classifier. Scores are softmax(W ((x - mean) / scale) + b).
struct Classifier {
  std::vector<std::string> classes;  ///< sorted
  int64_t dim = 0;                   ///< input dimension (features, or PCA k)
  std::vector<double> mean;          ///< dim
  std::vector<double> scale;         ///< dim; a constant input has scale 1
  std::vector<float> weights;        ///< classes x dim, row-major, on standardized inputs
  std::vector<float> bias;           ///< classes
  double c = 0;
  /// "features" (the embedding) or "pca" (its projection by `pca`).
  std::string input = "features";
  /// sha256 of the embedding model (ONNX) the training features came from.
  std::string feature_model_sha256;
  /// Present when input == "pca": projects embeddings to the classifier's input.
  std::optional<pca::PcaModel> pca;

  int64_t num_classes() const { return static_cast<int64_t>(classes.size()); }
  /// Dimension of the embeddings the classifier accepts (PCA input dim, or dim).
  int64_t embedding_dim() const { return pca ? pca->dim : dim; }

  /// Class probabilities of `num_rows` inputs (num_rows x dim, row-major) into
  /// `probabilities` (num_rows x classes): always finite, in [0, 1], summing to 1 per row
  /// (computed in float64 from the bounds ParseClassifier checks; a row with non-finite
  /// inputs gets the limit: its +infinite classes share the probability, else uniform).
  /// Thread-safe (const).
  void Probabilities(const float* rows, int64_t num_rows, float* probabilities) const;
  /// Same, from embeddings: projects with `pca` first when the model has one.
  void ProbabilitiesFromEmbeddings(const float* rows, int64_t num_rows, float* probabilities) const;
};

/// The k best classes of one row of probabilities, best first (ties: lower index).
std::vector<int64_t> TopK(const float* probabilities, int64_t num_classes, int64_t k);

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

/// MODEL_DIR/classifier.json (everything, weights included) and, for PCA models,
/// MODEL_DIR/pca_model.json. Files are written atomically; metrics.json is the caller's.
Status SaveClassifier(const Classifier& classifier, const io::Location& model_dir);
/// Reads what SaveClassifier wrote. Both files must be regular files of at most
/// io::kMaxModelJsonBytes (checked before they are opened). Fails with a clear message on a
/// missing or damaged model folder (ParseClassifier checks every field).
Result<Classifier> LoadClassifier(const io::Location& model_dir);

/// The classifier in the text of a classifier.json (`source` names it in messages) and,
/// for a classifier trained on PCA vectors, of its pca_model.json (`pca_json`, nullptr when
/// there is none; `pca_source` names it). Every field is checked, so that a loaded
/// classifier always gives finite probabilities for finite inputs: known format and input;
/// a digest of at most 128 characters; 1 <= dim <= pca::kMaxPcaDim; 2 to 2^20 distinct non-empty
/// class names; at most 2^28 weights; c > 0; mean, bias and weights finite with magnitudes <=
/// FLT_MAX; scale in [1e-12, FLT_MAX]; every list as long as dim and the class count say; a PCA
/// model valid for pca::ModelFromJson keeping dim components. Messages name the file and the field.
/// Never throws.
Result<Classifier> ParseClassifier(const std::string& classifier_json, const std::string& source,
                                   const std::string* pca_json, const std::string& pca_source);

/// Fails unless the embedding model's sha256 is the one the classifier was trained on
/// (predicting with another backbone would give meaningless answers).
Status CheckBackbone(const Classifier& classifier, const std::string& embedding_sha256,
                     const std::string& what);

}  // namespace orchard::classify
