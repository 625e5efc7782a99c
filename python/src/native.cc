// orchard._native: the Python face of the orchard library (nanobind). Thin on purpose:
// every algorithm lives in the library; this file converts arguments, releases the GIL
// around native work and turns a failed Status into a Python exception in one place
// (Check / Unwrap -> OrchardError).
#include <arrow/buffer.h>
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bindings.h"
#include "orchard/image/decode.h"
#include "orchard/io/storage.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/model/embedder.h"
#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/pca/pca.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/shard.h"
#include "orchard/report/report.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"
#include "orchard/util/text.h"
#include "orchard/version.h"
#include "report_bindings.h"

namespace nb = nanobind;

namespace {

using orchard::python::Check;
using orchard::python::OrchardError;
using orchard::python::Resolve;
using orchard::python::Storage;
using orchard::python::Unwrap;

using orchard::python::FloatMatrix;
using orchard::python::NumpyArray;
using orchard::python::ToNumpy;

orchard::pca::PcaModel ModelFromJsonText(const std::string& text) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    Check(orchard::Status::Invalid("cannot parse the PCA model JSON: ", error.what()));
  }
  return Unwrap(orchard::pca::ModelFromJson(json));
}

std::string AsString(const nb::bytes& bytes) { return std::string(bytes.c_str(), bytes.size()); }

// -> [(source bytes, size, mtime_ns)], sorted, hidden names skipped: the CLI's listing.
std::vector<std::tuple<nb::bytes, int64_t, int64_t>> ListImages(const std::string& input_uri,
                                                                const std::string& endpoint_url,
                                                                const std::string& region) {
  std::vector<orchard::pipeline::ImageItem> items;
  {
    nb::gil_scoped_release release;
    const auto root = Resolve(input_uri, endpoint_url, region);
    items = Unwrap(orchard::pipeline::ListImages(root));
  }
  std::vector<std::tuple<nb::bytes, int64_t, int64_t>> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    out.emplace_back(nb::bytes(item.source.data(), item.source.size()), item.size, item.mtime_ns);
  }
  return out;
}

std::string JobFingerprint(const std::string& input_uri, const std::vector<nb::bytes>& sources,
                           const std::vector<int64_t>& sizes, const std::vector<int64_t>& mtimes,
                           const std::string& model_sha256, const std::string& output_name,
                           int64_t rows_per_part, int batch_size, int64_t max_pixels,
                           int64_t max_file_bytes) {
  const auto root = Resolve(input_uri, "", "");
  auto items = orchard::python::ItemsOf(sources, sizes, root);
  if (mtimes.size() != items.size()) Check(orchard::Status::Invalid("sources and mtimes differ"));
  for (size_t idx = 0; idx < items.size(); ++idx) items[idx].mtime_ns = mtimes[idx];
  return orchard::pipeline::JobFingerprint(items, model_sha256, output_name, rows_per_part,
                                           batch_size, max_pixels, max_file_bytes);
}

int64_t EffectiveRowsPerPart(int64_t rows_per_part, int batch_size) {
  orchard::pipeline::FeaturizeOptions options;
  options.rows_per_part = rows_per_part;
  options.batch_size = batch_size;
  return orchard::pipeline::EffectiveRowsPerPart(options);
}

