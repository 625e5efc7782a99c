// The run summary of a pipeline job, as a struct: the jobs fill it, front ends read its
// fields, and it becomes JSON (report/summary.json, `orchard --json`) only at the edges.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace orchard::pipeline {

struct PcaSummary {
  int64_t k = 0;
  int64_t n = 0;  ///< rows fitted
  int64_t dim = 0;
  double variance_threshold = 0;
  double cumulative_explained_variance_ratio = 0;  ///< of the k kept components
};

/// What a featurizing job (run, featurize) did with the images.
struct FeaturizeSummary {
  std::string model_sha256;
  int64_t model_dim = 0;
  int64_t listed = 0;
  int64_t ok = 0;
  int64_t failed = 0;
  int64_t reused_from_interrupted_run = 0;
  double images_per_second = 0;
  /// Busy seconds per stage, summed over the stage's threads.
  double read_seconds = 0;
  double decode_seconds = 0;
  double embed_seconds = 0;
  double write_seconds = 0;
};

struct JobSummary {
  std::string orchard_version;
  std::string command;  ///< run, featurize, fit-pca, project
  std::string input;
  std::string output;
  std::string model_path;
  std::string model_output;  ///< the model output holding the embedding
  int threads = 0;
  int batch_size = 0;
  std::optional<FeaturizeSummary> featurize;  ///< run, featurize
  std::optional<PcaSummary> pca;              ///< run, fit-pca, project
  /// Wall seconds per step ("list", "featurize", "fit_pca", "project", "total").
  std::map<std::string, double> seconds;
  double peak_rss_mib = 0;
};

/// The summary as report/summary.json holds it.
nlohmann::json ToJson(const JobSummary& summary);

/// Peak resident memory of this process, in MiB.
double PeakRssMiB();

}  // namespace orchard::pipeline
