// A shard: a contiguous range of whole parts of the sorted input listing. It is the unit of
// work of both front ends: the CLI runs one shard holding every part, the Spark job runs
// one shard per task. Same code, same part files (part p always holds the images
// p*rows_per_part .. (p+1)*rows_per_part-1 of the listing), so the outputs are identical and
// a retried, speculative or resumed task rewrites exactly the files it owns.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/model/embedder.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/listing_file.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

struct ShardOutcome {
  /// What this call featurized (parts found complete are counted as reused).
  FeaturizeStats stats;
  /// Statistics of every featurized row of the shard's parts, reused parts included.
  pca::PcaStats pca;
};

/// Adds `other` into `into`: counts and busy seconds add up, statistics merge, wall seconds
/// take the longer (shards run side by side). Associative, so any merge tree gives the same.
Status MergeOutcome(const ShardOutcome& other, ShardOutcome* into);

/// A portable encoding of an outcome (a task's answer to a distributed driver), and back.
std::string SerializeOutcome(const ShardOutcome& outcome);
Result<ShardOutcome> DeserializeOutcome(const std::string& bytes);

/// Featurizes the shard `items` (in listing order; its first item starts part
/// `options.first_part_index`) into `staging`/features and `staging`/errors. A part whose
/// features file already exists was finished by an earlier attempt (see Featurize) and is
/// reused, read back only for its statistics, if it proves to be this shard's part: it
/// reads as a features table of the embedder's width with finite values, and its rows
/// plus its errors rows are exactly the part's images of the listing, in order. A part
/// that is not (truncated, tampered, another run's) is deleted with a warning
/// (options.on_warning) and redone. `threads` bounds the threads used to read parts back.
Result<ShardOutcome> FeaturizeShard(const std::vector<ImageItem>& items,
                                    const io::Location& input_root, const model::Embedder& embedder,
                                    const io::Location& staging, FeaturizeOptions options,
                                    int threads);

/// FeaturizeShard of the items in `range` of the job's listing file, read a window of
/// kShardWindowItems (whole parts) at a time: memory does not grow with the shard.
Result<ShardOutcome> FeaturizeShard(const ListingRange& range, const io::Location& input_root,
                                    const model::Embedder& embedder, const io::Location& staging,
                                    FeaturizeOptions options, int threads);

/// Images a shard holds in memory at once (rounded down to whole parts, at least one). The
/// pipeline drains between windows, which costs about a batch's time each.
inline constexpr int64_t kShardWindowItems = 32768;

/// Where each image of a part finds its row: `features_row` >= 0 in the part's features
/// file, else its `error` row.
struct PartRow {
  int64_t features_row = -1;
  table::ErrorRecord error;
};

/// Matches a part's files to the images that make it (`part_items`, in listing order):
/// every image is a features row, in order and with its label, or an error row, once, and
/// nothing else is there. Fails saying why otherwise ("it has no row for ...": the caller
/// names the part). --resume's reuse check and `run --update`'s reading of an output share it.
Result<std::vector<PartRow>> MatchPartRows(const ImageItem* part_items, int64_t num_items,
                                           const table::VectorRows& rows,
                                           std::vector<table::ErrorRecord> errors);

/// Identifies a featurization job (model, part layout, options that change rows, and the
/// listing), so that --resume only reuses parts of the same job, whichever front end made them.
std::string JobFingerprint(const std::vector<ImageItem>& items, const std::string& model_sha256,
                           const std::string& output_name, int64_t rows_per_part, int batch_size,
                           int64_t max_pixels, int64_t max_file_bytes);
/// The same from a listing file's identity digest and count (ListingFile::identity_digest).
std::string JobFingerprint(const std::string& identity_digest, int64_t num_items,
                           const std::string& model_sha256, const std::string& output_name,
                           int64_t rows_per_part, int batch_size, int64_t max_pixels,
                           int64_t max_file_bytes);

/// Before a resumed job featurizes: removes from `staging` every file and folder the job
/// would not make again itself — in features/ and errors/ anything but the part files of
/// parts 0 .. num_parts-1, and every other staged entry but the job's fingerprint (the
/// PCA, projection and report are recomputed) — so nothing a stray or planted file holds
/// can be published. Each removal is reported through `warn` (may be empty).
Status RemoveStrayStagedFiles(const io::Location& staging, int64_t num_parts,
                              const std::function<void(const std::string&)>& warn);

/// Statistics of the features of `parts` (read back), merged in part order.
Result<pca::PcaStats> StatsOfParts(const std::vector<io::Location>& parts, int threads);

/// Projects each features part into `pca_dir`, under the same part name.
Status ProjectParts(const std::vector<io::Location>& feature_parts, const pca::PcaModel& model,
                    const io::Location& pca_dir, int threads);

}  // namespace orchard::pipeline