// The output commit protocol of the CLI (stage under _temporary, publish, _SUCCESS last).
class PyOutputCommitter {
 public:
  PyOutputCommitter(const std::string& output_uri, const std::string& policy,
                    const std::string& fingerprint, const std::string& input_uri,
                    const std::string& endpoint_url, const std::string& region) {
    const auto output = Resolve(output_uri, endpoint_url, region);
    std::optional<orchard::io::Location> input;
    if (!input_uri.empty()) input = Resolve(input_uri, endpoint_url, region);
    nb::gil_scoped_release release;
    committer_.emplace(Unwrap(orchard::output::OutputCommitter::Begin(
        output, orchard::python::ExistingOutputNamed(policy), fingerprint,
        input ? &*input : nullptr)));
  }
  // RemoveStrayStagedFiles of the CLI's resume; warnings go to stderr (the driver's log).
  void RemoveStrayStagedFiles(int64_t num_parts) {
    nb::gil_scoped_release release;
    Check(orchard::pipeline::RemoveStrayStagedFiles(
        committer_->staging(), num_parts, [](const std::string& message) {
          std::fprintf(stderr, "orchard: warning: %s\n", message.c_str());
        }));
  }
  std::string staging() const { return committer_->staging().display; }
  bool resuming() const { return committer_->resuming(); }
  void Publish(const std::vector<std::string>& entries) {
    nb::gil_scoped_release release;
    Check(committer_->Publish(entries));
  }

 private:
  std::optional<orchard::output::OutputCommitter> committer_;
};

void WriteFile(const std::string& uri, const nb::bytes& data, const std::string& endpoint_url,
               const std::string& region) {
  const auto location = Resolve(uri, endpoint_url, region);
  std::string bytes = AsString(data);
  nb::gil_scoped_release release;
  Check(orchard::io::WriteAll(location, bytes));
}

nb::bytes ReadFile(const std::string& uri, const std::string& endpoint_url,
                   const std::string& region) {
  std::shared_ptr<arrow::Buffer> buffer;
  {
    nb::gil_scoped_release release;
    const auto location = Resolve(uri, endpoint_url, region);
    buffer = Unwrap(orchard::io::ReadAll(location));
  }
  return nb::bytes(reinterpret_cast<const char*>(buffer->data()),
                   static_cast<size_t>(buffer->size()));
}

bool Exists(const std::string& uri, const std::string& endpoint_url, const std::string& region) {
  nb::gil_scoped_release release;
  return Unwrap(orchard::io::FileExists(Resolve(uri, endpoint_url, region)));
}

void EnsureErrorsTable(const std::string& staging_uri, const std::string& endpoint_url,
                       const std::string& region) {
  nb::gil_scoped_release release;
  const auto staging = Resolve(staging_uri, endpoint_url, region);
  Check(orchard::table::EnsureErrorsTable(staging.Child(orchard::output::kErrorsDir)));
}

void WritePcaModel(const std::string& staging_uri, const std::string& model_json,
                   const std::string& endpoint_url, const std::string& region) {
  const auto model = ModelFromJsonText(model_json);
  nb::gil_scoped_release release;
  Check(orchard::jobs::WritePcaFiles(model, Resolve(staging_uri, endpoint_url, region)));
}

