// orchard._native's view of the jobs layer for a distributed front end (the Spark job):
// jobs::FeaturizeDriver's and jobs::PredictDriver's steps, the task side (a shard through
// pipeline::FeaturizeShard, its outcome encoded), and the job options' defaults. The sequence of a
// job lives in src/orchard/jobs/; this file only converts between Python values and C++ ones.
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "orchard/jobs/options.h"
#include "orchard/jobs/predict_driver.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/shard.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

namespace {

using orchard::python::Check;
using orchard::python::DictOf;
using orchard::python::Take;
using orchard::python::Unwrap;

}  // namespace

namespace {

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

// What both drivers' featurize steps show a front end (jobs::FeaturizeInputs): the model,
// the listing and the planned shards. `Driver` is a jobs::FeaturizeDriver or PredictDriver.
template <typename Driver>
class PyShardedDriver {
 public:
  std::string staging() const { return driver_->staging().display; }
  void plan(int64_t num_shards) { driver_->PlanShards(num_shards); }
  nb::bytes model_bytes() const { return BytesOf(inputs().model_bytes); }
  std::string sha256() const { return embedder().info().sha256; }
  int64_t dim() const { return embedder().info().output_dim; }
  int64_t listed() const { return inputs().num_items(); }
  int64_t rows_per_part() const { return inputs().rows_per_part; }
  nb::dict options() const { return DictOf(driver_->options()); }

  // [(first_part, num_parts, first_item, num_items, begin_byte, end_byte)]: a task reads
  // its images from bytes [begin_byte, end_byte) of the listing staged by the driver.
  std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>> shards() const {
    std::vector<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>> out;
    for (const auto& shard : inputs().shards) {
      out.emplace_back(shard.first_part, shard.num_parts, shard.first_item, shard.num_items,
                       shard.begin_byte, shard.end_byte);
    }
    return out;
  }

  /// The methods above, on the Python class of a driver.
  template <typename Py>
  static void Define(nb::class_<Py>& cls) {
    cls.def_prop_ro("staging", &Py::staging)
        .def_prop_ro("model_bytes", &Py::model_bytes)
        .def_prop_ro("sha256", &Py::sha256)
        .def_prop_ro("dim", &Py::dim)
        .def_prop_ro("listed", &Py::listed)
        .def_prop_ro("rows_per_part", &Py::rows_per_part)
        .def_prop_ro("options", &Py::options,
                     "the resolved job options (what every task runs with)")
        .def("plan", &Py::plan, nb::arg("num_shards"),
             "plans that many shards of whole parts anew (sized from `listed`)")
        .def("shards", &Py::shards,
             "[(first_part, num_parts, first_item, num_items, begin_byte, end_byte)]");
  }

 protected:
  const orchard::jobs::FeaturizeInputs& inputs() const { return driver_->inputs(); }
  const orchard::model::Embedder& embedder() const {
    if (!inputs().embedder) Check(orchard::Status::Invalid("this job featurizes no images"));
    return *inputs().embedder;
  }
  // The merged outcome of the featurize step's tasks, for the driver's FinishFeaturize.
  static orchard::pipeline::ShardOutcome OutcomeOf(const nb::bytes& merged) {
    return Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(merged)));
  }

  std::unique_ptr<Driver> driver_;
};

// The Spark job's own facts for summary.json (output::EngineSummary keys).
orchard::output::EngineSummary EngineOf(const nb::dict& engine) {
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
  return facts;
}

class PyFeaturizeDriver : public PyShardedDriver<orchard::jobs::FeaturizeDriver> {
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

  bool resuming_images() const { return driver_->images_to_do() < listed(); }

  nb::dict finish_featurize(const nb::bytes& merged, double seconds) {
    auto outcome = OutcomeOf(merged);
    nb::dict counts = CountsOf(outcome);
    {
      nb::gil_scoped_release release;
      Check(driver_->FinishFeaturize(std::move(outcome), seconds));
    }
    // `run --update`: the rows of the new output, the reused ones with the featurized.
    if (const auto& featurize = driver_->summary().featurize) {
      counts["ok"] = featurize->ok;
      counts["failed"] = featurize->failed;
    }
    return counts;
  }

  // Where the tasks write their parts (staging, or staging/update for `--update`).
  std::string featurize_staging() const { return driver_->featurize_staging().display; }

