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

/// Reads the model of `options` (path or s3://) and makes its embedder: output
/// `options.output_name`, `CoreCount(options.threads)` intra-op threads, and the sha256
/// check of `options.model_sha256`. Fails (with the model's name in the message) when no
/// model is given, it cannot be read, or ONNX Runtime rejects it.
Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options);

}  // namespace orchard::pipeline
