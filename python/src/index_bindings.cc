// orchard._native's view of the index, search and dedup drivers (jobs/index_driver.h) for
// the Spark job: the drivers' steps and the task functions. The sequence lives in the
// jobs layer; this file only converts between Python values and C++ ones. A task's job is
// a plain dict (picklable, sent to the executors); the drivers stay on the Spark driver.
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bindings.h"
#include "orchard/jobs/index_driver.h"
#include "orchard/jobs/index_job.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

namespace {

using orchard::python::Check;
using orchard::python::Storage;
using orchard::python::Take;
using orchard::python::Unwrap;
namespace jobs = orchard::jobs;

using Plan = std::vector<std::vector<std::string>>;

// The storage keys every task job carries.
void PutStorage(const orchard::io::StorageOptions& storage, nb::dict* job) {
  (*job)["endpoint_url"] = storage.endpoint_url;
  (*job)["region"] = storage.region;
}
orchard::io::StorageOptions StorageOf(const nb::dict& job) {
  std::string endpoint_url, region;
  Take(job, "endpoint_url", &endpoint_url);
  Take(job, "region", &region);
  return Storage(endpoint_url, region);
}

nb::dict DictOf(const jobs::ShardJob& job) {
  nb::dict out;
  out["trained_index"] = job.trained_index;
  out["on"] = job.on;
  out["dim"] = job.dim;
  PutStorage(job.storage, &out);
  return out;
}
jobs::ShardJob ShardJobOf(const nb::dict& values) {
  jobs::ShardJob job;
  Take(values, "trained_index", &job.trained_index);
  Take(values, "on", &job.on);
  Take(values, "dim", &job.dim);
  job.storage = StorageOf(values);
  return job;
}

nb::dict DictOf(const jobs::SearchShardJob& job) {
  nb::dict out;
  out["index_dir"] = job.index_dir;
  out["k"] = job.k;
  PutStorage(job.storage, &out);
  return out;
}
jobs::SearchShardJob SearchJobOf(const nb::dict& values) {
  jobs::SearchShardJob job;
  Take(values, "index_dir", &job.index_dir);
  Take(values, "k", &job.k);
  job.storage = StorageOf(values);
  return job;
}

nb::dict DictOf(const jobs::DedupShardJob& job) {
  nb::dict out;
  out["index_file"] = job.index_file;
  out["rows"] = job.rows;
  out["dim"] = job.dim;
  out["nprobe"] = job.nprobe;
  out["k"] = job.k;
  out["on"] = job.on;
  PutStorage(job.storage, &out);
  return out;
}
jobs::DedupShardJob DedupJobOf(const nb::dict& values) {
  jobs::DedupShardJob job;
  Take(values, "index_file", &job.index_file);
  Take(values, "rows", &job.rows);
  Take(values, "dim", &job.dim);
  Take(values, "nprobe", &job.nprobe);
  Take(values, "k", &job.k);
  Take(values, "on", &job.on);
  job.storage = StorageOf(values);
  return job;
}

// The build options every driver that builds an index takes (the CLI's flags).
orchard::index::BuildOptions BuildOf(const std::string& kind, const std::string& max_memory) {
  orchard::index::BuildOptions build;
  build.kind = kind;
  build.max_memory_bytes = Unwrap(jobs::ParseMaxMemory(max_memory));
  return build;
}

class PyIndexDriver {
 public:
  PyIndexDriver(const std::string& input, const std::string& output, const std::string& on,
                const std::string& kind, const std::string& max_memory, int threads, bool overwrite,
                const std::string& endpoint_url, const std::string& region) {
    jobs::IndexJobOptions options;
    options.input = input;
    options.output = output;
    options.on = on;
    options.build = BuildOf(kind, max_memory);
    options.threads = threads;
    options.overwrite = overwrite;
    options.storage = Storage(endpoint_url, region);
    nb::gil_scoped_release release;
    driver_ = Unwrap(jobs::IndexDriver::Begin(options));
  }
  nb::dict shard_job() const { return DictOf(driver_->shard_job()); }
  Plan plan(int64_t shards) const { return driver_->PlanShards(shards); }
  std::string shard_index(int64_t shard) const { return driver_->ShardIndex(shard); }
  std::string finish(const std::vector<int64_t>& shard_rows) {
    orchard::index::IndexMetrics metrics;
    {
      nb::gil_scoped_release release;
      metrics = Unwrap(driver_->Finish(shard_rows));
    }
    return orchard::util::DumpJson(orchard::index::ToJson(metrics), 2);
  }

