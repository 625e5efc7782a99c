#include "orchard/pipeline/prep_stage.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>

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

// Set while a read runs inside ThreadPool::Submit (a pool that got no thread): its
// completion must not start further reads from within, or the reads would nest as deep as
// the listing is long.
thread_local bool finishing_inline = false;

}  // namespace

ReadAhead::ReadAhead(const std::vector<ImageItem>& items, std::vector<int64_t> order, ReadFn read,
                     ThreadPool* pool, int max_in_flight, int64_t budget_bytes,
                     int64_t max_file_bytes)
    : items_(items),
      order_(std::move(order)),
      read_(std::move(read)),
      pool_(pool),
      max_in_flight_(std::max(1, max_in_flight)),
      budget_bytes_(budget_bytes),
      max_file_bytes_(max_file_bytes) {
  std::vector<int64_t> picks;
  {
    std::lock_guard lock(mutex_);
    picks = PickReadsLocked();
  }
  StartReads(picks);
}

ReadAhead::~ReadAhead() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  changed_.wait(lock, [&] { return in_flight_ == 0 && finishers_ == 0; });
}

int64_t ReadAhead::CostOf(int64_t item_idx) const {
  // What a read holds against the budget: its listed size (the read never returns more
  // than that plus one byte without failing, see io::ReadBounded).
  return std::max<int64_t>(items_[static_cast<size_t>(item_idx)].size, 0);
}

std::vector<int64_t> ReadAhead::PickReadsLocked() {
  std::vector<int64_t> picks;
  while (!stopping_ && next_in_order_ < order_.size() && in_flight_ < max_in_flight_) {
    const int64_t item_idx = order_[next_in_order_];
    if (items_[static_cast<size_t>(item_idx)].size > max_file_bytes_ ||
        !items_[static_cast<size_t>(item_idx)].listing_error.empty() ||
        started_out_of_order_.erase(item_idx) > 0) {
      ++next_in_order_;  // never read, or already read ahead of its turn
      continue;
    }
    const int64_t cost = CostOf(item_idx);
    if (bytes_held_ > 0 && bytes_held_ + cost > budget_bytes_) break;
    started_.insert(item_idx);
    ++in_flight_;
    bytes_held_ += cost;
    ++next_in_order_;
    picks.push_back(item_idx);
  }
  peak_bytes_ = std::max(peak_bytes_, bytes_held_);
  return picks;
}

void ReadAhead::StartReads(const std::vector<int64_t>& item_indices) {
  for (const int64_t item_idx : item_indices) {
    (void)pool_->Submit(
        [this, item_idx] { Finish(item_idx, read_(items_[static_cast<size_t>(item_idx)])); });
  }
}

void ReadAhead::Finish(int64_t item_idx, Result<std::shared_ptr<arrow::Buffer>> bytes) {
  std::vector<int64_t> picks;
  {
    std::lock_guard lock(mutex_);
    done_.insert_or_assign(item_idx, std::move(bytes));
    started_.erase(item_idx);
    --in_flight_;
    ++finishers_;
    // A request slot is free: the next read starts now, not when a prep thread comes by.
    if (!finishing_inline) picks = PickReadsLocked();
    // Under the lock: the destructor, woken by this, cannot destroy the condition variable
    // (or the object) while this call still uses them.
    changed_.notify_all();
  }
  finishing_inline = true;
  StartReads(picks);
  finishing_inline = false;
  std::lock_guard lock(mutex_);
  --finishers_;
  changed_.notify_all();
}

Result<std::shared_ptr<arrow::Buffer>> ReadAhead::Take(int64_t item_idx) {
  std::unique_lock lock(mutex_);
  if (started_.count(item_idx) == 0 && done_.count(item_idx) == 0) {
    // Not started (the budget or the request slots were taken by reads of later batches,
    // or the item is not in the order): the prep thread waits for it, so it starts now.
    started_.insert(item_idx);
    started_out_of_order_.insert(item_idx);
    ++in_flight_;
    bytes_held_ += CostOf(item_idx);
    peak_bytes_ = std::max(peak_bytes_, bytes_held_);
    lock.unlock();
    StartReads({item_idx});
    lock.lock();
  }
  changed_.wait(lock, [&] { return done_.count(item_idx) > 0; });
  auto node = done_.extract(item_idx);
  return std::move(node.mapped());
}

void ReadAhead::Release(int64_t item_idx) {
  std::vector<int64_t> picks;
  {
    std::lock_guard lock(mutex_);
    bytes_held_ -= CostOf(item_idx);
    picks = PickReadsLocked();
  }
  StartReads(picks);
}

int64_t ReadAhead::peak_bytes() const {
  std::lock_guard lock(mutex_);
  return peak_bytes_;
}

