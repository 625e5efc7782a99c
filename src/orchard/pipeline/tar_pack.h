// `orchard pack`: any input orchard lists (a folder of labelled images, usually) written as
// WebDataset tar shards that orchard (and WebDataset readers) read back with the same
// labels: per image KEY.<ext>, KEY.cls (the label) and KEY.json (its original path, label).
#pragma once

#include <cstdint>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

inline constexpr int64_t kDefaultSamplesPerShard = 1000;

struct PackSummary {
  int64_t samples = 0;  ///< images written
  int64_t shards = 0;
  int64_t skipped = 0;  ///< listed rows that could not be read (listing errors, reads)
};

/// Packs the images of `input` into `output`/00000.tar, 00001.tar, ... of at most
/// `samples_per_shard` samples, in listing order; keys are the sample's number (9 digits).
/// Each shard is a ustar archive written atomically (io::OpenAtomicOutput). Files over
/// `max_file_bytes` and unreadable rows are skipped and counted; the bytes are copied as they are
/// (decoding is the featurize run's job). Fails when `output` holds files already, or on a write
/// error.
Result<PackSummary> PackShards(const io::Location& input, const io::Location& output,
                               int64_t samples_per_shard, int64_t max_file_bytes);

}  // namespace orchard::pipeline
