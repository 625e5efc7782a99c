// The jobs behind the CLI commands (and the Python package): run, featurize, fit-pca,
// project, inspect. Each returns the run summary (also written to report/summary.json,
// ToJson); front ends only parse options and print.
#pragma once

#include <atomic>
#include <functional>
#include <string>

#include "orchard/image/decode.h"
#include "orchard/io/storage.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/inspect.h"  // InspectOutput
#include "orchard/table/commit.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

struct JobOptions {
  std::string input;   ///< folder or s3:// prefix, one sub-folder per label
  std::string output;  ///< folder or s3:// prefix
  std::string model;   ///< ONNX file (path or s3://)
  /// Expected sha256 of the model; empty: none, unless `model` is the shipped default.
  std::string model_sha256;
  std::string output_name = "features";
  io::StorageOptions storage;
  int batch_size = 32;
  int threads = 0;     ///< cores to use (0: all)
  int io_threads = 0;  ///< concurrent reads (0: automatic)
  int64_t rows_per_part = 1024;
  int64_t max_pixels = 64LL * 1024 * 1024;
  /// Larger files are error rows, refused from the listing's size before any byte is read.
  int64_t max_file_bytes = image::kDefaultMaxFileBytes;
  pca::PcaFitOptions pca;
  table::ExistingOutput existing = table::ExistingOutput::kRefuse;
  bool progress = false;  ///< draw a progress line on stderr
  /// Called for each warning (bad images). Must be thread-safe.
  std::function<void(const std::string&)> warn;
  const std::atomic<bool>* cancel = nullptr;
};

/// The whole pipeline: featurize, fit PCA, project, report, publish.
Result<output::JobSummary> RunJob(const JobOptions& options);
/// Features and errors only (plus report/summary.json).
Result<output::JobSummary> FeaturizeJob(const JobOptions& options);
/// Fits PCA on OUT/features and publishes OUT/pca_model and the scree plot.
Result<output::JobSummary> FitPcaJob(const JobOptions& options);
/// Projects OUT/features with OUT/pca_model into OUT/pca.
Result<output::JobSummary> ProjectJob(const JobOptions& options);

}  // namespace orchard::pipeline
