#include "orchard/pipeline/model_loading.h"

#include <arrow/buffer.h>

#include <algorithm>
#include <thread>

#include "orchard/io/storage.h"

namespace orchard::pipeline {

int CoreCount(int threads) {
  if (threads > 0) return threads;
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options) {
  if (options.model.empty()) return Status::Invalid("no model given (--model)");
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(options.model, options.storage));
  auto bytes = io::ReadAll(location);
  if (!bytes.ok()) {
    return Status::IOError("cannot read model '", options.model, "': ", bytes.status().message());
  }
  model::EmbedderOptions embedder_options;
  embedder_options.output_name = options.output_name;
  embedder_options.intra_op_threads = CoreCount(options.threads);
  embedder_options.expected_sha256 = options.model_sha256;
  embedder_options.model_name = "'" + options.model + "'";
  return model::Embedder::Make((*bytes)->ToString(), embedder_options);
}

}  // namespace orchard::pipeline
