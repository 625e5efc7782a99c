#include "orchard/output/summary.h"

#include <arrow/buffer.h>

#include <limits>

#include "orchard/output/layout.h"
#include "orchard/util/json_fields.h"

namespace orchard::output {
namespace {

using nlohmann::json;
using util::JsonFields;

constexpr int64_t kIntMax = std::numeric_limits<int>::max();

Result<std::map<std::string, double>> SecondsFromJson(const JsonFields& summary) {
  std::map<std::string, double> seconds;
  ORCHARD_ASSIGN_OR_RAISE(auto object, summary.OptionalObject("seconds"));
  if (!object) return seconds;
  for (const auto& [step, value] : object->object().items()) {
    ORCHARD_ASSIGN_OR_RAISE(seconds[step], object->Number(step.c_str()));
  }
  return seconds;
}

Result<FeaturizeSummary> FeaturizeFromJson(const JsonFields& summary, const JsonFields& model,
                                           const JsonFields& images) {
  FeaturizeSummary featurize;
  ORCHARD_ASSIGN_OR_RAISE(featurize.model_sha256, model.String("sha256"));
  ORCHARD_ASSIGN_OR_RAISE(featurize.model_dim, model.Integer("dim", 0));
  ORCHARD_ASSIGN_OR_RAISE(featurize.listed, images.Integer("listed", 0));
  ORCHARD_ASSIGN_OR_RAISE(featurize.ok, images.Integer("ok", 0));
  ORCHARD_ASSIGN_OR_RAISE(featurize.failed, images.Integer("failed", 0));
  ORCHARD_ASSIGN_OR_RAISE(featurize.reused_from_interrupted_run,
                          images.Integer("reused_from_interrupted_run", 0));
  ORCHARD_ASSIGN_OR_RAISE(auto update, summary.OptionalObject("update"));
  if (update) {
    UpdateSummary counts;
    ORCHARD_ASSIGN_OR_RAISE(counts.reused, update->Integer("reused", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.added, update->Integer("added", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.changed, update->Integer("changed", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.retried, update->Integer("retried", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.removed, update->Integer("removed", 0));
    featurize.update = counts;
  }
  ORCHARD_ASSIGN_OR_RAISE(featurize.images_per_second, summary.Number("images_per_second"));
  ORCHARD_ASSIGN_OR_RAISE(auto busy, summary.Object("busy_seconds"));
  ORCHARD_ASSIGN_OR_RAISE(featurize.read_seconds, busy.Number("read"));
  ORCHARD_ASSIGN_OR_RAISE(featurize.decode_seconds, busy.Number("decode"));
  ORCHARD_ASSIGN_OR_RAISE(featurize.embed_seconds, busy.Number("embed"));
  ORCHARD_ASSIGN_OR_RAISE(featurize.write_seconds, busy.Number("write"));
  return featurize;
}

Result<PcaSummary> PcaFromJson(const JsonFields& pca) {
  PcaSummary summary;
  ORCHARD_ASSIGN_OR_RAISE(summary.k, pca.Integer("k", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.n, pca.Integer("n", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.dim, pca.Integer("dim", 0));
  ORCHARD_ASSIGN_OR_RAISE(summary.variance_threshold, pca.Number("variance_threshold"));
  ORCHARD_ASSIGN_OR_RAISE(summary.cumulative_explained_variance_ratio,
                          pca.Number("cumulative_explained_variance_ratio"));
  return summary;
}

}  // namespace

json ToJson(const EngineSummary& engine) {
  json out = {{"spark_version", engine.spark_version},
              {"master", engine.master},
              {"default_parallelism", engine.default_parallelism},
              {"task_cpus", engine.task_cpus},
              {"shards", engine.shards},
              {"shard_rule", engine.shard_rule},
              {"cluster_slots", nullptr},
              {"executors_used", engine.executors_used},
              {"worker_peak_rss_bytes", engine.worker_peak_rss_bytes}};
  if (engine.cluster_slots > 0) out["cluster_slots"] = engine.cluster_slots;
  return out;
}

json ToJson(const JobSummary& summary) {
  json out = {{"orchard_version", summary.orchard_version},
              {"command", summary.command},
              {"input", summary.input},
              {"output", summary.output},
              {"model", {{"path", summary.model_path}, {"output", summary.model_output}}},
              {"threads", summary.threads},
              {"batch_size", summary.batch_size},
              {"peak_rss_mib", summary.peak_rss_mib}};
  for (const auto& [step, seconds] : summary.seconds) out["seconds"][step] = seconds;
  if (summary.featurize) {
    const FeaturizeSummary& featurize = *summary.featurize;
    out["model"]["sha256"] = featurize.model_sha256;
    out["model"]["dim"] = featurize.model_dim;
    out["images"] = {{"listed", featurize.listed},
                     {"ok", featurize.ok},
                     {"failed", featurize.failed},
                     {"reused_from_interrupted_run", featurize.reused_from_interrupted_run}};
    if (const auto& update = featurize.update) {
      out["update"] = {{"reused", update->reused},
                       {"added", update->added},
                       {"changed", update->changed},
                       {"retried", update->retried},
                       {"removed", update->removed}};
    }
    out["images_per_second"] = featurize.images_per_second;
    out["busy_seconds"] = {{"read", featurize.read_seconds},
                           {"decode", featurize.decode_seconds},
                           {"embed", featurize.embed_seconds},
                           {"write", featurize.write_seconds}};
  }
  if (summary.pca) {
    const PcaSummary& pca = *summary.pca;
    out["pca"] = {{"k", pca.k},
                  {"n", pca.n},
                  {"dim", pca.dim},
                  {"variance_threshold", pca.variance_threshold},
                  {"cumulative_explained_variance_ratio", pca.cumulative_explained_variance_ratio}};
  }
  if (summary.engine) out["engine"] = ToJson(*summary.engine);
  return out;
}

Result<EngineSummary> EngineFromJson(const json& document, const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(document, source, "engine"));
  EngineSummary engine;
  ORCHARD_ASSIGN_OR_RAISE(engine.spark_version, fields.String("spark_version"));
  ORCHARD_ASSIGN_OR_RAISE(engine.master, fields.String("master"));
  ORCHARD_ASSIGN_OR_RAISE(engine.default_parallelism, fields.Integer("default_parallelism", 0));
  ORCHARD_ASSIGN_OR_RAISE(engine.task_cpus, fields.Integer("task_cpus", 0));
  ORCHARD_ASSIGN_OR_RAISE(engine.shards, fields.Integer("shards", 0));
  ORCHARD_ASSIGN_OR_RAISE(auto rule, fields.OptionalString("shard_rule"));
  engine.shard_rule = rule.value_or("");
  // null (or absent, as older summaries have it) when the cluster's size is unbounded.
  if (document.contains("cluster_slots") && !document["cluster_slots"].is_null()) {
    ORCHARD_ASSIGN_OR_RAISE(engine.cluster_slots, fields.Integer("cluster_slots", 0));
  }
  ORCHARD_ASSIGN_OR_RAISE(auto used, fields.OptionalInteger("executors_used"));
  engine.executors_used = used.value_or(0);
  ORCHARD_ASSIGN_OR_RAISE(auto peak, fields.OptionalInteger("worker_peak_rss_bytes"));
  engine.worker_peak_rss_bytes = peak.value_or(0);
  if (engine.executors_used < 0 || engine.worker_peak_rss_bytes < 0) {
    return fields.Error("executors_used", "or worker_peak_rss_bytes is negative");
  }
  return engine;
}

Result<JobSummary> SummaryFromJson(const json& document, const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(document, source));
  JobSummary summary;
  ORCHARD_ASSIGN_OR_RAISE(summary.orchard_version, fields.String("orchard_version"));
  ORCHARD_ASSIGN_OR_RAISE(summary.command, fields.String("command"));
  ORCHARD_ASSIGN_OR_RAISE(summary.input, fields.String("input"));
  ORCHARD_ASSIGN_OR_RAISE(summary.output, fields.String("output"));
  ORCHARD_ASSIGN_OR_RAISE(auto model, fields.Object("model"));
  ORCHARD_ASSIGN_OR_RAISE(summary.model_path, model.String("path"));
  ORCHARD_ASSIGN_OR_RAISE(summary.model_output, model.String("output"));
  ORCHARD_ASSIGN_OR_RAISE(auto batch_size, fields.Integer("batch_size", 0, kIntMax));
  summary.batch_size = static_cast<int>(batch_size);
  if (fields.Has("engine")) {
    ORCHARD_ASSIGN_OR_RAISE(summary.engine, EngineFromJson(document.at("engine"), source));
  }
  // The Spark job's summary, written by Python, records neither (0: not recorded).
  if (summary.engine) {
    ORCHARD_ASSIGN_OR_RAISE(auto threads, fields.OptionalInteger("threads"));
    if (threads && (*threads < 0 || *threads > kIntMax)) {
      return fields.Error("threads", "is out of range");
    }
    summary.threads = static_cast<int>(threads.value_or(0));
    ORCHARD_ASSIGN_OR_RAISE(auto rss, fields.OptionalNumber("peak_rss_mib"));
    summary.peak_rss_mib = rss.value_or(0);
  } else {
    ORCHARD_ASSIGN_OR_RAISE(auto threads, fields.Integer("threads", 0, kIntMax));
    summary.threads = static_cast<int>(threads);
    ORCHARD_ASSIGN_OR_RAISE(summary.peak_rss_mib, fields.Number("peak_rss_mib"));
  }
  ORCHARD_ASSIGN_OR_RAISE(summary.seconds, SecondsFromJson(fields));
  ORCHARD_ASSIGN_OR_RAISE(auto images, fields.OptionalObject("images"));
  if (images) {
    ORCHARD_ASSIGN_OR_RAISE(summary.featurize, FeaturizeFromJson(fields, model, *images));
  }
  ORCHARD_ASSIGN_OR_RAISE(auto pca, fields.OptionalObject("pca"));
  if (pca) {
    ORCHARD_ASSIGN_OR_RAISE(summary.pca, PcaFromJson(*pca));
  }
  return summary;
}

Result<JobSummary> ReadSummary(const io::Location& output) {
  const io::Location location = output.Child(kSummaryJson);
  ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(location));
  if (!exists) {
    return Status::IOError(location.display,
                           " does not exist: not an orchard output, or its job did not finish "
                           "(run `orchard run` or `orchard featurize` on it)");
  }
  auto bytes = io::ReadAll(location);
  if (!bytes.ok()) {
    return bytes.status().WithMessage("cannot read ", location.display, ": ",
                                      bytes.status().message());
  }
  json parsed;
  try {
    parsed = json::parse((*bytes)->ToString());
  } catch (const json::exception& error) {
    return Status::Invalid(location.display, " is not valid JSON: ", error.what());
  }
  return SummaryFromJson(parsed, location.display);
}

}  // namespace orchard::output
