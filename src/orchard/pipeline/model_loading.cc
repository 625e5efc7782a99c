#include "orchard/pipeline/model_loading.h"

#include <arrow/buffer.h>

#include <algorithm>
#include <new>
#include <string>
#include <thread>

#include "orchard/io/regular_file.h"
#include "orchard/io/storage.h"

namespace orchard::pipeline {

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

Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options) {
  if (options.model.empty()) return Status::Invalid("no model given (--model)");
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.threads));
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(options.model, options.storage));
  auto bytes = io::ReadRegularFile(location, kMaxModelBytes, "model '" + options.model + "'");
  ORCHARD_RETURN_NOT_OK(bytes.status());  // names the model and what is wrong with it
  model::EmbedderOptions embedder_options;
  embedder_options.output_name = options.output_name;
  embedder_options.intra_op_threads = CoreCount(options.threads);
  embedder_options.expected_sha256 = options.model_sha256;
  embedder_options.model_name = "'" + options.model + "'";
  std::string model_bytes;
  try {
    model_bytes = (*bytes)->ToString();
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory loading model '", options.model, "' (",
                               (*bytes)->size(), " bytes)");
  }
  bytes->reset();  // one copy of the model in memory, not two
  return model::Embedder::Make(model_bytes, embedder_options);
}

}  // namespace orchard::pipeline
