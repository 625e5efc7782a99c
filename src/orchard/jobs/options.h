// The options of the jobs that featurize (run, featurize, fit-pca, project; train and
// predict reuse the featurize ones), with every default and derived value resolved in one
// place: ResolveJobOptions. Front ends (the CLI, the Python package and its Spark job) fill
// a JobOptions from their flags and call the jobs; none restates a default or a rule.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "orchard/image/decode.h"
#include "orchard/io/storage.h"
#include "orchard/output/commit.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// Defaults, exported to Python so that its argument parser shows the same ones.
inline constexpr int kDefaultBatchSize = 32;
inline constexpr int64_t kDefaultRowsPerPart = 1024;
inline constexpr int64_t kDefaultMaxPixels = int64_t{64} << 20;
inline constexpr double kDefaultPcaVariance = 0.99;
inline constexpr const char* kDefaultOutputName = "features";
/// The environment variable naming the model to use instead of the shipped one.
inline constexpr const char* kModelEnv = "ORCHARD_MODEL";

struct JobOptions {
  /// folder or s3:// prefix (one sub-folder per label), manifest (.parquet, .csv, .jsonl,
  /// S3 Inventory manifest.json) or tar shards (pipeline::ListImages)
  std::string input;
  std::string output;  ///< folder or s3:// prefix
  /// ONNX file (path or s3://); empty: $ORCHARD_MODEL, else `shipped_model`.
  std::string model;
  /// The front end's copy of the shipped MobileNetV2 (the CLI's install path, the wheel's
  /// package file); used when `model` is empty.
  std::string shipped_model;
  /// Expected sha256 of the model; empty: none, unless the model is the shipped one.
  std::string model_sha256;
  std::string output_name = kDefaultOutputName;
  io::StorageOptions storage;
  int batch_size = kDefaultBatchSize;
  int threads = 0;     ///< cores to use (0: all)
  int io_threads = 0;  ///< concurrent reads (0: automatic)
  int64_t rows_per_part = kDefaultRowsPerPart;
  int64_t max_pixels = kDefaultMaxPixels;
  /// Larger files are error rows, refused from the listing's size before any byte is read.
  int64_t max_file_bytes = image::kDefaultMaxFileBytes;
  /// Only files whose name (not folder) matches this fnmatch(3) glob; empty: every file.
  std::string path_glob;
  /// Where a tar sample's label comes from: folder, cls, txt or json:KEY
  /// (pipeline::ListOptions).
  std::string label_from = "folder";
  pca::PcaFitOptions pca;
  output::ExistingOutput existing = output::ExistingOutput::kRefuse;
  bool progress = false;  ///< draw a progress line on stderr
  /// Called for each warning (bad images, staged parts redone). Must be thread-safe.
  std::function<void(const std::string&)> warn;
  const std::atomic<bool>* cancel = nullptr;
};

/// The cores a job uses: `threads` when positive, else every core of the machine (>= 1).
int CoreCount(int threads);

/// The most threads a job may ask for (-j/--threads, the Spark job's task cores): four per
/// core of the machine (at least 4). More cannot run faster, and each costs a stack and a
/// share of the process's thread limit; -j 1024 used to run the machine out of threads.
int MaxThreads();

/// OK for 0 (every core) and 1..MaxThreads(); else an Invalid status naming the bound.
Status CheckThreadCount(int threads);

/// The options with every default and derived value worked out, once, at a job's entry:
/// `threads` becomes a core count (CheckThreadCount first); an empty `model` becomes
/// $ORCHARD_MODEL or `shipped_model`, and the shipped model is checked against
/// model::kDefaultModelSha256 unless a checksum was given.
Result<JobOptions> ResolveJobOptions(const JobOptions& options);

/// The featurize options the (resolved) job options ask for, without reporting: decoding
/// gets half the cores, ONNX Runtime all of them.
pipeline::FeaturizeOptions FeaturizeOptionsOf(const JobOptions& options);

}  // namespace orchard::jobs
