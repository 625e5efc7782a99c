// The sorted listing of a job as a file, so that no process holds the listing in memory:
// the driver streams what ListImagesTo finds into a ListingWriter (sorted runs spilled to a
// local temporary folder, then merged), copies the result into the job's staging
// (output::kListingDir) and publishes it with the output; every shard reads its own byte
// range of it (ListingReader), so what a task receives is a few numbers whatever the input's
// size, and `run --update` compares a new listing with an output's own, streaming.
//
// Format: "ORCHLST1" and rows_per_part (u64), then one record per item in path order (u32
// length, then the fields), then the trailer "ORCHLEND", the item count (u64) and the
// SHA-256 (hex) of every byte before the trailer. Little-endian.
#pragma once

#include <arrow/io/interfaces.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/pipeline/listing.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// The file of a listing in its folder (output::kListingDir).
inline constexpr const char* kListingFileName = "listing.bin";
/// Bytes of items a ListingWriter sorts in memory before it spills a run to disk.
inline constexpr int64_t kDefaultListingMemory = 16LL << 20;

/// The listing a ListingWriter made: a local temporary file (removed with this object),
/// its count, where each part starts, and the digest of its items for the job fingerprint.
class ListingFile {
 public:
  ListingFile() = default;
  /// Moves leave `other` owning nothing (its destructor then removes no file).
  ListingFile(ListingFile&& other) noexcept;
  ListingFile& operator=(ListingFile&& other) noexcept;
  ListingFile(const ListingFile&) = delete;
  ListingFile& operator=(const ListingFile&) = delete;
  ~ListingFile();

  int64_t num_items() const { return num_items_; }
  /// Byte offset of the first record of each part (parts of rows_per_part items), then the
  /// end of the records: part p is bytes [part_offsets[p], part_offsets[p + 1]).
  const std::vector<int64_t>& part_offsets() const { return part_offsets_; }
  int64_t rows_per_part() const { return rows_per_part_; }
  /// SHA-256 of the items' identities (path, size, mtime), as JobFingerprint states them.
  const std::string& identity_digest() const { return identity_digest_; }
  /// The local file (valid while this object lives).
  const std::string& local_path() const { return local_path_; }

  /// Copies the file to `destination` (a file location; written atomically).
  Status CopyTo(const io::Location& destination) const;

 private:
  friend class ListingWriter;
  std::string temp_dir_;
  std::string local_path_;
  int64_t num_items_ = 0;
  int64_t rows_per_part_ = 1;
  std::vector<int64_t> part_offsets_;
  std::string identity_digest_;
};

/// Collects items in any order, keeping at most `memory_bytes` of them in memory, and
/// writes them sorted by path with one item per path (the first added wins).
class ListingWriter {
 public:
  explicit ListingWriter(int64_t rows_per_part, int64_t memory_bytes = kDefaultListingMemory);
  ~ListingWriter();
  ListingWriter(const ListingWriter&) = delete;
  ListingWriter& operator=(const ListingWriter&) = delete;

  Status Add(ImageItem item);
  /// Items added so far (duplicates included).
  int64_t added() const { return added_; }
  /// Sorts, merges and writes the listing; the writer is spent after.
  Result<ListingFile> Finish();

 private:
  Status EnsureTempDir();
  Status SpillRun();

  int64_t rows_per_part_;
  int64_t memory_bytes_;
  int64_t added_ = 0;
  int64_t buffered_bytes_ = 0;
  std::vector<ImageItem> buffer_;
  std::string temp_dir_;
  std::vector<std::string> runs_;
};

/// Reads the items of bytes [begin, end) of a listing file (a shard's parts), in order.
class ListingReader {
 public:
  static Result<ListingReader> Open(const io::Location& file, int64_t begin, int64_t end);
  /// Up to `max_items` next items; fewer (maybe none) at the end of the range.
  Result<std::vector<ImageItem>> Next(int64_t max_items);

 private:
  io::Location file_;
  std::shared_ptr<arrow::io::RandomAccessFile> input_;
  int64_t position_ = 0;  ///< next byte of the file to read into buffer_
  int64_t end_ = 0;
  std::string buffer_;
  size_t consumed_ = 0;  ///< bytes of buffer_ already parsed
};

/// What a listing file says of itself, checked (ReadListingInfo).
struct ListingInfo {
  io::Location file;
  int64_t rows_per_part = 0;
  int64_t num_items = 0;
  int64_t records_begin = 0;  ///< the records are bytes [records_begin, records_end)
  int64_t records_end = 0;
};

/// Reads a listing file's header and trailer and checks its checksum over every byte (an
/// output's own listing, which anyone may have handed over or cut short): Invalid, naming
/// the file, when it is not a whole listing orchard wrote.
Result<ListingInfo> ReadListingInfo(const io::Location& file);

/// One line of a listing's identity (what the job fingerprint covers of an item): its
/// path, length-prefixed (a name may hold tabs and newlines), size and mtime.
std::string IdentityLine(const ImageItem& item);

/// Where a shard reads its items: bytes [begin, end) of `file`, `num_items` of them.
struct ListingRange {
  io::Location file;
  int64_t begin = 0;
  int64_t end = 0;
  int64_t num_items = 0;
};

}  // namespace orchard::pipeline
