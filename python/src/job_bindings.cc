// orchard._native's view of the jobs layer for a distributed front end (the Spark job):
// jobs::FeaturizeDriver's steps, the task side (a shard through pipeline::FeaturizeShard,
// its outcome encoded), and the job options' defaults. The sequence of a job lives in
// src/orchard/jobs/; this file only converts between Python values and C++ ones.
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "orchard/jobs/options.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/shard.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

namespace {

using orchard::python::Check;
using orchard::python::Resolve;
using orchard::python::Unwrap;

// The keys of a job-options dict: the CLI's flags, spelled with underscores.
template <typename T>
void Take(const nb::dict& values, const char* key, T* field) {
  if (values.contains(key)) *field = nb::cast<T>(values[key]);
}

}  // namespace

orchard::output::ExistingOutput orchard::python::ExistingOutputNamed(const std::string& name) {
  if (name == "refuse") return orchard::output::ExistingOutput::kRefuse;
  if (name == "overwrite") return orchard::output::ExistingOutput::kOverwrite;
  if (name == "resume") return orchard::output::ExistingOutput::kResume;
  Check(orchard::Status::Invalid("unknown existing-output policy '", name,
                                 "': use refuse, overwrite or resume"));
  return orchard::output::ExistingOutput::kRefuse;
}

namespace {

const char* PolicyName(orchard::output::ExistingOutput policy) {
  switch (policy) {
    case orchard::output::ExistingOutput::kOverwrite:
      return "overwrite";
    case orchard::output::ExistingOutput::kResume:
      return "resume";
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

namespace {

nb::dict DictOf(const orchard::jobs::JobOptions& options) {
  nb::dict values;
  ForEachOption(options, [&](const char* key, const auto& field) { values[key] = field; });
  values["existing"] = PolicyName(options.existing);
  return values;
}

nb::bytes BytesOf(const std::string& text) { return nb::bytes(text.data(), text.size()); }
std::string StringOf(const nb::bytes& bytes) { return std::string(bytes.c_str(), bytes.size()); }

// The counts of an encoded outcome, for the front end's log line.
nb::dict CountsOf(const orchard::pipeline::ShardOutcome& outcome) {
  nb::dict counts;
  counts["images"] = outcome.stats.images;
  counts["ok"] = outcome.stats.ok;
  counts["failed"] = outcome.stats.failed;
  counts["images_reused"] = outcome.stats.images_reused;
  counts["parts_written"] = outcome.stats.parts_written;
  counts["parts_reused"] = outcome.stats.parts_reused;
  return counts;
}

class PyFeaturizeDriver {
 public:
  PyFeaturizeDriver(const nb::dict& options, const std::string& kind, const std::string& command,
                    int64_t num_shards) {
    if (kind != "run" && kind != "featurize") {
      Check(orchard::Status::Invalid("unknown job '", kind, "': use run or featurize"));
    }
    const auto job = orchard::python::JobOptionsFrom(options);
    nb::gil_scoped_release release;
    driver_ = Unwrap(orchard::jobs::FeaturizeDriver::Begin(
        job,
        kind == "run" ? orchard::jobs::FeaturizeJobKind::kRun
                      : orchard::jobs::FeaturizeJobKind::kFeaturize,
        command, num_shards, /*embedder_threads=*/1));
  }

  std::string staging() const { return driver_->staging().display; }
  void plan(int64_t num_shards) { driver_->PlanShards(num_shards); }
  nb::bytes model_bytes() const { return BytesOf(driver_->model_bytes()); }
  std::string sha256() const { return driver_->model_info().sha256; }
  int64_t dim() const { return driver_->model_info().output_dim; }
  int64_t listed() const { return static_cast<int64_t>(driver_->items().size()); }
  int64_t rows_per_part() const { return driver_->rows_per_part(); }
  bool resuming_images() const { return driver_->images_to_do() < listed(); }
  nb::dict options() const { return DictOf(driver_->options()); }

  // [(first_part, num_parts, first_item, num_items)]
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> shards() const {
    std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t>> out;
    for (const auto& shard : driver_->shards()) {
      out.emplace_back(shard.first_part, shard.num_parts, shard.first_item, shard.num_items);
    }
    return out;
  }

  // The raw sources and sizes of the images of listing[first:first+count] (a shard's).
  std::tuple<std::vector<nb::bytes>, std::vector<int64_t>> items(int64_t first,
                                                                 int64_t count) const {
    const auto& all = driver_->items();
    if (first < 0 || count < 0 || first + count > static_cast<int64_t>(all.size())) {
      Check(orchard::Status::Invalid("items ", first, "+", count, " are outside the listing"));
    }
    std::vector<nb::bytes> sources;
    std::vector<int64_t> sizes;
    for (int64_t idx = first; idx < first + count; ++idx) {
      const auto& item = all[static_cast<size_t>(idx)];
      sources.emplace_back(item.source.data(), item.source.size());
      sizes.push_back(item.size);
    }
    return {std::move(sources), std::move(sizes)};
  }

  nb::dict finish_featurize(const nb::bytes& merged, double seconds) {
    auto outcome = Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(merged)));
    nb::dict counts = CountsOf(outcome);
    nb::gil_scoped_release release;
    Check(driver_->FinishFeaturize(std::move(outcome), seconds));
    return counts;
  }

  // -> the PCA model JSON, for the projection tasks.
  std::string fit_pca() {
    nb::gil_scoped_release release;
    auto model = Unwrap(driver_->FitPca());
    return orchard::util::DumpJson(orchard::pca::ModelToJson(model));
  }

  void finish_project(double seconds) { driver_->FinishProject(seconds); }

  // -> summary.json's text. `engine`: the Spark job's own facts (output::EngineSummary keys).
  std::string finish(const nb::dict& engine) {
    orchard::output::EngineSummary facts;
    Take(engine, "spark_version", &facts.spark_version);
    Take(engine, "master", &facts.master);
    Take(engine, "default_parallelism", &facts.default_parallelism);
    Take(engine, "task_cpus", &facts.task_cpus);
    Take(engine, "shards", &facts.shards);
    Take(engine, "shard_rule", &facts.shard_rule);
    Take(engine, "cluster_slots", &facts.cluster_slots);
    Take(engine, "executors_used", &facts.executors_used);
    Take(engine, "worker_peak_rss_bytes", &facts.worker_peak_rss_bytes);
    orchard::output::JobSummary summary;
    {
      nb::gil_scoped_release release;
      summary = Unwrap(
          driver_->Finish([&](orchard::output::JobSummary* amended) { amended->engine = facts; }));
    }
    return orchard::util::DumpJson(orchard::output::ToJson(summary), 2);
  }

 private:
  std::unique_ptr<orchard::jobs::FeaturizeDriver> driver_;
};

nb::bytes MergeOutcomes(const nb::bytes& left, const nb::bytes& right) {
  auto merged = Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(left)));
  Check(orchard::pipeline::MergeOutcome(
      Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(right))), &merged));
  return BytesOf(orchard::pipeline::SerializeOutcome(merged));
}

