#include "orchard/jobs/model_loading.h"

#include <arrow/buffer.h>

#include <new>
#include <string>

#include "orchard/io/regular_file.h"
#include "orchard/io/storage.h"

namespace orchard::jobs {

Result<std::string> ReadModelBytes(const JobOptions& options) {
  if (options.model.empty()) return Status::Invalid("no model given (--model)");
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(options.model, options.storage));
  auto bytes = io::ReadRegularFile(location, kMaxModelBytes, "model '" + options.model + "'");
  ORCHARD_RETURN_NOT_OK(bytes.status());  // names the model and what is wrong with it
  try {
    return (*bytes)->ToString();
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory loading model '", options.model, "' (",
                               (*bytes)->size(), " bytes)");
  }
}

Result<std::unique_ptr<model::Embedder>> MakeEmbedder(const std::string& model_bytes,
                                                      const JobOptions& options, int threads) {
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(threads));
  model::EmbedderOptions embedder_options;
  embedder_options.output_name = options.output_name;
  embedder_options.intra_op_threads = CoreCount(threads);
  embedder_options.expected_sha256 = options.model_sha256;
  embedder_options.model_name = "'" + options.model + "'";
  return model::Embedder::Make(model_bytes, embedder_options);
}

Result<std::unique_ptr<model::Embedder>> LoadEmbedder(const JobOptions& options) {
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.threads));
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, ReadModelBytes(options));
  return MakeEmbedder(bytes, options, options.threads);
}

}  // namespace orchard::jobs