  // `--update`: {reused, added, changed, retried, removed}; None otherwise.
  std::optional<std::map<std::string, int64_t>> update_counts() const {
    const auto& counts = driver_->update_counts();
    if (!counts) return std::nullopt;
    return std::map<std::string, int64_t>{{"reused", counts->reused},
                                          {"added", counts->added},
                                          {"changed", counts->changed},
                                          {"retried", counts->retried},
                                          {"removed", counts->removed}};
  }

  // -> the PCA model JSON, for the projection tasks.
  std::string fit_pca() {
    nb::gil_scoped_release release;
    auto model = Unwrap(driver_->FitPca());
    return orchard::util::DumpJson(orchard::pca::ModelToJson(model));
  }

  void finish_project(double seconds) { driver_->FinishProject(seconds); }

  // -> summary.json's text.
  std::string finish(const nb::dict& engine) {
    const orchard::output::EngineSummary facts = EngineOf(engine);
    orchard::output::JobSummary summary;
    {
      nb::gil_scoped_release release;
      summary = Unwrap(
          driver_->Finish([&](orchard::output::JobSummary* amended) { amended->engine = facts; }));
    }
    return orchard::util::DumpJson(orchard::output::ToJson(summary), 2);
  }
};

class PyPredictDriver : public PyShardedDriver<orchard::jobs::PredictDriver> {
 public:
  PyPredictDriver(const nb::dict& options, const std::string& model_dir, const std::string& command,
                  int64_t num_shards) {
    orchard::jobs::PredictJobOptions job;
    job.job = orchard::python::JobOptionsFrom(options);
    job.model_dir = model_dir;
    nb::gil_scoped_release release;
    driver_ = Unwrap(orchard::jobs::PredictDriver::Begin(job, command, num_shards,
                                                         /*embedder_threads=*/1));
  }

  bool featurizes() const { return driver_->featurizes(); }
  std::string model_dir() const { return driver_->model_dir().display; }

  nb::dict finish_featurize(const nb::bytes& merged, double seconds) {
    const auto outcome = OutcomeOf(merged);
    nb::dict counts = CountsOf(outcome);
    nb::gil_scoped_release release;
    Check(driver_->FinishFeaturize(outcome.stats, seconds));
    return counts;
  }

  // Where the features parts to predict are, and each prediction task's part names.
  std::string features_dir() const {
    const auto& parts = driver_->feature_parts();
    if (parts.empty()) return "";
    const std::string& first = parts.front().display;
    return first.substr(0, first.rfind('/'));
  }
  std::string predictions_dir() const { return driver_->predictions_dir().display; }
  int64_t num_feature_parts() const {
    return static_cast<int64_t>(driver_->feature_parts().size());
  }
  std::vector<std::vector<std::string>> predict_groups(int64_t num_groups) const {
    const auto& parts = driver_->feature_parts();
    std::vector<std::vector<std::string>> groups;
    for (const auto& [first, count] : driver_->PlanPredict(num_groups)) {
      auto& names = groups.emplace_back();
      for (int64_t idx = first; idx < first + count; ++idx) {
        const std::string& path = parts[static_cast<size_t>(idx)].path;
        names.push_back(path.substr(path.rfind('/') + 1));
      }
    }
    return groups;
  }

  // `counts`: what the tasks' predict_parts returned. -> the merged row counts.
  int64_t finish_predict(const std::vector<std::string>& counts, double seconds) {
    const auto merged = orchard::python::MergedPredictionCounts(driver_->classifier(), counts);
    nb::gil_scoped_release release;
    Check(driver_->FinishPredict(merged, seconds));
    return merged.rows;
  }

  // -> summary.json's text.
  std::string finish(const nb::dict& engine) {
    const orchard::output::EngineSummary facts = EngineOf(engine);
    orchard::jobs::PredictSummary summary;
    {
      nb::gil_scoped_release release;
      summary = Unwrap(driver_->Finish(
          [&](orchard::jobs::PredictSummary* amended) { amended->engine = facts; }));
    }
    return orchard::util::DumpJson(orchard::jobs::ToJson(summary), 2);
  }
};

nb::bytes MergeOutcomes(const nb::bytes& left, const nb::bytes& right) {
  auto merged = Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(left)));
  Check(orchard::pipeline::MergeOutcome(
      Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(right))), &merged));
  return BytesOf(orchard::pipeline::SerializeOutcome(merged));
}

}  // namespace

