// WebDataset tar shards through libarchive: the listing of a shard (one sequential read;
// samples = members sharing a basename) and the reads of its image members (range reads of
// the shard, never extracted to disk).
#pragma once

#include <arrow/buffer.h>
#include <arrow/io/interfaces.h>

#include <cstdint>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/pipeline/listing.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// The largest .cls / .txt / .json member read for a label: labels are short; a larger
/// member is the sample's error, never read into memory.
inline constexpr int64_t kMaxTarLabelMemberBytes = int64_t{64} << 10;
/// Members a shard may hold: bounds the listing's memory for a shard of endless tiny
/// members. img2dataset writes 10^4 samples per shard.
inline constexpr int64_t kMaxTarMembers = 1'000'000;
/// A member name longer than this is an error row (PATH_MAX).
inline constexpr size_t kMaxTarMemberNameBytes = 4096;

/// True for names ending in ".tar".
bool IsTarName(std::string_view name);

/// Lists the shard `shard` (its bytes read once, in order, and never more than its size at
/// the start) into `items`: one item per sample with an image member (jpg, jpeg, png,
/// webp, bmp, gif, tif, tiff: the first such member of the sample), `path` =
/// `relative_raw/member` escaped. Error items (listing_error) for: a sample whose image is
/// a link, device or sparse member, a member named with ".." or "/" at its start, a sample
/// without an image or without the label --label-from asks for, and the shard itself when
/// it is not a whole uncompressed tar (what was listed before the damage is kept).
/// `folder_label` is the label when options.label_from is "folder". Fails only when
/// `items` cannot be made at all (never for the shard's content).
void ListTarShard(const io::Location& shard, int64_t shard_size, int64_t shard_mtime_ns,
                  const std::string& relative_raw, const std::string& folder_label,
                  const ListOptions& options, std::vector<ImageItem>* items);

/// Bytes of a shard fetched by one request when its members are read: windows start every
/// kShardWindowBytes (and reach a quarter window further), so a shard of at most this size
/// costs one GET, a larger one one GET per window (img2dataset's ~1 GB shards: 64 instead
/// of 10^4), in whatever order its members are read.
inline constexpr int64_t kShardWindowBytes = int64_t{16} << 20;
/// Windows held at once, all shards together: bounds their memory (64 MiB) beside the
/// read-ahead budget (a member handed out keeps only its own window alive).
inline constexpr size_t kMaxShardWindows = 4;

/// The open shard files of a run, shared by the prep threads: each shard is opened once
/// (one HEAD on S3) and read by windows of kShardWindowBytes; a read whose member lies in a
/// window being fetched waits for that fetch instead of making its own. Thread-safe.
class ShardFiles {
 public:
  /// The bytes [offset, offset + size) of `shard`; fails when the shard is not a regular
  /// file (object) any more or ends before offset + size (changed since it was listed).
  Result<std::shared_ptr<arrow::Buffer>> ReadMember(const io::Location& shard, int64_t offset,
                                                    int64_t size);
  /// Range reads made so far (windows and members larger than a window).
  int64_t requests() const;
  /// Shards opened so far (each a HEAD on S3): once per shard, however many read it at once.
  int64_t opens() const;

 private:
  using Fetch = std::shared_future<Result<std::shared_ptr<arrow::Buffer>>>;
  struct Window {
    std::string shard;
    int64_t start = 0;
    int64_t end = 0;
    Fetch bytes;
  };
  struct OpenShard {
    std::shared_ptr<arrow::io::RandomAccessFile> file;
    int64_t size = 0;
  };
  using OpenFuture = std::shared_future<Result<OpenShard>>;
  Result<OpenShard> Open(const io::Location& shard);

  /// Shards kept open at once (the oldest is closed first): prep threads read a few
  /// neighbouring shards at a time.
  static constexpr size_t kMaxOpenShards = 16;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, OpenFuture> open_;
  std::list<std::string> opened_order_;
  std::list<Window> windows_;  // most recently used last
  int64_t requests_ = 0;
  int64_t opens_ = 0;
};

}  // namespace orchard::pipeline
