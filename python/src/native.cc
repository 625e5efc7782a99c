// orchard._native: the Python face of the orchard library (nanobind). Thin on purpose:
// every algorithm lives in the library; this file converts arguments, releases the GIL
// around native work and turns a failed Status into a Python exception in one place
// (Check / Unwrap -> OrchardError).
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "orchard/model/embedder.h"
#include "orchard/pca/pca.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/report/report.h"
#include "orchard/util/status.h"
#include "orchard/version.h"

namespace nb = nanobind;

namespace {

// The C++ side of orchard._native.OrchardError (a RuntimeError).
class OrchardError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The one place where a failed Status becomes a Python exception.
void Check(const orchard::Status& status) {
  if (!status.ok()) throw OrchardError(status.ToString());
}

template <typename T>
T Unwrap(orchard::Result<T> result) {
  Check(result.status());
  return std::move(result).ValueOrDie();
}

template <typename T>
using NumpyArray = nb::ndarray<nb::numpy, T>;

// Hands a vector to numpy without copying; numpy frees it.
template <typename T>
NumpyArray<T> ToNumpy(std::vector<T> values, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nb::capsule owner(owned, [](void* ptr) noexcept { delete static_cast<std::vector<T>*>(ptr); });
  return NumpyArray<T>(owned->data(), shape, owner);
}

using FloatMatrix = nb::ndarray<const float, nb::ndim<2>, nb::c_contig, nb::device::cpu>;

orchard::pca::PcaModel ModelFromJsonText(const std::string& text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    Check(orchard::Status::Invalid("cannot parse the PCA model JSON: ", error.what()));
  }
  return Unwrap(orchard::pca::ModelFromJson(json));
}

class PyEmbedder {
 public:
  PyEmbedder(const nb::bytes& model_bytes, const std::string& output_name, int threads,
             const std::string& expected_sha256, int batch_size, int decode_threads,
             int64_t max_pixels, const std::string& model_name) {
    orchard::model::EmbedderOptions options;
    options.output_name = output_name;
    options.intra_op_threads = threads;
    options.expected_sha256 = expected_sha256;
    options.model_name = model_name;
    std::string bytes(model_bytes.c_str(), model_bytes.size());
    {
      nb::gil_scoped_release release;
      embedder_ = Unwrap(orchard::model::Embedder::Make(bytes, options));
    }
    options_.batch_size = batch_size;
    options_.decode_threads = decode_threads;
    options_.preprocess.max_pixels = max_pixels;
  }

  // -> (features float32 [n_ok, dim], ok indices int64 [n_ok], [(index, stage, message)])
  std::tuple<NumpyArray<float>, NumpyArray<int64_t>,
             std::vector<std::tuple<int64_t, std::string, std::string>>>
  Embed(const std::vector<nb::bytes>& images) const {
    std::vector<orchard::pipeline::EncodedImage> views;
    views.reserve(images.size());
    for (const auto& image : images) {
      views.push_back({reinterpret_cast<const uint8_t*>(image.c_str()), image.size()});
    }
    orchard::pipeline::EmbedBytesResult result;
    {
      nb::gil_scoped_release release;  // `images` keeps the bytes alive meanwhile
      result = Unwrap(orchard::pipeline::EmbedEncodedImages(views, *embedder_, options_));
    }
    std::vector<std::tuple<int64_t, std::string, std::string>> errors;
    for (auto& error : result.errors) {
      errors.emplace_back(error.index, std::move(error.stage), std::move(error.message));
    }
    const size_t num_ok = result.ok_indices.size();
    return {ToNumpy(std::move(result.features), {num_ok, static_cast<size_t>(result.dim)}),
            ToNumpy(std::move(result.ok_indices), {num_ok}), std::move(errors)};
  }

  int64_t dim() const { return embedder_->info().output_dim; }
  std::string sha256() const { return embedder_->info().sha256; }

 private:
  std::unique_ptr<orchard::model::Embedder> embedder_;
  orchard::pipeline::EmbedBytesOptions options_;
};

nb::bytes PcaStatsOf(const FloatMatrix& rows) {
  std::string serialized;
  {
    nb::gil_scoped_release release;
    orchard::pca::PcaStats stats(static_cast<int64_t>(rows.shape(1)));
    stats.Add(rows.data(), static_cast<int64_t>(rows.shape(0)));
    serialized = stats.Serialize();
  }
  return nb::bytes(serialized.data(), serialized.size());
}

