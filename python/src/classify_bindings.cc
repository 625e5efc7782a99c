// orchard._native: the classifier (issue 13). Thin, like native.cc: converts arguments,
// releases the GIL around native work, and turns a failed Status into the module's
// OrchardError in one place (Check / Unwrap).
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "orchard/classify/classifier.h"
#include "orchard/classify/classifier_file.h"
#include "orchard/classify/metrics.h"
#include "orchard/classify/predict_parts.h"
#include "orchard/io/storage.h"
#include "orchard/output/layout.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

namespace {

using orchard::python::Check;
using orchard::python::Resolve;
using orchard::python::Unwrap;

using orchard::python::FloatMatrix;
using orchard::python::ToNumpy;

// A loaded classifier; immutable, so one handle serves many calls and threads.
struct PyClassifier {
  std::shared_ptr<const orchard::classify::Classifier> classifier;
};

PyClassifier Load(const std::string& model_dir, const std::string& endpoint_url,
                  const std::string& region) {
  orchard::io::StorageOptions storage;
  storage.endpoint_url = endpoint_url;
  storage.region = region;
  orchard::Result<orchard::classify::Classifier> loaded;
  {
    nb::gil_scoped_release release;
    auto location = orchard::io::ResolveLocation(model_dir, storage);
    loaded = location.ok() ? orchard::classify::LoadClassifier(*location)
                           : orchard::Result<orchard::classify::Classifier>(location.status());
  }
  return PyClassifier{
      std::make_shared<const orchard::classify::Classifier>(Unwrap(std::move(loaded)))};
}

// Top-k class indices (int64 [n, k]) and probabilities (float32 [n, k]) of embeddings.
std::tuple<nb::ndarray<nb::numpy, int64_t>, nb::ndarray<nb::numpy, float>, std::vector<std::string>>
Predict(const PyClassifier& handle, const FloatMatrix& features, int64_t top_k) {
  const auto& classifier = *handle.classifier;
  const auto rows = static_cast<int64_t>(features.shape(0));
  if (rows > 0 && static_cast<int64_t>(features.shape(1)) != classifier.embedding_dim()) {
    Check(orchard::Status::Invalid("features have ", features.shape(1),
                                   " columns but the classifier expects ",
                                   classifier.embedding_dim()));
  }
  if (top_k < 1) Check(orchard::Status::Invalid("k must be at least 1, got ", top_k));
  const int64_t num_classes = classifier.num_classes();
  const int64_t k = std::min(top_k, num_classes);
  std::vector<int64_t> indices(static_cast<size_t>(rows * k));
  std::vector<float> top_probabilities(indices.size());
  {
    nb::gil_scoped_release release;
    std::vector<float> probabilities(static_cast<size_t>(rows * num_classes));
    classifier.ProbabilitiesFromEmbeddings(features.data(), rows, probabilities.data());
    for (int64_t row_idx = 0; row_idx < rows; ++row_idx) {
      const float* row = probabilities.data() + row_idx * num_classes;
      const auto top = orchard::classify::TopK(row, num_classes, k);
      for (int64_t rank = 0; rank < k; ++rank) {
        const auto out = static_cast<size_t>(row_idx * k + rank);
        indices[out] = top[static_cast<size_t>(rank)];
        top_probabilities[out] = row[top[static_cast<size_t>(rank)]];
      }
    }
  }
  const auto shape_rows = static_cast<size_t>(rows);
  const auto shape_k = static_cast<size_t>(k);
  return {ToNumpy(std::move(indices), {shape_rows, shape_k}),
          ToNumpy(std::move(top_probabilities), {shape_rows, shape_k}), classifier.classes};
}

PyClassifier HandleOf(const nb::object& model, const std::string& endpoint_url,
                      const std::string& region) {
  if (nb::isinstance<PyClassifier>(model)) return nb::cast<const PyClassifier&>(model);
  return Load(nb::cast<std::string>(model), endpoint_url, region);
}

// The part file names (part-*.parquet) of a table folder, sorted; [] when it is absent.
std::vector<std::string> ListParts(const std::string& folder_uri, const std::string& endpoint_url,
                                   const std::string& region) {
  orchard::Result<std::vector<orchard::io::Location>> parts;
  {
    nb::gil_scoped_release release;
    parts = orchard::table::ListParts(Resolve(folder_uri, endpoint_url, region));
  }
  std::vector<std::string> names;
  for (const auto& part : Unwrap(std::move(parts))) {
    names.push_back(part.path.substr(part.path.rfind('/') + 1));
  }
  return names;
}

// `orchard predict`'s prediction pass over some features parts (classify::PredictParts):
// features_dir/<name> -> predictions_dir/<name>; returns the parts' counts (JSON) for
// prediction_metrics.
std::string PredictParts(const nb::object& model, const std::string& features_dir_uri,
                         const std::vector<std::string>& part_names,
                         const std::string& predictions_dir_uri, int threads,
                         const std::string& endpoint_url, const std::string& region) {
  const PyClassifier handle = HandleOf(model, endpoint_url, region);
  orchard::Result<orchard::classify::PredictionCounts> counts;
  {
    nb::gil_scoped_release release;
    const auto features_dir = Resolve(features_dir_uri, endpoint_url, region);
    std::vector<orchard::io::Location> parts;
    for (const auto& name : part_names) parts.push_back(features_dir.Child(name));
    counts = orchard::classify::PredictParts(*handle.classifier, parts,
                                             Resolve(predictions_dir_uri, endpoint_url, region),
                                             std::max(1, threads));
  }
  return orchard::util::DumpJson(Unwrap(std::move(counts)).ToJson());
}

// Merges counts (JSON, from predict_parts) -> report/metrics.json (JSON), as the CLI.
std::string PredictionMetrics(const nb::object& model, const std::vector<std::string>& counts,
                              const std::string& endpoint_url, const std::string& region) {
  const PyClassifier handle = HandleOf(model, endpoint_url, region);
  const auto total = orchard::python::MergedPredictionCounts(*handle.classifier, counts);
  return orchard::util::DumpJson(
      orchard::classify::ComputePredictMetrics(handle.classifier->classes, total).ToJson(), 2);
}

}  // namespace

