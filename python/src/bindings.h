// What every part of orchard._native shares: the one translation of a failed Status into
// Python's orchard._native.OrchardError, and resolving a URI with the storage flags. Each
// Bind* adds its functions to the module; native.cc's NB_MODULE registers OrchardError
// first, then calls them.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <initializer_list>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/classify/metrics.h"
#include "orchard/io/storage.h"
#include "orchard/jobs/options.h"
#include "orchard/output/commit.h"
#include "orchard/pipeline/listing.h"
#include "orchard/util/status.h"

namespace orchard::python {

/// The C++ side of orchard._native.OrchardError (a RuntimeError): nanobind translates it
/// wherever it is thrown.
class OrchardError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The one place where a failed Status becomes a Python exception (OrchardError with the
/// Status message, made valid UTF-8).
void Check(const Status& status);

template <typename T>
T Unwrap(Result<T> result) {
  Check(result.status());
  return std::move(result).ValueOrDie();
}

/// An S3-compatible endpoint and region, or empty for the AWS defaults (environment,
/// profiles, instance role). Never credentials: those come from the standard AWS chain.
io::StorageOptions Storage(const std::string& endpoint_url, const std::string& region);

/// ResolveLocation with Storage(endpoint_url, region); raises OrchardError on failure.
io::Location Resolve(const std::string& uri, const std::string& endpoint_url,
                     const std::string& region);

/// refuse | overwrite | resume -> the policy; raises OrchardError on any other name.
output::ExistingOutput ExistingOutputNamed(const std::string& name);

/// Job options from a dict keyed by the CLI's flags with underscores (input, output, model,
/// batch_size, ..., existing = refuse|overwrite|resume); unknown keys are refused.
jobs::JobOptions JobOptionsFrom(const nanobind::dict& values);

/// The job options as such a dict (every key, `existing` spelled as a word).
nanobind::dict DictOf(const jobs::JobOptions& options);

/// Sets `*field` from `values[key]` when the dict has the key.
template <typename T>
void Take(const nanobind::dict& values, const char* key, T* field) {
  if (values.contains(key)) *field = nanobind::cast<T>(values[key]);
}

/// A shard's listing items from raw relative paths (bytes: file names need not be UTF-8)
/// and sizes, under `root`.
std::vector<pipeline::ImageItem> ItemsOf(const std::vector<nanobind::bytes>& sources,
                                         const std::vector<int64_t>& sizes,
                                         const io::Location& root);

/// A numpy array (the module's arrays); float32 [n, d] rows handed in from Python.
template <typename T>
using NumpyArray = nanobind::ndarray<nanobind::numpy, T>;
using FloatMatrix =
    nanobind::ndarray<const float, nanobind::ndim<2>, nanobind::c_contig, nanobind::device::cpu>;

/// Hands a vector to numpy without copying; numpy frees it.
template <typename T>
NumpyArray<T> ToNumpy(std::vector<T> values, std::initializer_list<size_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  nanobind::capsule owner(owned,
                          [](void* ptr) noexcept { delete static_cast<std::vector<T>*>(ptr); });
  return NumpyArray<T>(owned->data(), shape, owner);
}

/// The sum of the counts (JSON, as predict_parts returns them) of `classifier`'s predictions;
/// raises OrchardError on text that is not such counts.
classify::PredictionCounts MergedPredictionCounts(const classify::Classifier& classifier,
                                                  const std::vector<std::string>& counts);

}  // namespace orchard::python

/// cli_main, run_command, describe_commands: the command line (cli_bindings.cc).
void BindCli(nanobind::module_& m);
/// The classifier of `orchard train`: load_classifier, Classifier, predict_features.
void BindClassify(nanobind::module_& m);
/// orchard.Embedder: embed(), featurize_shard() (embedder_bindings.cc).
void BindEmbedder(nanobind::module_& m);
/// JOB_DEFAULTS and resolve_job_options (bindings.cc).
void BindJobOptions(nanobind::module_& m);
/// The jobs' driver API for the Spark job: FeaturizeDriver, PredictDriver, merge_outcomes.
void BindJobs(nanobind::module_& m);
/// The index, search and dedup drivers and their task functions (index_bindings.cc).
void BindIndex(nanobind::module_& m);
