// The job behind `orchard train` (issue 13). Like the jobs in jobs.h it returns a typed
// summary (JSON only at the edges, ToJson); front ends only parse options and print.
//
//   train: OUT/features (or OUT/pca) -> MODEL_DIR/{classifier.json, pca_model.json,
//          metrics.json}
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "orchard/classify/trainer.h"
#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

struct TrainJobOptions {
  std::string input;            ///< an earlier `orchard run` output
  std::string model_dir;        ///< where the classifier goes (folder or s3://)
  std::string on = "features";  ///< "features" or "pca"
  classify::TrainOptions train;
  io::StorageOptions storage;
  bool overwrite = false;  ///< replace an existing classifier in model_dir
};

/// What `orchard train` did: MODEL_DIR/metrics.json (ToJson, without `output`).
struct TrainSummary {
  std::string orchard_version;
  std::string input;
  std::string output;  ///< MODEL_DIR
  std::string on;      ///< "features" or "pca"
  std::string feature_model_sha256;
  int threads = 0;
  classify::TrainReport training;
  double read_seconds = 0;  ///< reading the training table
  double total_seconds = 0;
};

/// MODEL_DIR/metrics.json, plus "output" when `with_output`.
nlohmann::json ToJson(const TrainSummary& summary, bool with_output);

/// Reads the training table, trains, writes the model and MODEL_DIR/metrics.json.
Result<TrainSummary> TrainJob(const TrainJobOptions& options);

}  // namespace orchard::jobs
