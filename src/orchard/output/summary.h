// The run summary of a pipeline job (report/summary.json of the output contract), as a
// struct: the jobs fill it, front ends and the report read its fields, and it becomes JSON
// only at the edges (ToJson to write, SummaryFromJson to read back, exactly).
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::output {

struct PcaSummary {
  int64_t k = 0;
  int64_t n = 0;  ///< rows fitted
  int64_t dim = 0;
  double variance_threshold = 0;
  double cumulative_explained_variance_ratio = 0;  ///< of the k kept components
};

/// What a featurizing job (run, featurize) did with the images.
/// `run --update`: what became of the images (pipeline::UpdateCounts), "update" in JSON.
struct UpdateSummary {
  int64_t reused = 0;
  int64_t added = 0;
  int64_t changed = 0;
  int64_t retried = 0;
  int64_t removed = 0;
};

struct FeaturizeSummary {
  std::string model_sha256;
  int64_t model_dim = 0;
  int64_t listed = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t reused_from_interrupted_run = 0;
  std::optional<UpdateSummary> update;  ///< `run --update` only
  double images_per_second = 0;
  /// Busy seconds per stage, summed over the stage's threads.
  double read_seconds = 0;
  double decode_seconds = 0;
  double embed_seconds = 0;
  double write_seconds = 0;
};

/// Where a distributed job ran: the "engine" object of the Spark job's summary (the keys
/// python/orchard/spark.py writes).
struct EngineSummary {
  std::string spark_version;
  std::string master;  ///< local[4], spark://host:7077, yarn, ...
  int64_t default_parallelism = 0;
  int64_t task_cpus = 0;
  int64_t shards = 0;
  std::string shard_rule;             ///< how the number of shards was chosen
  int64_t cluster_slots = 0;          ///< tasks the cluster runs at once; 0: unbounded (JSON null)
  int64_t executors_used = 0;         ///< executors that ran a featurize task (0: unknown)
  int64_t worker_peak_rss_bytes = 0;  ///< the largest Python worker's peak (0: unknown)
};

struct JobSummary {
  std::string orchard_version;
  std::string command;  ///< run, featurize, fit-pca, project, spark
  std::string input;
  std::string output;
  std::string model_path;
  std::string model_output;  ///< the model output holding the embedding
  int threads = 0;
  int batch_size = 0;
  std::optional<FeaturizeSummary> featurize;  ///< run, featurize, spark
  std::optional<PcaSummary> pca;              ///< run, fit-pca, project, spark
  std::optional<EngineSummary> engine;        ///< the Spark job
  /// Wall seconds per step ("list", "featurize", "fit_pca", "project", "total").
  std::map<std::string, double> seconds;
  double peak_rss_mib = 0;
};

/// The summary as report/summary.json holds it.
nlohmann::json ToJson(const JobSummary& summary);

/// The "engine" object as ToJson writes it ("executors" only when known).
nlohmann::json ToJson(const EngineSummary& engine);

/// Reads what ToJson wrote: SummaryFromJson(ToJson(s)) gives back every field of `s`
/// (doubles bit for bit once dumped and parsed). Checks the type of every field it reads
/// and fails naming `source` (the file) and the key, e.g. "OUT/report/summary.json:
/// 'images.ok' is not an integer". Required: orchard_version, command, input, output,
/// model.path, model.output, batch_size, and threads and peak_rss_mib unless the summary
/// has an engine (the Spark job's summary written by Python has neither). "images" brings
/// the featurize part (model.sha256, model.dim, images_per_second and busy_seconds are
/// then required), "pca" and "engine" theirs; "seconds" is optional. Keys it does not
/// know are ignored. Never throws.
Result<JobSummary> SummaryFromJson(const nlohmann::json& document,
                                   const std::string& source = "the run summary");

/// The "engine" object; `source` names the file in messages. Never throws.
Result<EngineSummary> EngineFromJson(const nlohmann::json& document,
                                     const std::string& source = "the run summary");

/// Reads and checks OUTPUT/report/summary.json (SummaryFromJson). Fails naming the file
/// when it is missing (says which job writes it), unreadable, not JSON or not a summary.
Result<JobSummary> ReadSummary(const io::Location& output);

}  // namespace orchard::output