 private:
  std::unique_ptr<jobs::IndexDriver> driver_;
};

class PySearchDriver {
 public:
  PySearchDriver(const std::string& index_dir, const std::string& input, const std::string& output,
                 int64_t k, int threads, bool overwrite, const std::string& endpoint_url,
                 const std::string& region) {
    jobs::SearchJobOptions options;
    options.index_dir = index_dir;
    options.job.input = input;
    options.job.output = output;
    options.job.threads = threads;
    options.job.storage = Storage(endpoint_url, region);
    options.k = k;
    options.overwrite = overwrite;
    nb::gil_scoped_release release;
    driver_ = Unwrap(jobs::SearchDriver::Begin(options));
  }
  nb::dict shard_job() const { return DictOf(driver_->shard_job()); }
  Plan plan(int64_t shards) const { return driver_->PlanShards(shards); }
  std::string shard_neighbours(int64_t shard) const { return driver_->ShardNeighbours(shard); }
  std::string shard_errors(int64_t shard) const { return driver_->ShardErrors(shard); }
  std::string finish(const std::vector<std::pair<int64_t, int64_t>>& counts) {
    jobs::NeighbourJobSummary summary;
    {
      nb::gil_scoped_release release;
      summary = Unwrap(driver_->Finish(counts));
    }
    return orchard::util::DumpJson(jobs::ToJson(summary), 2);
  }

 private:
  std::unique_ptr<jobs::SearchDriver> driver_;
};

class PyDedupDriver {
 public:
  PyDedupDriver(const std::string& input, const std::string& output, const std::string& against,
                const std::string& on, double threshold, int64_t k, const std::string& kind,
                const std::string& max_memory, int threads, bool overwrite,
                const std::string& endpoint_url, const std::string& region) {
    jobs::DedupJobOptions options;
    options.input = input;
    options.output = output;
    options.against = against;
    options.on = on;
    options.threshold = threshold;
    options.k = k;
    options.build = BuildOf(kind, max_memory);
    options.threads = threads;
    options.overwrite = overwrite;
    options.storage = Storage(endpoint_url, region);
    nb::gil_scoped_release release;
    driver_ = Unwrap(jobs::DedupDriver::Begin(options));
  }
  nb::dict shard_job() const { return DictOf(driver_->shard_job()); }
  Plan plan_index(int64_t shards) const { return driver_->PlanIndexShards(shards); }
  std::string shard_index(int64_t shard) const { return driver_->ShardIndex(shard); }
  void finish_index(const std::vector<int64_t>& shard_rows) {
    nb::gil_scoped_release release;
    Check(driver_->FinishIndex(shard_rows));
  }
  nb::dict search_job() const { return DictOf(driver_->search_job()); }
  Plan plan_search(int64_t shards) const { return driver_->PlanSearchShards(shards); }
  std::string shard_neighbours(int64_t shard) const { return driver_->ShardNeighbours(shard); }
  std::string finish(const std::vector<int64_t>& shard_rows) {
    jobs::NeighbourJobSummary summary;
    {
      nb::gil_scoped_release release;
      summary = Unwrap(driver_->Finish(shard_rows));
    }
    return orchard::util::DumpJson(jobs::ToJson(summary), 2);
  }

 private:
  std::unique_ptr<jobs::DedupDriver> driver_;
};

}  // namespace

