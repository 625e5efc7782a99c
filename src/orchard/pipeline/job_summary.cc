#include "orchard/pipeline/job_summary.h"

#include <sys/resource.h>

namespace orchard::pipeline {

nlohmann::json ToJson(const JobSummary& summary) {
  nlohmann::json json = {
      {"orchard_version", summary.orchard_version},
      {"command", summary.command},
      {"input", summary.input},
      {"output", summary.output},
      {"model", {{"path", summary.model_path}, {"output", summary.model_output}}},
      {"threads", summary.threads},
      {"batch_size", summary.batch_size},
      {"peak_rss_mib", summary.peak_rss_mib}};
  for (const auto& [step, seconds] : summary.seconds) json["seconds"][step] = seconds;
  if (summary.featurize) {
    const FeaturizeSummary& featurize = *summary.featurize;
    json["model"]["sha256"] = featurize.model_sha256;
    json["model"]["dim"] = featurize.model_dim;
    json["images"] = {{"listed", featurize.listed},
                      {"ok", featurize.ok},
                      {"failed", featurize.failed},
                      {"reused_from_interrupted_run", featurize.reused_from_interrupted_run}};
    json["images_per_second"] = featurize.images_per_second;
    json["busy_seconds"] = {{"read", featurize.read_seconds},
                            {"decode", featurize.decode_seconds},
                            {"embed", featurize.embed_seconds},
                            {"write", featurize.write_seconds}};
  }
  if (summary.pca) {
    const PcaSummary& pca = *summary.pca;
    json["pca"] = {
        {"k", pca.k},
        {"n", pca.n},
        {"dim", pca.dim},
        {"variance_threshold", pca.variance_threshold},
        {"cumulative_explained_variance_ratio", pca.cumulative_explained_variance_ratio}};
  }
  return json;
}

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

}  // namespace orchard::pipeline
