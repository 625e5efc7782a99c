// orchard._native.Embedder: an ONNX Runtime session over model bytes that embeds encoded
// images as the CLI does, and runs the CLI's pipeline on one shard of a job (the Spark
// tasks' side of jobs::FeaturizeDriver and PredictDriver).
#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstdio>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings.h"
#include "orchard/image/decode.h"
#include "orchard/jobs/options.h"
#include "orchard/model/embedder.h"
#include "orchard/output/layout.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/pipeline/shard.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

namespace {

using orchard::python::Check;
using orchard::python::NumpyArray;
using orchard::python::Resolve;
using orchard::python::ToNumpy;
using orchard::python::Unwrap;

class PyEmbedder {
 public:
  PyEmbedder(const nb::bytes& model_bytes, const std::string& output_name, int threads,
             const std::string& expected_sha256, int batch_size, int decode_threads,
             int64_t max_pixels, const std::string& model_name, int64_t max_file_bytes) {
    Check(orchard::jobs::CheckThreadCount(threads));
    Check(orchard::jobs::CheckThreadCount(decode_threads));
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
    options_.preprocess.max_file_bytes = max_file_bytes;
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

  // The CLI's pipeline on one shard (see orchard/pipeline/shard.h): reads, decodes and
  // embeds with `threads` cores, writes staging/features + errors parts, and returns the
  // counts and the shard's serialized PCA statistics.
  nb::bytes FeaturizeShard(const nb::dict& job_options, const std::string& staging_uri,
                           int64_t first_part, int64_t begin_byte, int64_t end_byte,
                           int64_t num_items, int threads) const {
    // The job's options as its driver resolved them (FeaturizeDriver.options), on this
    // task's cores: the featurize options the CLI derives from the same values.
    auto job = orchard::python::JobOptionsFrom(job_options);
    Check(orchard::jobs::CheckThreadCount(threads));
    job.threads = orchard::jobs::CoreCount(threads);
    const auto input = Resolve(job.input, job.storage.endpoint_url, job.storage.region);
    const auto staging = Resolve(staging_uri, job.storage.endpoint_url, job.storage.region);
    // The shard's images are its range of the listing its driver staged.
    const orchard::pipeline::ListingRange range{
        staging.Child(orchard::output::kListingDir).Child(orchard::pipeline::kListingFileName),
        begin_byte, end_byte, num_items};
    auto options = orchard::jobs::FeaturizeOptionsOf(job);
    options.first_part_index = first_part;
    // Into the executor's log, as the CLI prints them (a staged part --resume redoes).
    options.on_warning = [](const std::string& message) {
      std::fprintf(stderr, "orchard: warning: %s\n", orchard::util::ForTerminal(message).c_str());
    };
    std::string encoded;
    {
      nb::gil_scoped_release release;
      auto outcome = Unwrap(orchard::pipeline::FeaturizeShard(range, input, *embedder_, staging,
                                                              options, job.threads));
      encoded = orchard::pipeline::SerializeOutcome(outcome);
    }
    return nb::bytes(encoded.data(), encoded.size());
  }

  int64_t dim() const { return embedder_->info().output_dim; }
  std::string sha256() const { return embedder_->info().sha256; }

 private:
  std::unique_ptr<orchard::model::Embedder> embedder_;
  orchard::pipeline::EmbedBytesOptions options_;
};

}  // namespace

void BindEmbedder(nb::module_& m) {
  nb::class_<PyEmbedder>(m, "Embedder",
                         "An ONNX Runtime session over the model bytes; embed() decodes, "
                         "preprocesses and embeds encoded images exactly like the CLI.")
      .def(nb::init<const nb::bytes&, const std::string&, int, const std::string&, int, int,
                    int64_t, const std::string&, int64_t>(),
           nb::arg("model_bytes"), nb::arg("output_name") = "features", nb::arg("threads") = 0,
           nb::arg("expected_sha256") = "", nb::arg("batch_size") = 32,
           nb::arg("decode_threads") = 1, nb::arg("max_pixels") = 64LL * 1024 * 1024,
           nb::arg("model_name") = "model",
           nb::arg("max_file_bytes") = orchard::image::kDefaultMaxFileBytes)
      .def("embed", &PyEmbedder::Embed, nb::arg("images"),
           "list[bytes] -> (features float32 [n_ok, dim], ok_indices int64 [n_ok], "
           "errors [(index, stage, message)])")
      .def("featurize_shard", &PyEmbedder::FeaturizeShard, nb::arg("job_options"),
           nb::arg("staging_uri"), nb::arg("first_part"), nb::arg("begin_byte"),
           nb::arg("end_byte"), nb::arg("num_items"), nb::arg("threads"),
           "the CLI's pipeline on one shard of the listing -> the encoded outcome "
           "(merge_outcomes, FeaturizeDriver.finish_featurize)")
      .def_prop_ro("dim", &PyEmbedder::dim)
      .def_prop_ro("sha256", &PyEmbedder::sha256);
}
