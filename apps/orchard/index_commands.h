// `orchard index`, `orchard search` and `orchard dedup` (issue 25): flag parsing and
// printing only; the work is in orchard/jobs/index_job.h.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/jobs/index_job.h"

namespace orchard::cli {

class IndexCommands {
 public:
  /// Adds the three subcommands to `app`. `default_model` embeds search's photos unless
  /// --backbone is given. `print`: write results to stdout (false for the Python API).
  IndexCommands(CLI::App* app, const std::string& default_model, bool print = true);

  bool parsed() const;

  /// Runs the parsed subcommand; `shared` carries the warning and cancel hooks.
  Result<nlohmann::json> Run(const jobs::JobOptions& shared);

  bool printed() const { return printed_; }
  bool json_summary() const { return json_summary_; }

 private:
  CLI::App* index_ = nullptr;
  CLI::App* search_ = nullptr;
  CLI::App* dedup_ = nullptr;
  jobs::IndexJobOptions index_options_;
  jobs::SearchJobOptions search_options_;
  jobs::DedupJobOptions dedup_options_;
  std::string max_memory_;
  std::vector<std::string> files_;
  std::string default_model_;
  bool quiet_ = false;
  bool json_summary_ = false;
  bool printed_ = false;
  bool print_ = true;
};

}  // namespace orchard::cli
