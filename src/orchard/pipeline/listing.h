// The input side of the output contract: which images an input holds, and the `path` and
// `label` each one gets. An input is a folder or s3:// prefix (one sub-folder per label), a
// manifest (.parquet, .csv, .jsonl; an S3 Inventory manifest.json), or WebDataset tar shards
// (one .tar, a folder of them, or brace notation shards/{00000..00009}.tar). The CLI and the
// Spark job both list through here, so both give the same rows.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// The stage of an error row made by the listing (a manifest row that names no file it may
/// read, a tar member that is no image it can read, a shard that is not a whole tar).
inline constexpr const char* kListStage = "list";

/// One input image: where it is and its label.
struct ImageItem {
  /// Relative to the input root, '/'-separated, in its table form util::EscapeName: valid
  /// UTF-8, '%' written as %25 and each byte that is not UTF-8 as %XX, so distinct files
  /// keep distinct paths and util::UnescapeName(path) joined with the root finds the file.
  /// A tar member's is `shard.tar/member`; a manifest row's is its path relative to the
  /// manifest's folder, or the absolute path / s3:// URI it named.
  std::string path;
  std::string label;     ///< name of the parent folder (escaped the same way), or the sample's
  std::string source;    ///< the raw relative path (UnescapeName(path)), for reading the file
  int64_t size = 0;      ///< bytes; -1 when the input did not say (a manifest row on S3)
  int64_t mtime_ns = 0;  ///< io::ListedFile::mtime_ns (0 when not listed here)
  /// True: `source` is a path of the input root's filesystem itself (absolute, or
  /// "bucket/key"), not one relative to the root (manifest rows, tar shards).
  bool source_in_fs = false;
  /// >= 0: the image is the bytes [member_offset, member_offset + size) of the file
  /// `source` (a tar shard's member), read with one range read, never extracted.
  int64_t member_offset = -1;
  /// Not empty: the listing found this row but it cannot be read (why, and what to do);
  /// the prep stage makes it an error row of stage kListStage without reading anything.
  std::string listing_error;
};

/// Where the label of a tar sample comes from (--label-from).
struct ListOptions {
  /// "folder" (the shard's folder name), "cls" or "txt" (the text of the sample's .cls /
  /// .txt member), or "json:KEY" (a top-level key of its .json member).
  std::string label_from = "folder";
};

/// Fails (Invalid, naming --label-from) on a value ListOptions::label_from cannot hold.
Status CheckLabelFrom(const std::string& label_from);

/// The item of the file `source` (raw, relative to `root`).
ImageItem MakeImageItem(std::string source, int64_t size, const io::Location& root);

/// The location an item's bytes are read from (its file, or its tar shard).
io::Location ItemLocation(const ImageItem& item, const io::Location& root);

/// An item as one byte string and back, for the Spark job's tasks (which receive raw
/// sources and sizes): a plain folder item is its raw `source` unchanged; any other starts
/// with a NUL byte (never in a file name) and carries every field.
std::string ItemToken(const ImageItem& item);
Result<ImageItem> ItemFromToken(std::string token, int64_t size, const io::Location& root);

/// Receives the items of a listing one at a time; a failure stops the listing.
using ItemSink = std::function<Status(ImageItem)>;

/// Lists the input into `sink`, in no particular order and with duplicates of a path (a
/// manifest naming one file twice) as the input has them: what ListImages returns before
/// it sorts. A folder input is walked without holding its listing (io::ListFilesTo);
/// manifests and tar shards are read one file at a time. Sort and deduplicate with a
/// ListingWriter (pipeline/listing_file.h), which holds a bounded part of it in memory.
Status ListImagesTo(const io::Location& root, const ListOptions& options, const ItemSink& sink);

/// Lists the input (sorted by path; duplicates of a path dropped). Folders: hidden names
/// skipped (see io::ListFiles), label = name of each file's parent folder; a folder whose
/// files are all .tar is a folder of shards. Bad rows of manifests and shards are items with
/// a listing_error; the call fails only when the input itself cannot be listed or read.
Result<std::vector<ImageItem>> ListImages(const io::Location& root,
                                          const ListOptions& options = {});

namespace internal {
/// The paths of brace notation: "a/{00..09}.tar" (numbers, zero-padded to the first's
/// width), "a/{x,y}.tar"; several groups multiply. No braces: the pattern itself. Fails on
/// an unbalanced or empty group, a descending range, or more than kMaxExpandedShards paths.
Result<std::vector<std::string>> ExpandBraces(const std::string& pattern);
inline constexpr int64_t kMaxExpandedShards = 1'000'000;
/// The path relative to `base` ('/'-separated; "." and ".." segments resolved), or an error
/// when it leaves `base` (an absolute path, or too many ".."): what a manifest's relative
/// rows must stay inside.
Result<std::string> RelativeInside(const std::string& path);
}  // namespace internal

}  // namespace orchard::pipeline
