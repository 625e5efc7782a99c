// What every job that embeds images does first: work out its thread count and load the
// embedding model named by its options. Used by the pipeline jobs and by train/predict.
#pragma once

#include <memory>

#include "orchard/model/embedder.h"
#include "orchard/pipeline/jobs.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// The cores a job uses: `threads` when positive, else every core of the machine (>= 1).
int CoreCount(int threads);

/// The most threads a job may ask for (-j/--threads, the Spark job's task cores): four per
/// core of the machine (at least 4). More cannot run faster, and each costs a stack and a
/// share of the process's thread limit; -j 1024 used to run the machine out of threads.
int MaxThreads();

/// OK for 0 (every core) and 1..MaxThreads(); else an Invalid status naming the bound.
Status CheckThreadCount(int threads);

/// The largest ONNX model file orchard reads (2 GiB, protobuf's limit for one message;
/// models with external data files are not supported). Checked before any byte is read.
inline constexpr int64_t kMaxModelBytes = int64_t{2} << 30;

/// Reads the model of `options` (path or s3://) and makes its embedder: output
/// `options.output_name`, `CoreCount(options.threads)` intra-op threads, and the sha256
/// check of `options.model_sha256`. Fails (with the model's name in the message) when no
/// model is given, the thread count is out of range (CheckThreadCount), the model is not a
/// regular file of at most kMaxModelBytes (a FIFO or device is refused before it is
/// opened: io::ReadRegularFile), it cannot be read, or Embedder::Make rejects it.
Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options);

}  // namespace orchard::pipeline
