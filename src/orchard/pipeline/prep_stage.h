// The prep stage of featurize: reads and decodes the images of one batch into the model's
// input tensor. Run by several prep threads at once (pipeline/featurize.cc).
#pragma once

#include <arrow/buffer.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/io/storage.h"
#include "orchard/model/embedder.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/tar_shards.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"
#include "orchard/util/thread_pool.h"

namespace orchard::pipeline {

/// `options` resized to the model's input: what every decode for `embedder` uses.
image::PreprocessOptions PreprocessFor(const model::Embedder& embedder,
                                       image::PreprocessOptions options);

/// A batch of decoded images, ready for the model.
struct PreparedBatch {
  int64_t batch_idx = 0;
  std::vector<int64_t> item_indices;  ///< images that decoded, in order
  std::vector<float> input;           ///< item_indices.size() x input_size
  std::vector<table::ErrorRecord> errors;
};

/// Busy seconds of one prep thread.
struct PrepTimes {
  double read_seconds = 0;  ///< waiting for bytes
  double decode_seconds = 0;
  /// The most listed bytes read ahead (in flight or in hand) at once that this thread saw.
  int64_t peak_read_bytes = 0;
};

/// Listed bytes read ahead at most, per prep thread: enough to overlap the latency of an
/// object store for batches of photos, small enough that batches of large files are never
/// all in memory at once. A file larger than this is read alone.
inline constexpr int64_t kDefaultReadAheadBytes = int64_t{128} << 20;

/// After this many object-store reads in a row have failed after their retries, the store
/// is taken to be down (or refusing us) and the run stops: recording every remaining image
/// as an error would publish a wrong result. Fewer failures are "read" error rows.
inline constexpr int kObjectStoreDownAfterFailedReads = 32;

/// Reads images ahead of the prep threads, in the order they will ask for them, on an I/O
/// pool: at most `max_in_flight` reads at once (the requests whose latency overlaps) and at
/// most `budget_bytes` listed bytes started and not yet released (one read may always
/// start, whatever its size). Reads cross batch boundaries, so an object store's latency
/// is hidden behind the decoding and inference of the batches before. Thread-safe.
class ReadAhead {
 public:
  using ReadFn = std::function<Result<std::shared_ptr<arrow::Buffer>>(const ImageItem&)>;

  /// `order`: indices into `items`, in the order they will be taken (each at most once).
  /// Items over `max_file_bytes` (from the listing), and those with a listing_error, are
  /// never read.
  ReadAhead(const std::vector<ImageItem>& items, std::vector<int64_t> order, ReadFn read,
            ThreadPool* pool, int max_in_flight, int64_t budget_bytes, int64_t max_file_bytes);
  /// Waits for the reads in flight (they refer to this object).
  ~ReadAhead();
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;

  /// The bytes of items[item_idx], waiting for its read. An item not in the order, or not
  /// started yet when it is asked for, is read at once, ahead of its turn.
  Result<std::shared_ptr<arrow::Buffer>> Take(int64_t item_idx);
  /// Call once the bytes Take returned are no longer needed (also after a failed read):
  /// they leave the budget and further reads start.
  void Release(int64_t item_idx);
  /// The most listed bytes started and not yet released at once, so far.
  int64_t peak_bytes() const;

 private:
  int64_t CostOf(int64_t item_idx) const;
  // Under the lock: picks the reads that may start now and accounts for them.
  std::vector<int64_t> PickReadsLocked();
  void StartReads(const std::vector<int64_t>& item_indices);
  void Finish(int64_t item_idx, Result<std::shared_ptr<arrow::Buffer>> bytes);

  const std::vector<ImageItem>& items_;
  const std::vector<int64_t> order_;
  const ReadFn read_;
  ThreadPool* const pool_;
  const int max_in_flight_;
  const int64_t budget_bytes_;
  const int64_t max_file_bytes_;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  size_t next_in_order_ = 0;             // the next position of order_ to start
  std::unordered_set<int64_t> started_;  // started, not yet done
  // Started ahead of their turn by Take; the in-order start skips them.
  std::unordered_set<int64_t> started_out_of_order_;
  std::unordered_map<int64_t, Result<std::shared_ptr<arrow::Buffer>>> done_;
  int in_flight_ = 0;
  /// Reads whose Finish is still running (it may start further reads, then notifies):
  /// the destructor waits for them too, so none touches the object after it is gone.
  int finishers_ = 0;
  int64_t bytes_held_ = 0;
  int64_t peak_bytes_ = 0;
  bool stopping_ = false;
};

/// Reads and decodes batches of `items`. Holds references to its arguments (they must
/// outlive it); Prepare is thread-safe.
class PrepStage {
 public:
  /// `preprocess` has the model's width and height; `input_size` is floats per image;
  /// `io_pool` (optional) reads images ahead on `max_reads_in_flight` of its threads (0:
  /// all), in `read_order` (indices into `items`; empty: listing order), as long as their
  /// listed sizes fit in `read_ahead_bytes`; without a pool they are read inline, one at a
  /// time.
  PrepStage(const std::vector<ImageItem>& items, const io::Location& input_root,
            const image::PreprocessOptions& preprocess, int64_t input_size, ThreadPool* io_pool,
            int64_t read_ahead_bytes = kDefaultReadAheadBytes, int max_reads_in_flight = 0,
            std::vector<int64_t> read_order = {});

  /// The batch of the images [first, first + count) of `items`. An image that cannot be
  /// read or decoded becomes an error row ("read" or "decode"); so does a file whose listed
  /// size is over preprocess.max_file_bytes, without being read. An object-store read is
  /// an error row once its retries are spent (a later run reads it again); the call fails
  /// only when kObjectStoreDownAfterFailedReads reads in a row have failed so.
  Result<PreparedBatch> Prepare(int64_t batch_idx, int64_t first, int64_t count,
                                PrepTimes* times) const;

 private:
  Result<std::shared_ptr<arrow::Buffer>> Read(const ImageItem& item) const;

  const std::vector<ImageItem>& items_;
  const io::Location& input_root_;
  const image::PreprocessOptions& preprocess_;
  const int64_t input_size_;
  mutable ShardFiles shard_files_;         // the tar shards' open files (tar inputs only)
  std::unique_ptr<ReadAhead> read_ahead_;  // null: read inline
  mutable std::atomic<int> failed_reads_in_a_row_{0};
};

}  // namespace orchard::pipeline