nb::dict JobDefaults() { return DictOf(orchard::jobs::JobOptions()); }

}  // namespace

void BindJobs(nb::module_& m) {
  nb::class_<PyFeaturizeDriver>(
      m, "FeaturizeDriver",
      "The `run`/`featurize` job's driver steps (jobs::FeaturizeDriver): constructing it "
      "lists, checks the model, begins the commit and plans shards; tasks run "
      "Embedder.featurize_shard per shard; finish_featurize, fit_pca, finish_project and finish "
      "complete and publish.")
      .def(nb::init<const nb::dict&, const std::string&, const std::string&, int64_t>(),
           nb::arg("options"), nb::arg("kind"), nb::arg("command"), nb::arg("num_shards"))
      .def_prop_ro("staging", &PyFeaturizeDriver::staging)
      .def_prop_ro("model_bytes", &PyFeaturizeDriver::model_bytes)
      .def_prop_ro("sha256", &PyFeaturizeDriver::sha256)
      .def_prop_ro("dim", &PyFeaturizeDriver::dim)
      .def_prop_ro("listed", &PyFeaturizeDriver::listed)
      .def_prop_ro("rows_per_part", &PyFeaturizeDriver::rows_per_part)
      .def_prop_ro("resuming", &PyFeaturizeDriver::resuming_images)
      .def_prop_ro("options", &PyFeaturizeDriver::options,
                   "the resolved job options (what every task runs with)")
      .def("plan", &PyFeaturizeDriver::plan, nb::arg("num_shards"),
           "plans that many shards of whole parts anew (sized from `listed`)")
      .def("shards", &PyFeaturizeDriver::shards, "[(first_part, num_parts, first_item, num_items)]")
      .def("items", &PyFeaturizeDriver::items, nb::arg("first"), nb::arg("count"),
           "(raw source bytes, sizes) of listing[first:first+count]")
      .def("finish_featurize", &PyFeaturizeDriver::finish_featurize, nb::arg("merged_outcome"),
           nb::arg("seconds"), "-> the merged counts")
      .def("fit_pca", &PyFeaturizeDriver::fit_pca, "-> the PCA model JSON")
      .def("finish_project", &PyFeaturizeDriver::finish_project, nb::arg("seconds"))
      .def("finish", &PyFeaturizeDriver::finish, nb::arg("engine"),
           "summary.json, index.html, publish -> summary.json's text");
  m.def("merge_outcomes", &MergeOutcomes, nb::arg("left"), nb::arg("right"),
        "two encoded shard outcomes -> one (associative)");
  m.def("outcome_counts", [](const nb::bytes& encoded) {
    return CountsOf(Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(encoded))));
  });
  m.attr("JOB_DEFAULTS") = JobDefaults();
  m.def(
      "resolve_job_options",
      [](const nb::dict& options) {
        return DictOf(
            Unwrap(orchard::jobs::ResolveJobOptions(orchard::python::JobOptionsFrom(options))));
      },
      nb::arg("options"),
      "the options with the jobs' defaults and derived values worked out (threads, the "
      "model and its checksum policy): jobs::ResolveJobOptions");
}
