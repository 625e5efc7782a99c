#include "orchard/pipeline/prep_stage.h"

#include <arrow/buffer.h>

#include <algorithm>
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
  const int64_t max_file_bytes = preprocess_.max_file_bytes;
  auto item_at = [&](int64_t offset) -> const ImageItem& {
    return items_[static_cast<size_t>(first + offset)];
  };
  // What a read holds against the budget: its listed size (the read never returns more
  // than that plus one byte without failing, see io::ReadBounded).
  auto read_cost = [&](int64_t offset) { return std::max<int64_t>(item_at(offset).size, 0); };
  auto read = [location_root = input_root_, max_file_bytes](const ImageItem& item) {
    return io::ReadBounded(location_root.Child(item.source), max_file_bytes, item.size);
  };

  // Reads start in listing order, several at once on the I/O pool so that object-store
  // latency overlaps, while the listed bytes in flight or in hand stay within the read-ahead
  // budget (one read may always start, whatever its size). Files over the size limit are
  // never read.
  std::vector<std::future<Result<std::shared_ptr<arrow::Buffer>>>> reads(
      static_cast<size_t>(count));
  int64_t next_read = 0;
  int64_t bytes_in_flight = 0;
  auto start_reads = [&] {
    if (io_pool_ == nullptr) return;
    while (next_read < count) {
      const ImageItem& item = item_at(next_read);
      if (item.size > max_file_bytes) {
        ++next_read;
        continue;
      }
      const int64_t cost = read_cost(next_read);
      if (bytes_in_flight > 0 && bytes_in_flight + cost > read_ahead_bytes_) break;
      // The task owns copies of what it reads: it may outlive this call (early return).
      reads[static_cast<size_t>(next_read)] = io_pool_->Submit([read, item] { return read(item); });
      bytes_in_flight += cost;
      ++next_read;
    }
    times->peak_read_bytes = std::max(times->peak_read_bytes, bytes_in_flight);
  };

  for (int64_t offset = 0; offset < count; ++offset) {
    const auto item_idx = first + offset;
    const auto& item = item_at(offset);
    if (Status refused = io::CheckFileSize(item.size, max_file_bytes); !refused.ok()) {
      batch.errors.push_back({item.path, "read", refused.message()});
      continue;
    }
    start_reads();
    const auto read_start = Clock::now();
    if (io_pool_ == nullptr) {
      times->peak_read_bytes = std::max(times->peak_read_bytes, read_cost(offset));
    }
    Result<std::shared_ptr<arrow::Buffer>> bytes =
        io_pool_ != nullptr ? reads[static_cast<size_t>(offset)].get() : read(item);
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
      if (io_pool_ != nullptr) bytes_in_flight -= read_cost(offset);
      continue;
    }
    const auto decode_start = Clock::now();
    float* slot = batch.input.data() + batch.item_indices.size() * static_cast<size_t>(input_size_);
    std::shared_ptr<arrow::Buffer> buffer = std::move(bytes).ValueUnsafe();
    const Status decoded = image::DecodeAndPreprocess(
        buffer->data(), static_cast<size_t>(buffer->size()), preprocess_, slot);
    times->decode_seconds += SecondsSince(decode_start);
    buffer.reset();  // the file's bytes are no longer needed: they leave the budget
    if (io_pool_ != nullptr) bytes_in_flight -= read_cost(offset);
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
