// The streaming featurization pipeline:
//
//   listing -> [prep threads: read bytes (I/O pool) -> sniff -> decode -> resize -> NCHW]
//           -> reorder window -> [inference: ONNX Runtime, one batch at a time]
//           -> bounded queue -> [writer: features + errors Parquet parts]
//
// The stages: pipeline/prep_stage.h (read + decode a batch), the inference stage in
// featurize.cc, pipeline/part_writer.h (write a part's files), joined by
// pipeline/reorder_window.h and a BoundedQueue; featurize.cc is the wiring.
// Decoding overlaps inference; at most `max_batches_in_flight` batches exist at once, so
// memory does not grow with the number of images. Output parts are deterministic: part p
// holds the images p*rows_per_part .. (p+1)*rows_per_part-1 of the sorted listing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/io/storage.h"
#include "orchard/model/embedder.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/listing.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// Reads in flight by default on an object store. Throughput is reads in flight divided by
/// the time to first byte (Little's law): 256 sustain 2,560 images/s at 100 ms and 5,120
/// at 50 ms, above what a 16-vCPU node decodes and embeds (~1,500/s) with room for the
/// time each request spends in the client and the server, while the bytes read ahead stay
/// bounded by the read-ahead budget (kDefaultReadAheadBytes per prep thread). The threads
/// mostly wait on sockets. Local disks read inline.
inline constexpr int kDefaultObjectStoreReads = 256;

struct FeaturizeOptions {
  int batch_size = 32;
  /// Threads that read and decode (0: chosen from the core count).
  int prep_threads = 0;
  /// Concurrent reads, run ahead across batches (0: kDefaultObjectStoreReads for object
  /// stores, inline for local disks).
  int io_threads = 0;
  /// Rows per output part file; rounded up to a multiple of batch_size.
  int64_t rows_per_part = 1024;
  /// Part p of `items` is written as part (first_part_index + p): a shard of a larger
  /// listing that starts at a part boundary writes the same files as the whole run would.
  int64_t first_part_index = 0;
  /// Accumulate PCA statistics of the featurized rows (FeaturizeStats::pca), part by part
  /// in part order, so that no second pass over the features is needed.
  bool compute_pca_stats = false;
  /// With compute_pca_stats: when set, each written part's statistics go here (global part
  /// index, in part order, from the writer thread) instead of into FeaturizeStats::pca, so
  /// that a caller can merge other parts' statistics between them in part order.
  std::function<Status(int64_t, pca::PcaStats)> on_part_stats;
  image::PreprocessOptions preprocess;
  /// Called from the writer thread after each batch with (images done, images failed).
  std::function<void(int64_t, int64_t)> on_progress;
  /// Called once per failed image (from the writer thread).
  std::function<void(const table::ErrorRecord&)> on_error;
  /// Called for a problem that is not one image's, e.g. a staged part that --resume cannot
  /// reuse and redoes (FeaturizeShard). May be empty.
  std::function<void(const std::string&)> on_warning;
  /// Set to true from any thread to stop early (the run then fails with Cancelled).
  const std::atomic<bool>* cancel = nullptr;
};

struct FeaturizeStats {
  int64_t images = 0;  ///< listed images handled in this call (reused parts excluded)
  int64_t ok = 0;      ///< rows of the features table (FeaturizeShard: reused parts' too)
  int64_t failed = 0;  ///< rows of the errors table (FeaturizeShard: reused parts' too)
  int64_t parts_written = 0;
  int64_t parts_reused = 0;
  int64_t images_reused = 0;
  int64_t dim = 0;
  /// Statistics of the rows featurized in this call (compute_pca_stats only).
  pca::PcaStats pca;
  // Busy seconds per stage, summed over the threads of the stage.
  double read_seconds = 0;
  double decode_seconds = 0;
  double embed_seconds = 0;
  double write_seconds = 0;
  double wall_seconds = 0;

  /// Images handled per wall second (0 before any).
  double images_per_second() const {
    return wall_seconds > 0 ? static_cast<double>(images) / wall_seconds : 0.0;
  }
};

int64_t EffectiveRowsPerPart(const FeaturizeOptions& options);

/// Featurizes `items` into `features_dir`/part-*.parquet and `errors_dir`/part-*.parquet.
/// A part's errors file is written only when the part has failed images, and before its
/// features file: an existing features part is a complete part (the resume marker).
/// Parts whose (local) index is in `skip_parts` are not recomputed (resume). A read, decode or
/// inference problem with one image becomes an error row; storage failures of the output,
/// or of an object store after its retries, fail the call.
Result<FeaturizeStats> Featurize(const std::vector<ImageItem>& items,
                                 const io::Location& input_root, const model::Embedder& embedder,
                                 const io::Location& features_dir, const io::Location& errors_dir,
                                 const std::set<int64_t>& skip_parts,
                                 const FeaturizeOptions& options);

}  // namespace orchard::pipeline
