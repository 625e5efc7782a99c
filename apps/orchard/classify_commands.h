// `orchard train` and `orchard predict` (issue 13): flag parsing and printing only; the
// work is in orchard/jobs/train_job.h and orchard/jobs/predict_job.h.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/classify/predict_parts.h"
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
  /// embedding model predict uses unless --backbone is given.
  ClassifyCommands(CLI::App* app, const std::string& default_model);

  /// True when one of the two subcommands was given.
  bool parsed() const;

  /// Runs the parsed subcommand. `shared` carries the progress, warning and cancel hooks
  /// main() set up. In single-file predict mode the top-k go to stdout and `printed()`
  /// becomes true; the call fails when any file could not be predicted.
  Result<nlohmann::json> Run(const jobs::JobOptions& shared);

  bool printed() const { return printed_; }
  bool json_summary() const { return json_summary_; }

 private:
  CLI::App* train_ = nullptr;
  CLI::App* predict_ = nullptr;
  jobs::TrainJobOptions train_options_;
  jobs::PredictJobOptions predict_options_;
  std::string default_model_;
  std::vector<std::string> files_;
  int64_t top_k_ = classify::kTopK;
  bool quiet_ = false;
  bool overwrite_ = false;
  bool json_summary_ = false;
  bool printed_ = false;
};

}  // namespace orchard::cli
