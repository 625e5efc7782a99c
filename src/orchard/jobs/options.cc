#include "orchard/jobs/options.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

#include "orchard/model/embedder.h"
#include "orchard/pipeline/listing.h"

namespace orchard::jobs {

int CoreCount(int threads) {
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

int MaxThreads() { return 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

Status CheckThreadCount(int threads) {
  if (threads >= 0 && threads <= MaxThreads()) return Status::OK();
  return Status::Invalid("--threads ", threads, " is out of range: use 0 (every core) up to ",
                         MaxThreads(), " (four per core of this machine)");
}

Result<JobOptions> ResolveJobOptions(const JobOptions& options) {
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.threads));
  ORCHARD_RETURN_NOT_OK(pipeline::CheckLabelFrom(options.label_from));
  JobOptions resolved = options;
  resolved.threads = CoreCount(options.threads);
  if (resolved.model.empty() && !resolved.shipped_model.empty()) {
    const char* env = std::getenv(kModelEnv);
    if (env != nullptr && *env != '\0') {
      resolved.model = env;
    } else {
      resolved.model = resolved.shipped_model;
      // The shipped model is known: a different file under its name is refused.
      if (resolved.model_sha256.empty()) resolved.model_sha256 = model::kDefaultModelSha256;
    }
  }
  return resolved;
}

pipeline::FeaturizeOptions FeaturizeOptionsOf(const JobOptions& options) {
  pipeline::FeaturizeOptions featurize;
  featurize.batch_size = options.batch_size;
  featurize.rows_per_part = options.rows_per_part;
  featurize.io_threads = options.io_threads;
  featurize.preprocess.max_pixels = options.max_pixels;
  featurize.preprocess.max_file_bytes = options.max_file_bytes;
  featurize.cancel = options.cancel;
  featurize.on_warning = options.warn;
  // Decoding needs a fraction of the cores inference needs; ONNX Runtime gets them all.
  featurize.prep_threads = std::max(1, CoreCount(options.threads) / 2);
  return featurize;
}

}  // namespace orchard::jobs