nb::bytes MergeStats(const std::vector<nb::bytes>& parts) {
  if (parts.empty()) Check(orchard::Status::Invalid("no PCA statistics to merge"));
  std::vector<std::string> copies;
  for (const auto& part : parts) copies.emplace_back(part.c_str(), part.size());
  std::string serialized;
  {
    nb::gil_scoped_release release;
    auto total = Unwrap(orchard::pca::PcaStats::Deserialize(copies.front()));
    for (size_t idx = 1; idx < copies.size(); ++idx) {
      Check(total.Merge(Unwrap(orchard::pca::PcaStats::Deserialize(copies[idx]))));
    }
    serialized = total.Serialize();
  }
  return nb::bytes(serialized.data(), serialized.size());
}

std::string FitPca(const nb::bytes& stats_bytes, double variance_threshold, int64_t k) {
  std::string bytes(stats_bytes.c_str(), stats_bytes.size());
  nb::gil_scoped_release release;
  const auto stats = Unwrap(orchard::pca::PcaStats::Deserialize(bytes));
  orchard::pca::PcaFitOptions options;
  options.variance_threshold = variance_threshold;
  options.k = k;
  const auto model = Unwrap(orchard::pca::FitPca(stats, options));
  return orchard::pca::ModelToJson(model).dump();
}

NumpyArray<float> Project(const std::string& model_json, const FloatMatrix& rows) {
  const auto model = ModelFromJsonText(model_json);
  if (static_cast<int64_t>(rows.shape(1)) != model.dim) {
    Check(orchard::Status::Invalid("features have ", rows.shape(1), " columns, the PCA model ",
                                   model.dim));
  }
  const size_t num_rows = rows.shape(0);
  std::vector<float> out(num_rows * static_cast<size_t>(model.k));
  {
    nb::gil_scoped_release release;
    model.Project(rows.data(), static_cast<int64_t>(num_rows), out.data());
  }
  return ToNumpy(std::move(out), {num_rows, static_cast<size_t>(model.k)});
}

std::string ScreeSvg(const std::string& model_json, const std::string& title) {
  return orchard::report::ScreePlotSvg(ModelFromJsonText(model_json), title);
}

}  // namespace

NB_MODULE(_native, m) {
  m.doc() = "orchard's C++ engine: embedding, mergeable PCA statistics, PCA fit and projection";
  nb::exception<OrchardError>(m, "OrchardError", PyExc_RuntimeError);
  m.attr("__version__") = orchard::kVersion;
  m.attr("DEFAULT_MODEL_SHA256") = orchard::model::kDefaultModelSha256;

  nb::class_<PyEmbedder>(m, "Embedder",
                         "An ONNX Runtime session over the model bytes; embed() decodes, "
                         "preprocesses and embeds encoded images exactly like the CLI.")
      .def(nb::init<const nb::bytes&, const std::string&, int, const std::string&, int, int,
                    int64_t, const std::string&>(),
           nb::arg("model_bytes"), nb::arg("output_name") = "features", nb::arg("threads") = 0,
           nb::arg("expected_sha256") = "", nb::arg("batch_size") = 32,
           nb::arg("decode_threads") = 1, nb::arg("max_pixels") = 64LL * 1024 * 1024,
           nb::arg("model_name") = "model")
      .def("embed", &PyEmbedder::Embed, nb::arg("images"),
           "list[bytes] -> (features float32 [n_ok, dim], ok_indices int64 [n_ok], "
           "errors [(index, stage, message)])")
      .def_prop_ro("dim", &PyEmbedder::dim)
      .def_prop_ro("sha256", &PyEmbedder::sha256);

  m.def("pca_stats", &PcaStatsOf, nb::arg("features"),
        "float32 [n, d] -> serialized mergeable statistics (n, sum x, sum x x^T)");
  m.def("merge_stats", &MergeStats, nb::arg("parts"), "list of serialized statistics -> one");
  m.def("fit_pca", &FitPca, nb::arg("stats"), nb::arg("variance_threshold") = 0.99,
        nb::arg("k") = 0, "serialized statistics -> PCA model JSON (pca_model/model.json)");
  m.def("project", &Project, nb::arg("model_json"), nb::arg("features"),
        "(x - mean) . components for every row -> float32 [n, k]");
  m.def("scree_svg", &ScreeSvg, nb::arg("model_json"), nb::arg("title"),
        "cumulative explained-variance plot (report/scree.svg)");
}
