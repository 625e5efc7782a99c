// The job behind `orchard predict` (issue 13), and the prediction of single files. Like
// the jobs in jobs.h it returns a typed summary (JSON only at the edges, ToJson); front
// ends only parse options and print.
//
//   predict: images (folder or s3://) or an earlier output -> PRED/{predictions, errors,
//            features, report/metrics.json}, committed like every output (_SUCCESS last)
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orchard/jobs/options.h"
#include "orchard/output/summary.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

struct PredictJobOptions {
  /// The embedding model, batch size, threads, storage, output and overwrite policy, as
  /// for `orchard run` (`input` is the image folder or an earlier output; `output` PRED).
  JobOptions job;
  std::string model_dir;  ///< the classifier
};

/// What `orchard predict -i -o` did: PRED/report/summary.json (ToJson).
struct PredictSummary {
  std::string orchard_version;
  std::string command = "predict";  ///< "predict", or "spark predict" for the Spark job
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
  std::optional<output::EngineSummary> engine;  ///< the Spark job
};

nlohmann::json ToJson(const PredictSummary& summary);

/// Predicts every image of `job.input` (or every row of an earlier output's features):
/// the PredictDriver's steps (predict_driver.h) in this process.
Result<PredictSummary> PredictJob(const PredictJobOptions& options);

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

}  // namespace orchard::jobs
