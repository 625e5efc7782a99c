// A multinomial logistic-regression (softmax) classifier over feature vectors: the
// model behind `orchard train` / `orchard predict` (issue 13). Scoring only: training is
// classify/trainer.h, the model folder's files classify/classifier_file.h, the metrics of
// a prediction pass classify/metrics.h. See docs/decisions.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "orchard/pca/pca.h"
#include "orchard/util/status.h"

namespace orchard::classify {

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

/// Fails unless the embedding model's sha256 is the one the classifier was trained on
/// (predicting with another backbone would give meaningless answers).
Status CheckBackbone(const Classifier& classifier, const std::string& embedding_sha256,
                     const std::string& what);

}  // namespace orchard::classify
