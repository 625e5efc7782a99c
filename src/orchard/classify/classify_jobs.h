// The jobs behind `orchard train` and `orchard predict` (issue 13). Like the jobs in
// pipeline/jobs.h, each returns a JSON summary; front ends only parse options and print.
//
//   train:   OUT/features (or OUT/pca) -> MODEL_DIR/{classifier.json, pca_model.json,
//            metrics.json}
//   predict: images (folder or s3://) or an earlier output -> PRED/{predictions, errors,
//            features, report/metrics.json}, committed like every output (_SUCCESS last)
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/model/embedder.h"
#include "orchard/pipeline/jobs.h"
#include "orchard/util/status.h"

namespace orchard::classify {

inline constexpr const char* kPredictionsTable = "predictions";
inline constexpr int64_t kTopK = 5;

struct TrainJobOptions {
  std::string input;            ///< an earlier `orchard run` output
  std::string model_dir;        ///< where the classifier goes (folder or s3://)
  std::string on = "features";  ///< "features" or "pca"
  TrainOptions train;
  io::StorageOptions storage;
  bool overwrite = false;  ///< replace an existing classifier in model_dir
};

/// Reads the training table, trains, writes the model and MODEL_DIR/metrics.json.
Result<nlohmann::json> TrainJob(const TrainJobOptions& options);

struct PredictJobOptions {
  /// The embedding model, batch size, threads, storage, output and overwrite policy, as
  /// for `orchard run` (`input` is the image folder or an earlier output; `output` PRED).
  pipeline::JobOptions job;
  std::string model_dir;  ///< the classifier
};

/// Predicts every image of `job.input` (or every row of an earlier output's features).
Result<nlohmann::json> PredictJob(const PredictJobOptions& options);

/// The top-k of one image file.
struct FilePrediction {
  std::string path;
  std::vector<std::string> labels;
  std::vector<float> probabilities;
  std::string error;  ///< non-empty when the file could not be read or decoded
};

/// Predicts single files (local paths or s3:// URIs), e.g. `orchard predict -m M a.jpg`.
/// A file that cannot be read or decoded gets an `error`; the call fails only when the
/// model or classifier cannot be loaded.
Result<std::vector<FilePrediction>> PredictFiles(const PredictJobOptions& options,
                                                 const std::vector<std::string>& files,
                                                 int64_t top_k);

/// The embedding model of `options` (path or s3://, sha256 check), as `orchard run`
/// loads it.
Result<std::unique_ptr<model::Embedder>> LoadJobEmbedder(const pipeline::JobOptions& options);

}  // namespace orchard::classify
