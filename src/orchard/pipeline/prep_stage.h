// The prep stage of featurize: reads and decodes the images of one batch into the model's
// input tensor. Run by several prep threads at once (pipeline/featurize.cc).
#pragma once

#include <cstdint>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/io/storage.h"
#include "orchard/model/embedder.h"
#include "orchard/pipeline/listing.h"
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
  /// The most listed bytes this thread had in flight or in hand at once (read-ahead budget).
  int64_t peak_read_bytes = 0;
};

/// Listed bytes one prep thread reads ahead at most: enough to overlap the latency of an
/// object store for a batch of photos, small enough that a batch of large files is never
/// all in memory at once. A file larger than this is read alone.
inline constexpr int64_t kDefaultReadAheadBytes = int64_t{128} << 20;

/// Reads and decodes batches of `items`. Holds references to its arguments (they must
/// outlive it); Prepare is thread-safe.
class PrepStage {
 public:
  /// `preprocess` has the model's width and height; `input_size` is floats per image;
  /// `io_pool` (optional) reads the images of a batch concurrently, in listing order, as long
  /// as their listed sizes fit in `read_ahead_bytes`; else they are read inline, one at a
  /// time.
  PrepStage(const std::vector<ImageItem>& items, const io::Location& input_root,
            const image::PreprocessOptions& preprocess, int64_t input_size, ThreadPool* io_pool,
            int64_t read_ahead_bytes = kDefaultReadAheadBytes)
      : items_(items),
        input_root_(input_root),
        preprocess_(preprocess),
        input_size_(input_size),
        io_pool_(io_pool),
        read_ahead_bytes_(read_ahead_bytes) {}

  /// The batch of the images [first, first + count) of `items`. An image that cannot be
  /// read (local storage) or decoded becomes an error row ("read" or "decode"); so does a
  /// file whose listed size is over preprocess.max_file_bytes, without being read. Fails only
  /// when an object store still refuses a read after its retries: the store is down, so
  /// the run stops rather than record every remaining image as an error.
  Result<PreparedBatch> Prepare(int64_t batch_idx, int64_t first, int64_t count,
                                PrepTimes* times) const;

 private:
  const std::vector<ImageItem>& items_;
  const io::Location& input_root_;
  const image::PreprocessOptions& preprocess_;
  const int64_t input_size_;
  ThreadPool* const io_pool_;
  const int64_t read_ahead_bytes_;
};

}  // namespace orchard::pipeline