orchard::classify::PredictionCounts orchard::python::MergedPredictionCounts(
    const orchard::classify::Classifier& classifier, const std::vector<std::string>& counts) {
  auto total = orchard::classify::PredictionCounts::Zero(classifier.num_classes());
  for (const auto& text : counts) {
    nlohmann::json parsed;
    try {
      parsed = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception& error) {
      Check(orchard::Status::Invalid("cannot parse prediction counts: ", error.what()));
    }
    Check(total.Merge(Unwrap(orchard::classify::PredictionCounts::FromJson(parsed))));
  }
  return total;
}

void BindClassify(nb::module_& m) {
  nb::class_<PyClassifier>(m, "Classifier",
                           "A softmax classifier trained by `orchard train` (immutable).")
      .def_prop_ro("classes", [](const PyClassifier& self) { return self.classifier->classes; })
      .def_prop_ro("dim", [](const PyClassifier& self) { return self.classifier->dim; })
      .def_prop_ro("embedding_dim",
                   [](const PyClassifier& self) { return self.classifier->embedding_dim(); })
      .def_prop_ro("input", [](const PyClassifier& self) { return self.classifier->input; })
      .def_prop_ro("feature_model_sha256",
                   [](const PyClassifier& self) { return self.classifier->feature_model_sha256; })
      .def_prop_ro("c", [](const PyClassifier& self) { return self.classifier->c; })
      .def(
          "check_backbone",
          [](const PyClassifier& self, const std::string& sha256, const std::string& what) {
            Check(orchard::classify::CheckBackbone(*self.classifier, sha256, what));
          },
          nb::arg("sha256"), nb::arg("what"),
          "Raises OrchardError unless embeddings of the model with this sha256 are the ones "
          "the classifier was trained on (`what` names them in the message), as the CLI.")
      .def("predict", &Predict, nb::arg("features"), nb::arg("k") = 5,
           "Top-k (indices int64 [n,k], probabilities float32 [n,k], classes) of embeddings "
           "(float32 [n, embedding_dim], C-contiguous).");

  // The names of a prediction's output entries (output/layout.h), for the Spark job.
  m.attr("PREDICTIONS_DIR") = orchard::output::kPredictionsDir;
  m.attr("PREDICT_METRICS_JSON") = orchard::output::kPredictMetricsJson;

  m.def("load_classifier", &Load, nb::arg("model_dir"), nb::arg("endpoint_url") = "",
        nb::arg("region") = "",
        "Loads the classifier in MODEL_DIR (local or s3://) written by `orchard train`.");
  m.def("list_parts", &ListParts, nb::arg("folder_uri"), nb::arg("endpoint_url") = "",
        nb::arg("region") = "", "part-*.parquet names of a table folder (local or s3://), sorted");
  m.def("predict_parts", &PredictParts, nb::arg("model"), nb::arg("features_dir_uri"),
        nb::arg("part_names"), nb::arg("predictions_dir_uri"), nb::arg("threads") = 1,
        nb::arg("endpoint_url") = "", nb::arg("region") = "",
        "orchard predict's prediction pass: each features part -> a predictions part of the "
        "same name (path, label, predicted, probability, top5), with a Classifier or a model "
        "folder; returns the parts' counts (JSON) for prediction_metrics.");
  m.def("prediction_metrics", &PredictionMetrics, nb::arg("model"), nb::arg("counts"),
        nb::arg("endpoint_url") = "", nb::arg("region") = "",
        "Merges the counts of predict_parts calls -> report/metrics.json (JSON text) as "
        "orchard predict computes it.");
  m.def(
      "predict_features",
      [](nb::object model, const FloatMatrix& features, int64_t k) {
        if (nb::isinstance<PyClassifier>(model)) {
          return Predict(nb::cast<const PyClassifier&>(model), features, k);
        }
        return Predict(Load(nb::cast<std::string>(model), "", ""), features, k);
      },
      nb::arg("model"), nb::arg("features"), nb::arg("k") = 5,
      "Top-k classes of embeddings (float32 [n, d]) with a Classifier or a model folder: "
      "(indices int64 [n,k], probabilities float32 [n,k], classes list[str]).");
}
