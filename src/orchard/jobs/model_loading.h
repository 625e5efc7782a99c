// What every job that embeds images does first: read the embedding model its options name
// and make an embedder of it. Used by the pipeline jobs, train/predict and the Spark driver.
#pragma once

#include <memory>
#include <string>

#include "orchard/jobs/options.h"
#include "orchard/model/embedder.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// The largest ONNX model file orchard reads (2 GiB, protobuf's limit for one message;
/// models with external data files are not supported). Checked before any byte is read.
inline constexpr int64_t kMaxModelBytes = int64_t{2} << 30;

/// The bytes of the model of `options` (path or s3://). Fails, naming the model, when none
/// is given, it is not a regular file of at most kMaxModelBytes (a FIFO or device is refused
/// before it is opened: io::ReadRegularFile), or it cannot be read.
Result<std::string> ReadModelBytes(const JobOptions& options);

/// An embedder of `model_bytes` (the model of `options`): output `options.output_name`,
/// `threads` intra-op threads, the sha256 check of `options.model_sha256`.
Result<std::unique_ptr<model::Embedder>> MakeEmbedder(const std::string& model_bytes,
                                                      const JobOptions& options, int threads);

/// ReadModelBytes then MakeEmbedder with CoreCount(options.threads) threads.
Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options);

}  // namespace orchard::jobs