void BindIndex(nb::module_& m) {
  nb::class_<PyIndexDriver>(
      m, "IndexDriver",
      "`orchard index`'s driver steps (jobs::IndexDriver): constructing it checks, reads the "
      "vectors and stages the trained index; tasks run index_shard(shard_job, parts, "
      "shard_index(i)) per planned shard; finish(rows per shard) appends, tunes and writes "
      "INDEX_DIR -> metrics.json's text")
      .def(nb::init<const std::string&, const std::string&, const std::string&, const std::string&,
                    const std::string&, int, bool, const std::string&, const std::string&>(),
           nb::arg("input"), nb::arg("output"), nb::arg("on"), nb::arg("kind"),
           nb::arg("max_memory"), nb::arg("threads"), nb::arg("overwrite"), nb::arg("endpoint_url"),
           nb::arg("region"))
      .def_prop_ro("shard_job", &PyIndexDriver::shard_job)
      .def("plan", &PyIndexDriver::plan, nb::arg("num_shards"))
      .def("shard_index", &PyIndexDriver::shard_index, nb::arg("shard"))
      .def("finish", &PyIndexDriver::finish, nb::arg("shard_rows"));
  nb::class_<PySearchDriver>(
      m, "SearchDriver",
      "batch `orchard search`'s driver steps (jobs::SearchDriver): tasks run "
      "search_shard(shard_job, parts, shard_neighbours(i), shard_errors(i)); finish(counts) "
      "-> summary.json's text")
      .def(nb::init<const std::string&, const std::string&, const std::string&, int64_t, int, bool,
                    const std::string&, const std::string&>(),
           nb::arg("index_dir"), nb::arg("input"), nb::arg("output"), nb::arg("k"),
           nb::arg("threads"), nb::arg("overwrite"), nb::arg("endpoint_url"), nb::arg("region"))
      .def_prop_ro("shard_job", &PySearchDriver::shard_job)
      .def("plan", &PySearchDriver::plan, nb::arg("num_shards"))
      .def("shard_neighbours", &PySearchDriver::shard_neighbours, nb::arg("shard"))
      .def("shard_errors", &PySearchDriver::shard_errors, nb::arg("shard"))
      .def("finish", &PySearchDriver::finish, nb::arg("counts"));
  nb::class_<PyDedupDriver>(
      m, "DedupDriver",
      "`orchard dedup`'s driver steps (jobs::DedupDriver): index step as IndexDriver's "
      "(plan_index, index_shard, finish_index), then search tasks dedup_shard(search_job, "
      "parts, shard_neighbours(i)) per plan_search shard; finish(rows per shard) -> "
      "summary.json's text")
      .def(nb::init<const std::string&, const std::string&, const std::string&, const std::string&,
                    double, int64_t, const std::string&, const std::string&, int, bool,
                    const std::string&, const std::string&>(),
           nb::arg("input"), nb::arg("output"), nb::arg("against"), nb::arg("on"),
           nb::arg("threshold"), nb::arg("k"), nb::arg("kind"), nb::arg("max_memory"),
           nb::arg("threads"), nb::arg("overwrite"), nb::arg("endpoint_url"), nb::arg("region"))
      .def_prop_ro("shard_job", &PyDedupDriver::shard_job)
      .def("plan_index", &PyDedupDriver::plan_index, nb::arg("num_shards"))
      .def("shard_index", &PyDedupDriver::shard_index, nb::arg("shard"))
      .def("finish_index", &PyDedupDriver::finish_index, nb::arg("shard_rows"))
      .def_prop_ro("search_job", &PyDedupDriver::search_job)
      .def("plan_search", &PyDedupDriver::plan_search, nb::arg("num_shards"))
      .def("shard_neighbours", &PyDedupDriver::shard_neighbours, nb::arg("shard"))
      .def("finish", &PyDedupDriver::finish, nb::arg("shard_rows"));

  m.def(
      "index_shard",
      [](const nb::dict& job, const std::vector<std::string>& parts, const std::string& out) {
        const auto shard_job = ShardJobOf(job);
        nb::gil_scoped_release release;
        return Unwrap(jobs::IndexShard(shard_job, parts, out));
      },
      nb::arg("job"), nb::arg("parts"), nb::arg("shard_index"),
      "a task of index/dedup: the parts' rows added to the trained index -> rows added");
  m.def(
      "search_shard",
      [](const nb::dict& job, const std::vector<std::string>& parts,
         const std::string& neighbours_file, const std::string& errors_file) {
        const auto search_job = SearchJobOf(job);
        nb::gil_scoped_release release;
        return Unwrap(jobs::SearchShard(search_job, parts, neighbours_file, errors_file));
      },
      nb::arg("job"), nb::arg("parts"), nb::arg("neighbours_file"), nb::arg("errors_file"),
      "a task of batch search -> (rows searched, rows skipped)");
  m.def(
      "dedup_shard",
      [](const nb::dict& job, const std::vector<std::string>& parts,
         const std::string& neighbours_file) {
        const auto dedup_job = DedupJobOf(job);
        nb::gil_scoped_release release;
        return Unwrap(jobs::DedupShard(dedup_job, parts, neighbours_file));
      },
      nb::arg("job"), nb::arg("parts"), nb::arg("neighbours_file"),
      "a task of dedup: the parts' rows searched in the staged index -> rows searched");
}
