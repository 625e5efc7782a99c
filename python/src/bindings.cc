// What every part of orchard._native shares (bindings.h): the one Status -> OrchardError
// translation, locations from URIs, the job options as a dict keyed by the CLI's flags.
#include <nanobind/stl/string.h>

#include <string>
#include <vector>

#include "bindings.h"
#include "orchard/jobs/options.h"
#include "orchard/pipeline/listing.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

using orchard::python::Check;
using orchard::python::Take;
using orchard::python::Unwrap;

namespace orchard::python {

void Check(const Status& status) {
  // The message says what failed and what to do; the status code name adds nothing.
  // Valid UTF-8: Python decodes the text of an exception, and a message may quote a raw name.
  if (!status.ok()) throw OrchardError(util::ValidUtf8(io::ExplainAccessDenied(status.message())));
}

io::StorageOptions Storage(const std::string& endpoint_url, const std::string& region) {
  io::StorageOptions options;
  options.endpoint_url = endpoint_url;
  options.region = region;
  return options;
}

io::Location Resolve(const std::string& uri, const std::string& endpoint_url,
                     const std::string& region) {
  return Unwrap(io::ResolveLocation(uri, Storage(endpoint_url, region)));
}

}  // namespace orchard::python

orchard::output::ExistingOutput orchard::python::ExistingOutputNamed(const std::string& name) {
  if (name == "refuse") return orchard::output::ExistingOutput::kRefuse;
  if (name == "overwrite") return orchard::output::ExistingOutput::kOverwrite;
  if (name == "resume") return orchard::output::ExistingOutput::kResume;
  if (name == "update") return orchard::output::ExistingOutput::kUpdate;
  Check(orchard::Status::Invalid("unknown existing-output policy '", name,
                                 "': use refuse, overwrite, resume or update"));
  return orchard::output::ExistingOutput::kRefuse;
}

namespace {

const char* PolicyName(orchard::output::ExistingOutput policy) {
  switch (policy) {
    case orchard::output::ExistingOutput::kOverwrite:
      return "overwrite";
    case orchard::output::ExistingOutput::kResume:
      return "resume";
    case orchard::output::ExistingOutput::kUpdate:
      return "update";
    default:
      return "refuse";
  }
}

// Every job option a dict may hold, by the CLI's flag name (underscored), once: reading
// (JobOptionsFrom), writing (DictOf) and the known-key check all walk this. `existing` (an
// enum spelled as a word) is handled beside it.
template <typename Options, typename Fn>
void ForEachOption(Options& options, Fn&& visit) {
  visit("input", options.input);
  visit("output", options.output);
  visit("model", options.model);
  visit("model_sha256", options.model_sha256);
  visit("shipped_model", options.shipped_model);
  visit("output_name", options.output_name);
  visit("batch_size", options.batch_size);
  visit("threads", options.threads);
  visit("io_threads", options.io_threads);
  visit("rows_per_part", options.rows_per_part);
  visit("max_pixels", options.max_pixels);
  visit("max_file_bytes", options.max_file_bytes);
  visit("path_glob", options.path_glob);
  visit("label_from", options.label_from);
  visit("pca_variance", options.pca.variance_threshold);
  visit("pca_k", options.pca.k);
  visit("endpoint_url", options.storage.endpoint_url);
  visit("region", options.storage.region);
}

bool IsOptionKey(const std::string& name) {
  if (name == "existing") return true;
  bool known = false;
  orchard::jobs::JobOptions probe;
  ForEachOption(probe, [&](const char* key, const auto&) { known = known || name == key; });
  return known;
}

}  // namespace

orchard::jobs::JobOptions orchard::python::JobOptionsFrom(const nb::dict& values) {
  for (const auto& [key, value] : values) {
    const std::string name = nb::cast<std::string>(key);
    if (!IsOptionKey(name)) Check(orchard::Status::Invalid("unknown job option '", name, "'"));
  }
  orchard::jobs::JobOptions options;
  ForEachOption(options, [&](const char* key, auto& field) { Take(values, key, &field); });
  if (values.contains("existing")) {
    options.existing =
        orchard::python::ExistingOutputNamed(nb::cast<std::string>(values["existing"]));
  }
  return options;
}

nb::dict orchard::python::DictOf(const orchard::jobs::JobOptions& options) {
  nb::dict values;
  ForEachOption(options, [&](const char* key, const auto& field) { values[key] = field; });
  values["existing"] = PolicyName(options.existing);
  return values;
}

// The shard's items from raw relative paths (bytes: file names need not be UTF-8).
std::vector<orchard::pipeline::ImageItem> orchard::python::ItemsOf(
    const std::vector<nb::bytes>& sources, const std::vector<int64_t>& sizes,
    const orchard::io::Location& root) {
  if (sources.size() != sizes.size()) {
    Check(orchard::Status::Invalid("sources and sizes differ in length"));
  }
  std::vector<orchard::pipeline::ImageItem> items;
  items.reserve(sources.size());
  for (size_t idx = 0; idx < sources.size(); ++idx) {
    // A token (pipeline::ItemToken): a folder item's raw path, or any other item whole.
    items.push_back(Unwrap(orchard::pipeline::ItemFromToken(
        std::string(sources[idx].c_str(), sources[idx].size()), sizes[idx], root)));
  }
  return items;
}

void BindJobOptions(nb::module_& m) {
  m.attr("JOB_DEFAULTS") = orchard::python::DictOf(orchard::jobs::JobOptions());
  m.def(
      "resolve_job_options",
      [](const nb::dict& options) {
        return orchard::python::DictOf(
            Unwrap(orchard::jobs::ResolveJobOptions(orchard::python::JobOptionsFrom(options))));
      },
      nb::arg("options"),
      "the options with the jobs' defaults and derived values worked out (threads, the "
      "model and its checksum policy): jobs::ResolveJobOptions");
}
