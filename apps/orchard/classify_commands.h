// `orchard train` and `orchard predict` (issue 13): flag parsing and printing only; the
// work is in orchard/jobs/train_job.h and orchard/jobs/predict_job.h.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orchard/classify/predict_parts.h"
#include "orchard/jobs/index_job.h"
#include "orchard/jobs/jobs.h"
#include "orchard/jobs/predict_job.h"
#include "orchard/jobs/train_job.h"

namespace orchard::cli {

/// The check of every -j/--threads flag: 0 (every core) up to jobs::MaxThreads(), a
/// usage error (exit 2) otherwise.
CLI::Validator ThreadCountValidator();

class ClassifyCommands {
 public:
  /// Adds the `train` and `predict` subcommands to `app`. `default_model` is the
  /// embedding model predict uses unless --backbone is given. `print`: write the results
  /// (summary lines, predict's TSV, --json) to stdout and stderr; false for the Python API,
  /// which takes them from Run's result and file_predictions().
  ClassifyCommands(CLI::App* app, const std::string& default_model, bool print = true);

  /// True when one of the two subcommands was given.
  bool parsed() const;

  /// Runs the parsed subcommand. `shared` carries the warning and cancel hooks RunCommand
  /// set up; `progress`, when set, overrides -q and the terminal check for the progress
  /// line. In single-file predict mode the top-k go to stdout and `printed()` becomes true;
  /// the call fails when any file could not be predicted (file_predictions() still holds
  /// every file's result).
  Result<nlohmann::json> Run(const jobs::JobOptions& shared, std::optional<bool> progress);

  bool printed() const { return printed_; }
  bool json_summary() const { return json_summary_; }
  /// predict's file mode: {"predictions": [...]}, one entry per file; null otherwise.
  const nlohmann::json& file_predictions() const { return file_predictions_; }

 private:
  CLI::App* train_ = nullptr;
  CLI::App* predict_ = nullptr;
  jobs::TrainJobOptions train_options_;
  jobs::PredictJobOptions predict_options_;
  jobs::KnnPredictOptions knn_options_;  ///< predict --knn (issue 25)
  std::string default_model_;
  std::vector<std::string> files_;
  int64_t top_k_ = classify::kTopK;
  bool quiet_ = false;
  bool overwrite_ = false;
  bool json_summary_ = false;
  bool printed_ = false;
  bool print_ = true;
  nlohmann::json file_predictions_;
};

}  // namespace orchard::cli
