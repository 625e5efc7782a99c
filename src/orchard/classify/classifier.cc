#include "orchard/classify/classifier.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace orchard::classify {
namespace {

// Logits (float64) -> probabilities: finite, in [0, 1], summing to 1, whatever the logits.
// The max is subtracted before exp (no overflow for huge logits). Rows whose logits are not
// all finite (only non-finite inputs can give them: LoadClassifier bounds every number)
// take the limit: the classes at +infinity share the probability; NaN logits count as
// -infinity; a row with no usable logit is uniform.
void SoftmaxRow(const double* logits, int64_t num_classes, float* probabilities) {
  double max_logit = -std::numeric_limits<double>::infinity();
  for (int64_t class_idx = 0; class_idx < num_classes; ++class_idx) {
    if (!std::isnan(logits[class_idx])) max_logit = std::max(max_logit, logits[class_idx]);
  }
  if (!std::isfinite(max_logit)) {
    // Every logit NaN or -inf (uniform), or some +inf (those classes share it).
    int64_t shared = 0;
    for (int64_t class_idx = 0; class_idx < num_classes; ++class_idx)
      shared += max_logit > 0 ? logits[class_idx] == max_logit : 1;
    for (int64_t class_idx = 0; class_idx < num_classes; ++class_idx) {
      const bool takes = max_logit > 0 ? logits[class_idx] == max_logit : true;
      probabilities[class_idx] = takes ? static_cast<float>(1.0 / static_cast<double>(shared)) : 0;
    }
    return;
  }
  double sum = 0;
  for (int64_t class_idx = 0; class_idx < num_classes; ++class_idx) {
    sum += std::isnan(logits[class_idx]) ? 0.0 : std::exp(logits[class_idx] - max_logit);
  }
  // sum >= 1: the max's own term is exp(0).
  for (int64_t class_idx = 0; class_idx < num_classes; ++class_idx) {
    probabilities[class_idx] =
        std::isnan(logits[class_idx])
            ? 0.0f
            : static_cast<float>(std::exp(logits[class_idx] - max_logit) / sum);
  }
}

}  // namespace

std::vector<int64_t> TopK(const float* probabilities, int64_t num_classes, int64_t k) {
  std::vector<int64_t> order(static_cast<size_t>(num_classes));
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, num_classes);
  std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int64_t a, int64_t b) {
    return probabilities[a] > probabilities[b] || (probabilities[a] == probabilities[b] && a < b);
  });
  order.resize(static_cast<size_t>(k));
  return order;
}

void Classifier::Probabilities(const float* rows, int64_t num_rows, float* probabilities) const {
  if (num_rows == 0) return;
  const int64_t k = num_classes(), d = dim;
  // Fold the standardization into the weights: W (x - m) / s + b = (W / s) x + (b - (W / s) m).
  // In float64: with the bounds LoadClassifier checks (|w|, |m| <= FLT_MAX, s >= 1e-12) and
  // float inputs, no logit can overflow, so the softmax below always sees finite logits
  // for finite inputs (float32 logits overflowed for large weights and gave NaN).
  std::vector<double> folded(weights.size());
  std::vector<double> folded_bias(bias.begin(), bias.end());
  for (int64_t class_idx = 0; class_idx < k; ++class_idx) {
    double shift = 0;
    for (int64_t col = 0; col < d; ++col) {
      const size_t idx = static_cast<size_t>(class_idx * d + col);
      const double weight = weights[idx] / scale[static_cast<size_t>(col)];
      folded[idx] = weight;
      shift += weight * mean[static_cast<size_t>(col)];
    }
    folded_bias[static_cast<size_t>(class_idx)] -= shift;
  }
  // Blocks of rows widened to float64: bounded temporaries whatever num_rows is.
  constexpr int64_t kRowsPerBlock = 1024;
  std::vector<double> block, logits;
  for (int64_t start = 0; start < num_rows; start += kRowsPerBlock) {
    const int64_t count = std::min(kRowsPerBlock, num_rows - start);
    block.assign(rows + start * d, rows + (start + count) * d);
    logits.resize(static_cast<size_t>(count * k));
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(count),
                static_cast<int>(k), static_cast<int>(d), 1.0, block.data(), static_cast<int>(d),
                folded.data(), static_cast<int>(d), 0.0, logits.data(), static_cast<int>(k));
    for (int64_t row_idx = 0; row_idx < count; ++row_idx) {
      double* row = logits.data() + row_idx * k;
      for (int64_t class_idx = 0; class_idx < k; ++class_idx)
        row[class_idx] += folded_bias[static_cast<size_t>(class_idx)];
      SoftmaxRow(row, k, probabilities + (start + row_idx) * k);
    }
  }
}

void Classifier::ProbabilitiesFromEmbeddings(const float* rows, int64_t num_rows,
                                             float* probabilities) const {
  if (!pca) {
    Probabilities(rows, num_rows, probabilities);
    return;
  }
  std::vector<float> projected(static_cast<size_t>(num_rows * pca->k));
  pca->Project(rows, num_rows, projected.data());
  Probabilities(projected.data(), num_rows, probabilities);
}

Status CheckBackbone(const Classifier& classifier, const std::string& embedding_sha256,
                     const std::string& what) {
  if (classifier.feature_model_sha256.empty() ||
      embedding_sha256 == classifier.feature_model_sha256) {
    return Status::OK();
  }
  return Status::Invalid(
      "the classifier was trained on features of the embedding model with "
      "sha256 ",
      classifier.feature_model_sha256, ", but ", what, " come from a model with sha256 ",
      embedding_sha256.empty() ? std::string("(unknown)") : embedding_sha256,
      ": predict with the same backbone (or retrain the classifier)");
}

}  // namespace orchard::classify
