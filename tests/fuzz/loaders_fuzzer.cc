// libFuzzer target over the model files orchard reads back (issue 21): classifier.json
// (with, for a classifier on PCA vectors, its pca_model.json) and pca_model/model.json.
// Any bytes must give a clean Status, never a throw, crash or undefined behaviour; and a
// file the loaders accept must be safe to use, which is what the checks below assert:
// classifier probabilities finite, in [0, 1] and summing to 1 for finite, extreme and NaN
// inputs; a PCA model whose mean is a float32 embedding (as the mean of embeddings is) and
// whose projection of it is finite; an accepted PCA model written back and read again
// unchanged. Any violation aborts, which libFuzzer reports as a crash.
//
// Input: the whole input is tried as a classifier.json (no PCA file) and as a model.json;
// when it holds a NUL byte (never part of a JSON text) the bytes before it are also tried
// as a classifier.json and those after it as its pca_model.json.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/classify/classifier_file.h"
#include "orchard/pca/pca.h"
#include "orchard/pca/pca_json.h"
#include "orchard/util/text.h"

namespace {

using orchard::classify::Classifier;
using orchard::pca::PcaModel;

void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "loaders_fuzzer: %s\n", what);
    std::abort();
  }
}

// An embedding-sized input of modest values, one at the float32 extremes (finite: the
// classifier promises finite probabilities for every finite input) and one of NaNs (the
// classifier gives the limit, never NaN).
std::vector<float> ProbeRows(int64_t dim) {
  const auto d = static_cast<size_t>(dim);
  std::vector<float> rows(3 * d);
  for (size_t col = 0; col < d; ++col) {
    rows[col] = 0.25f * static_cast<float>(static_cast<int>(col % 9) - 4);
    rows[d + col] = (col % 2 == 0 ? 1.0f : -1.0f) * std::numeric_limits<float>::max();
    rows[2 * d + col] = std::numeric_limits<float>::quiet_NaN();
  }
  return rows;
}

void CheckProbabilities(const std::vector<float>& probabilities, int64_t num_rows,
                        int64_t num_classes) {
  Require(probabilities.size() == static_cast<size_t>(num_rows * num_classes),
          "probabilities of the wrong size");
  for (int64_t row = 0; row < num_rows; ++row) {
    const float* begin = probabilities.data() + row * num_classes;
    double total = 0;
    for (int64_t idx = 0; idx < num_classes; ++idx) {
      Require(std::isfinite(begin[idx]) && begin[idx] >= 0 && begin[idx] <= 1,
              "a probability is not finite or outside [0, 1]");
      total += begin[idx];
    }
    Require(std::abs(total - 1.0) <= 1e-4, "probabilities do not sum to 1");
    const auto top = orchard::classify::TopK(begin, num_classes, 3);
    Require(!top.empty() && top.size() <= 3, "TopK gave the wrong count");
    for (int64_t idx : top) Require(idx >= 0 && idx < num_classes, "TopK left the classes");
  }
}

void UseClassifier(const Classifier& classifier) {
  const int64_t k = classifier.num_classes();
  Require(k >= 2 && static_cast<int64_t>(classifier.classes.size()) == k, "bad class count");
  Require(classifier.dim >= 1, "bad dim");
  const auto d = static_cast<size_t>(classifier.dim);
  Require(classifier.mean.size() == d && classifier.scale.size() == d &&
              classifier.weights.size() == static_cast<size_t>(k) * d &&
              classifier.bias.size() == static_cast<size_t>(k),
          "a classifier list does not match dim and the class count");
  Require((classifier.input == "pca") == classifier.pca.has_value(), "input and PCA disagree");
  if (classifier.pca) Require(classifier.pca->k == classifier.dim, "PCA k is not the input dim");

  const std::vector<float> rows = ProbeRows(classifier.dim);
  std::vector<float> probabilities(static_cast<size_t>(3 * k));
  classifier.Probabilities(rows.data(), 3, probabilities.data());
  CheckProbabilities(probabilities, 3, k);

  // Through the PCA (when there is one) from embeddings of its input dimension.
  const std::vector<float> embeddings = ProbeRows(classifier.embedding_dim());
  classifier.ProbabilitiesFromEmbeddings(embeddings.data(), 3, probabilities.data());
  CheckProbabilities(probabilities, 3, k);
}

void UsePcaModel(const PcaModel& model) {
  Require(model.dim >= 1 && model.k >= 1 && model.k <= model.dim, "bad PCA shape");
  const auto d = static_cast<size_t>(model.dim);
  const auto k = static_cast<size_t>(model.k);
  Require(model.mean.size() == d && model.components.size() == k * d &&
              model.explained_variance.size() == d && model.explained_variance_ratio.size() == d,
          "a PCA list does not match dim and k");

  // The mean of float32 embeddings is a float32 vector, and the embedding at the mean
  // projects to (nearly) zero: finite in the float32 PCA table.
  std::vector<float> at_mean(d);
  for (size_t col = 0; col < d; ++col) {
    at_mean[col] = static_cast<float>(model.mean[col]);
    Require(std::isfinite(at_mean[col]), "the PCA mean is not a float32 vector");
  }
  std::vector<float> projected(k);
  model.Project(at_mean.data(), 1, projected.data());
  for (float value : projected) Require(std::isfinite(value), "a projection is not finite");
  // A modest embedding: |projection| <= |x - mean| (unit components), finite whenever that is.
  const std::vector<float> rows = ProbeRows(model.dim);
  model.Project(rows.data(), 1, projected.data());
  double distance2 = 0;
  for (size_t col = 0; col < d; ++col) {
    const double diff = static_cast<double>(rows[col]) - model.mean[col];
    distance2 += diff * diff;
  }
  if (std::sqrt(distance2) <= 0.5 * std::numeric_limits<float>::max()) {
    for (float value : projected) Require(std::isfinite(value), "a projection is not finite");
  }

  // An accepted model round-trips exactly through the writer's JSON.
  const std::string text = orchard::util::DumpJson(orchard::pca::ModelToJson(model));
  auto back = orchard::pca::ModelFromJsonText(text, "round trip");
  Require(back.ok(), "a written PCA model is refused");
  Require(back->dim == model.dim && back->k == model.k && back->count == model.count &&
              back->variance_threshold == model.variance_threshold && back->mean == model.mean &&
              back->components == model.components &&
              back->explained_variance == model.explained_variance &&
              back->explained_variance_ratio == model.explained_variance_ratio,
          "a PCA model does not round-trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace orchard;
  const std::string text(reinterpret_cast<const char*>(data), size);

  auto model = pca::ModelFromJsonText(text, "model.json");
  if (model.ok()) UsePcaModel(*model);

  auto classifier = classify::ParseClassifier(text, "classifier.json", nullptr, "pca_model.json");
  if (classifier.ok()) UseClassifier(*classifier);

  const size_t nul = text.find('\0');
  if (nul != std::string::npos) {
    const std::string classifier_text = text.substr(0, nul);
    const std::string pca_text = text.substr(nul + 1);
    auto with_pca =
        classify::ParseClassifier(classifier_text, "classifier.json", &pca_text, "pca_model.json");
    if (with_pca.ok()) UseClassifier(*with_pca);
    auto pca_only = pca::ModelFromJsonText(pca_text, "pca_model.json");
    if (pca_only.ok()) UsePcaModel(*pca_only);
  }
  return 0;
}