PrepStage::PrepStage(const std::vector<ImageItem>& items, const io::Location& input_root,
                     const image::PreprocessOptions& preprocess, int64_t input_size,
                     ThreadPool* io_pool, int64_t read_ahead_bytes, int max_reads_in_flight,
                     std::vector<int64_t> read_order)
    : items_(items), input_root_(input_root), preprocess_(preprocess), input_size_(input_size) {
  if (io_pool == nullptr) return;
  if (read_order.empty()) {
    read_order.resize(items.size());
    for (size_t idx = 0; idx < items.size(); ++idx) read_order[idx] = static_cast<int64_t>(idx);
  }
  const int in_flight = max_reads_in_flight > 0 ? max_reads_in_flight : io_pool->size();
  read_ahead_ = std::make_unique<ReadAhead>(
      items, std::move(read_order), [this](const ImageItem& item) { return Read(item); }, io_pool,
      in_flight, read_ahead_bytes, preprocess.max_file_bytes);
}

Result<std::shared_ptr<arrow::Buffer>> PrepStage::Read(const ImageItem& item) const {
  if (!item.listing_error.empty()) return Status::Invalid(item.listing_error);  // never read
  const io::Location where = ItemLocation(item, input_root_);
  if (item.member_offset >= 0) {
    // A tar member: its listed size was checked against --max-file-bytes before this.
    return shard_files_.ReadMember(where, item.member_offset, item.size);
  }
  if (where.is_object_store && item.size < 0) {
    // A manifest row on S3 (no size listed): a missing object is the store's answer, not
    // its failure, so it must not count towards kObjectStoreDownAfterFailedReads.
    ORCHARD_ASSIGN_OR_RAISE(auto info, where.fs->GetFileInfo(where.path));
    if (info.type() == arrow::fs::FileType::NotFound) {
      return Status::KeyError("no such object (named by the manifest)");
    }
    return io::ReadBounded(where, preprocess_.max_file_bytes, info.size());
  }
  return io::ReadBounded(where, preprocess_.max_file_bytes, item.size);
}

Result<PreparedBatch> PrepStage::Prepare(int64_t batch_idx, int64_t first, int64_t count,
                                         PrepTimes* times) const {
  PreparedBatch batch;
  batch.batch_idx = batch_idx;
  batch.input.resize(static_cast<size_t>(count * input_size_));
  for (int64_t offset = 0; offset < count; ++offset) {
    const int64_t item_idx = first + offset;
    const auto& item = items_[static_cast<size_t>(item_idx)];
    if (!item.listing_error.empty()) {
      batch.errors.push_back({item.path, kListStage, item.listing_error});
      continue;
    }
    if (Status refused = io::CheckFileSize(item.size, preprocess_.max_file_bytes); !refused.ok()) {
      batch.errors.push_back({item.path, "read", refused.message()});
      continue;
    }
    const auto read_start = Clock::now();
    Result<std::shared_ptr<arrow::Buffer>> bytes =
        read_ahead_ != nullptr ? read_ahead_->Take(item_idx) : Read(item);
    times->read_seconds += SecondsSince(read_start);
    times->peak_read_bytes =
        std::max(times->peak_read_bytes, read_ahead_ != nullptr ? read_ahead_->peak_bytes()
                                                                : std::max<int64_t>(item.size, 0));
    if (!bytes.ok()) {
      if (read_ahead_ != nullptr) read_ahead_->Release(item_idx);
      if (input_root_.is_object_store && !bytes.status().IsKeyError() &&
          failed_reads_in_a_row_.fetch_add(1) + 1 >= kObjectStoreDownAfterFailedReads) {
        // The store still refuses after every read's retries: it is down or refusing us;
        // stop rather than record every remaining image as an error.
        return Status::IOError(kObjectStoreDownAfterFailedReads,
                               " reads in a row failed after their retries, the last of '",
                               ItemLocation(item, input_root_).display,
                               "': ", bytes.status().message(),
                               ". Fix access to the store and re-run with --resume");
      }
      // One object the store would not give (deleted since the listing, refused, still
      // throttled after the retries): its row, and the run goes on.
      batch.errors.push_back(
          {item.path, "read",
           input_root_.is_object_store && !bytes.status().IsKeyError()
               ? "still failing after its retries (a later run reads it again): " +
                     bytes.status().message()
               : bytes.status().message()});
      continue;
    }
    failed_reads_in_a_row_.store(0);
    const auto decode_start = Clock::now();
    float* slot = batch.input.data() + batch.item_indices.size() * static_cast<size_t>(input_size_);
    std::shared_ptr<arrow::Buffer> buffer = std::move(bytes).ValueUnsafe();
    const Status decoded = image::DecodeAndPreprocess(
        buffer->data(), static_cast<size_t>(buffer->size()), preprocess_, slot);
    times->decode_seconds += SecondsSince(decode_start);
    buffer.reset();  // the file's bytes are no longer needed: they leave the budget
    if (read_ahead_ != nullptr) read_ahead_->Release(item_idx);
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