// Projects staging/features/part-<idx> into staging/pca/part-<idx> for each index.
void ProjectParts(const std::string& staging_uri, const std::vector<int64_t>& part_indices,
                  const std::string& model_json, int threads, const std::string& endpoint_url,
                  const std::string& region) {
  const auto model = ModelFromJsonText(model_json);
  nb::gil_scoped_release release;
  const auto staging = Resolve(staging_uri, endpoint_url, region);
  const auto features = staging.Child(orchard::output::kFeaturesDir);
  std::vector<orchard::io::Location> parts;
  for (const int64_t index : part_indices) {
    parts.push_back(features.Child(orchard::table::PartName(index)));
  }
  Check(orchard::pipeline::ProjectParts(parts, model, staging.Child(orchard::output::kPcaDir),
                                        threads));
}

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
  return orchard::util::DumpJson(orchard::pca::ModelToJson(model));
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
  BindClassify(m);    // orchard train/predict's classifier (classify_bindings.cc)
  BindReport(m);      // report/index.html (report_bindings.cc)
  BindJobs(m);        // the jobs' driver API (job_bindings.cc)
  BindIndex(m);       // the index/search/dedup drivers (index_bindings.cc)
  BindJobOptions(m);  // JOB_DEFAULTS, resolve_job_options (bindings.cc)
  BindCli(m);         // cli_main, run_command, describe_commands (cli_bindings.cc)
  m.attr("__version__") = orchard::kVersion;
  m.attr("DEFAULT_MODEL_SHA256") = orchard::model::kDefaultModelSha256;

  BindEmbedder(m);  // orchard.Embedder (embedder_bindings.cc)

  nb::class_<PyOutputCommitter>(m, "OutputCommitter",
                                "The CLI's output commit protocol: stage under _temporary, "
                                "publish, _SUCCESS last.")
      .def(nb::init<const std::string&, const std::string&, const std::string&, const std::string&,
                    const std::string&, const std::string&>(),
           nb::arg("output_uri"), nb::arg("policy"), nb::arg("fingerprint"), nb::arg("input_uri"),
           nb::arg("endpoint_url") = "", nb::arg("region") = "",
           "input_uri: the job's input (the output may not be, lie in or contain it); '' for "
           "a job that reads only its output")
      .def_prop_ro("staging", &PyOutputCommitter::staging)
      .def_prop_ro("resuming", &PyOutputCommitter::resuming)
      .def("remove_stray_staged_files", &PyOutputCommitter::RemoveStrayStagedFiles,
           nb::arg("num_parts"), "before a resumed job: the CLI's clean-up of its staging")
      .def("publish", &PyOutputCommitter::Publish, nb::arg("entries"));

  m.def("list_images", &ListImages, nb::arg("input_uri"), nb::arg("endpoint_url") = "",
        nb::arg("region") = "",
        "the CLI's listing: [(raw relative path bytes, size, mtime_ns)], sorted");
  m.def("job_fingerprint", &JobFingerprint, nb::arg("input_uri"), nb::arg("sources"),
        nb::arg("sizes"), nb::arg("mtimes"), nb::arg("model_sha256"), nb::arg("output_name"),
        nb::arg("rows_per_part"), nb::arg("batch_size"), nb::arg("max_pixels"),
        nb::arg("max_file_bytes") = orchard::image::kDefaultMaxFileBytes);
  m.attr("DEFAULT_MAX_FILE_BYTES") = orchard::image::kDefaultMaxFileBytes;
  m.def("effective_rows_per_part", &EffectiveRowsPerPart, nb::arg("rows_per_part"),
        nb::arg("batch_size"));
  m.def("write_file", &WriteFile, nb::arg("uri"), nb::arg("data"), nb::arg("endpoint_url") = "",
        nb::arg("region") = "", "writes a whole file atomically (local path or s3://)");
  m.def("read_file", &ReadFile, nb::arg("uri"), nb::arg("endpoint_url") = "",
        nb::arg("region") = "");
  m.def("exists", &Exists, nb::arg("uri"), nb::arg("endpoint_url") = "", nb::arg("region") = "");
  m.def("ensure_errors_table", &EnsureErrorsTable, nb::arg("staging_uri"),
        nb::arg("endpoint_url") = "", nb::arg("region") = "");
  m.def("write_pca_model", &WritePcaModel, nb::arg("staging_uri"), nb::arg("model_json"),
        nb::arg("endpoint_url") = "", nb::arg("region") = "",
        "pca_model/model.json, pca_model/components.parquet, report/scree.svg");
  m.def("project_parts", &ProjectParts, nb::arg("staging_uri"), nb::arg("part_indices"),
        nb::arg("model_json"), nb::arg("threads"), nb::arg("endpoint_url") = "",
        nb::arg("region") = "");
  m.attr("FEATURES_DIR") = orchard::output::kFeaturesDir;
  m.attr("ERRORS_DIR") = orchard::output::kErrorsDir;
  m.attr("PCA_DIR") = orchard::output::kPcaDir;
  m.attr("PCA_MODEL_DIR") = orchard::output::kPcaModelDir;
  m.attr("REPORT_DIR") = orchard::output::kReportDir;
  m.attr("SUMMARY_JSON") = orchard::output::kSummaryJson;

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