void BindJobs(nb::module_& m) {
  nb::class_<PyFeaturizeDriver> featurize(
      m, "FeaturizeDriver",
      "The `run`/`featurize` job's driver steps (jobs::FeaturizeDriver): constructing it "
      "lists, checks the model, begins the commit and plans shards; tasks run "
      "Embedder.featurize_shard per shard; finish_featurize, fit_pca, finish_project and finish "
      "complete and publish.");
  featurize
      .def(nb::init<const nb::dict&, const std::string&, const std::string&, int64_t>(),
           nb::arg("options"), nb::arg("kind"), nb::arg("command"), nb::arg("num_shards"))
      .def_prop_ro("resuming", &PyFeaturizeDriver::resuming_images)
      .def_prop_ro("featurize_staging", &PyFeaturizeDriver::featurize_staging,
                   "where featurize tasks write (staging, or staging/update for --update)")
      .def_prop_ro("update_counts", &PyFeaturizeDriver::update_counts,
                   "--update: {reused, added, changed, retried, removed}; None otherwise")
      .def("finish_featurize", &PyFeaturizeDriver::finish_featurize, nb::arg("merged_outcome"),
           nb::arg("seconds"), "-> the merged counts")
      .def("fit_pca", &PyFeaturizeDriver::fit_pca, "-> the PCA model JSON")
      .def("finish_project", &PyFeaturizeDriver::finish_project, nb::arg("seconds"))
      .def("finish", &PyFeaturizeDriver::finish, nb::arg("engine"),
           "summary.json, index.html, publish -> summary.json's text");
  PyShardedDriver<orchard::jobs::FeaturizeDriver>::Define(featurize);

  nb::class_<PyPredictDriver> predict(
      m, "PredictDriver",
      "The `predict` job's driver steps (jobs::PredictDriver): constructing it loads the "
      "classifier, lists and checks the model (or an earlier output's), begins the commit and "
      "plans shards; when `featurizes`, tasks run Embedder.featurize_shard per shard and "
      "finish_featurize takes the merged outcome; tasks run predict_parts per predict group; "
      "finish_predict and finish complete and publish.");
  predict
      .def(nb::init<const nb::dict&, const std::string&, const std::string&, int64_t>(),
           nb::arg("options"), nb::arg("model_dir"), nb::arg("command"), nb::arg("num_shards"))
      .def_prop_ro("featurizes", &PyPredictDriver::featurizes,
                   "False when the input is an earlier output (its features are predicted)")
      .def_prop_ro("model_dir", &PyPredictDriver::model_dir)
      .def_prop_ro("features_dir", &PyPredictDriver::features_dir)
      .def_prop_ro("predictions_dir", &PyPredictDriver::predictions_dir)
      .def_prop_ro("num_feature_parts", &PyPredictDriver::num_feature_parts,
                   "the features parts to predict (after finish_featurize when featurizing)")
      .def("finish_featurize", &PyPredictDriver::finish_featurize, nb::arg("merged_outcome"),
           nb::arg("seconds"), "-> the merged counts")
      .def("predict_groups", &PyPredictDriver::predict_groups, nb::arg("num_groups"),
           "the features part names each prediction task predicts")
      .def("finish_predict", &PyPredictDriver::finish_predict, nb::arg("counts"),
           nb::arg("seconds"), "the tasks' predict_parts counts -> the rows predicted")
      .def("finish", &PyPredictDriver::finish, nb::arg("engine"),
           "metrics, summary.json, index.html, publish -> summary.json's text");
  PyShardedDriver<orchard::jobs::PredictDriver>::Define(predict);
  m.def("merge_outcomes", &MergeOutcomes, nb::arg("left"), nb::arg("right"),
        "two encoded shard outcomes -> one (associative)");
  m.def(
      "empty_outcome",
      [] {
        return BytesOf(orchard::pipeline::SerializeOutcome(orchard::pipeline::ShardOutcome()));
      },
      "the encoded outcome of no shard (an update with nothing to featurize)");
  m.def("outcome_counts", [](const nb::bytes& encoded) {
    return CountsOf(Unwrap(orchard::pipeline::DeserializeOutcome(StringOf(encoded))));
  });
}
