#include "orchard/pipeline/prep_stage.h"

#include <arrow/buffer.h>

#include <chrono>
#include <future>
#include <memory>

#include "orchard/util/stopwatch.h"

namespace orchard::pipeline {

image::PreprocessOptions PreprocessFor(const model::Embedder& embedder,
                                       image::PreprocessOptions options) {
  options.width = static_cast<int>(embedder.info().width);
  options.height = static_cast<int>(embedder.info().height);
  return options;
}
namespace {

using util::Clock;
using util::SecondsSince;

}  // namespace

Result<PreparedBatch> PrepStage::Prepare(int64_t batch_idx, int64_t first, int64_t count,
                                         PrepTimes* times) const {
  PreparedBatch batch;
  batch.batch_idx = batch_idx;
  batch.input.resize(static_cast<size_t>(count * input_size_));
  // Start every read of the batch at once, so object-store latency overlaps.
  std::vector<std::future<Result<std::shared_ptr<arrow::Buffer>>>> reads;
  std::vector<Result<std::shared_ptr<arrow::Buffer>>> inline_reads;
  for (int64_t offset = 0; offset < count; ++offset) {
    const io::Location location =
        input_root_.Child(items_[static_cast<size_t>(first + offset)].source);
    if (io_pool_ != nullptr) {
      reads.push_back(io_pool_->Submit([location] { return io::ReadAll(location); }));
    } else {
      inline_reads.push_back(io::ReadAll(location));
    }
  }
  for (int64_t offset = 0; offset < count; ++offset) {
    const auto item_idx = first + offset;
    const auto& item = items_[static_cast<size_t>(item_idx)];
    const auto read_start = Clock::now();
    Result<std::shared_ptr<arrow::Buffer>> bytes =
        io_pool_ != nullptr ? reads[static_cast<size_t>(offset)].get()
                            : std::move(inline_reads[static_cast<size_t>(offset)]);
    times->read_seconds += SecondsSince(read_start);
    if (!bytes.ok()) {
      if (input_root_.is_object_store) {
        // An object store that still fails after its retries is down or refusing us:
        // stop rather than record every remaining image as an error. (Reads still in
        // flight own copies of their locations.)
        return Status::IOError("reading '", input_root_.Child(item.path).display,
                               "' failed after retries: ", bytes.status().message(),
                               ". Fix access to the store and re-run with --resume");
      }
      batch.errors.push_back({item.path, "read", bytes.status().message()});
      continue;
    }
    const auto decode_start = Clock::now();
    float* slot = batch.input.data() + batch.item_indices.size() * static_cast<size_t>(input_size_);
    const Status decoded = image::DecodeAndPreprocess(
        (*bytes)->data(), static_cast<size_t>((*bytes)->size()), preprocess_, slot);
    times->decode_seconds += SecondsSince(decode_start);
    if (!decoded.ok()) {
      batch.errors.push_back({item.path, "decode", decoded.message()});
      continue;
    }
    batch.item_indices.push_back(item_idx);
  }
  batch.input.resize(batch.item_indices.size() * static_cast<size_t>(input_size_));
  return batch;
}

}  // namespace orchard::pipeline
