// The jobs behind `orchard train` and `orchard predict` (issue 13). Like the jobs in
// pipeline/jobs.h, each returns a typed summary (JSON only at the edges, ToJson); front
// ends only parse options and print.
//
//   train:   OUT/features (or OUT/pca) -> MODEL_DIR/{classifier.json, pca_model.json,
//            metrics.json}
//   predict: images (folder or s3://) or an earlier output -> PRED/{predictions, errors,
//            features, report/metrics.json}, committed like every output (_SUCCESS last)
#pragma once

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/classify/metrics.h"
#include "orchard/classify/trainer.h"
#include "orchard/jobs/jobs.h"
#include "orchard/model/embedder.h"
#include "orchard/util/status.h"

namespace orchard::classify {

inline constexpr int64_t kTopK = 5;

struct TrainJobOptions {
  std::string input;            ///< an earlier `orchard run` output
  std::string model_dir;        ///< where the classifier goes (folder or s3://)
  std::string on = "features";  ///< "features" or "pca"
  TrainOptions train;
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
  TrainReport training;
  double read_seconds = 0;  ///< reading the training table
  double total_seconds = 0;
};

/// MODEL_DIR/metrics.json, plus "output" when `with_output`.
nlohmann::json ToJson(const TrainSummary& summary, bool with_output);

/// Reads the training table, trains, writes the model and MODEL_DIR/metrics.json.
Result<TrainSummary> TrainJob(const TrainJobOptions& options);

struct PredictJobOptions {
  /// The embedding model, batch size, threads, storage, output and overwrite policy, as
  /// for `orchard run` (`input` is the image folder or an earlier output; `output` PRED).
  jobs::JobOptions job;
  std::string model_dir;  ///< the classifier
};

/// What `orchard predict -i -o` did: PRED/report/summary.json (ToJson).
struct PredictSummary {
  std::string orchard_version;
  std::string input;
  std::string output;
  std::string classifier;  ///< MODEL_DIR
  int threads = 0;
  std::string features_from;  ///< the earlier output predicted from; empty: images
  std::string model_path;     ///< the embedding model; empty for an earlier output
  std::string model_sha256;
  struct Images {
    int64_t listed = 0;
    int64_t ok = 0;
    int64_t failed = 0;
    double images_per_second = 0;
  };
  std::optional<Images> images;  ///< when images were featurized
  int64_t rows = 0;              ///< predicted rows
  struct Accuracy {
    double accuracy = 0;
    double top5_accuracy = 0;
    int64_t labelled_rows = 0;
  };
  std::optional<Accuracy> accuracy;  ///< when rows carry labels the classifier knows
  /// Wall seconds per step ("featurize", "predict", "total").
  std::map<std::string, double> seconds;
  double peak_rss_mib = 0;
};

nlohmann::json ToJson(const PredictSummary& summary);

/// Predicts every image of `job.input` (or every row of an earlier output's features).
Result<PredictSummary> PredictJob(const PredictJobOptions& options);

/// Predicts each features part (path, label, features) into `predictions_dir` under the
/// same part name (table/predictions.h), on up to `threads` threads, and returns their
/// counts (ComputePredictMetrics makes report/metrics.json of their sum). What `orchard predict`
/// does after featurizing, and what each task of `python -m orchard.spark predict` does for its
/// parts.
Result<PredictionCounts> PredictParts(const Classifier& classifier,
                                      const std::vector<io::Location>& feature_parts,
                                      const io::Location& predictions_dir, int threads);

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

}  // namespace orchard::classify
