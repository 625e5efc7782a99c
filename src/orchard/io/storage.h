// Storage: every path orchard reads or writes is a local path or an s3:// URI, resolved
// to an Arrow FileSystem plus a path inside it. There is no second filesystem layer.
#pragma once

#include <arrow/filesystem/filesystem.h>
#include <arrow/filesystem/s3fs.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/util/status.h"

namespace orchard::io {

/// How to reach object stores. Empty fields fall back to the standard AWS configuration
/// (environment, shared config/credentials files and profiles, instance metadata).
struct StorageOptions {
  /// S3-compatible endpoint, e.g. "http://127.0.0.1:9000". Empty: AWS_ENDPOINT_URL_S3,
  /// then AWS_ENDPOINT_URL, then AWS itself.
  std::string endpoint_url;
  /// Empty: AWS_REGION / AWS_DEFAULT_REGION, else "us-east-1" with an endpoint override,
  /// else the bucket's own region (looked up).
  std::string region;
  /// Virtual-host addressing (bucket.host); path-style is the default, as S3-compatible
  /// servers expect it and AWS still accepts it.
  bool virtual_addressing = false;
  /// Attempts per request for transient errors (5xx, throttling, resets), with backoff
  /// (MakeS3RetryStrategy). 0: AWS_MAX_ATTEMPTS (the AWS SDKs' variable), else
  /// kDefaultS3MaxAttempts.
  int max_attempts = 0;
  double connect_timeout_s = 10;
  double request_timeout_s = 60;
};

/// Attempts per S3 request by default: with the backoff below, a request keeps trying for
/// 12.8 to 25.6 s before its error is final, so an outage or a throttling spell shorter
/// than that costs no image.
inline constexpr int kDefaultS3MaxAttempts = 10;

/// Connections an S3 filesystem may hold open at once: above the most reads orchard has in
/// flight (--io-threads allows 256). Arrow otherwise sizes the pool from its I/O executor
/// (at least 25), and a read beyond that waits for a connection, whatever --io-threads says.
inline constexpr int kS3MaxConnections = 256;

/// The backoff of object-store retries: retry n (n = 0, 1, ...) waits a uniformly random
/// time in [c/2, c], c = min(kS3RetryCapMs, kS3RetryBaseMs * 2^n) ("equal jitter": clients
/// throttled at once do not retry in step, and the time a request keeps trying has a floor).
inline constexpr int64_t kS3RetryBaseMs = 50;
inline constexpr int64_t kS3RetryCapMs = 20000;

/// The retry strategy of orchard's S3 filesystems: every error the AWS SDK marks
/// retryable (5xx, 503 SlowDown and other throttling, timeouts, resets) is retried until
/// `max_attempts` attempts were made, with the backoff above. Unlike the SDK's standard
/// strategy there is no retry quota shared by the client: under sustained throttling each
/// request keeps its own attempts instead of all of them failing at once when the quota is
/// spent. Thread-safe.
std::shared_ptr<arrow::fs::S3RetryStrategy> MakeS3RetryStrategy(int max_attempts);

/// A resolved place: a filesystem and a path in it (no trailing slash).
struct Location {
  std::shared_ptr<arrow::fs::FileSystem> fs;
  /// Path inside `fs`: absolute local path, or "bucket/key/prefix" for S3.
  std::string path;
  /// What the user wrote, for messages (never holds credentials).
  std::string display;
  bool is_object_store = false;

  /// The location of `relative` below this one ("a/b" joined with '/').
  Location Child(std::string_view relative) const;
};

/// Resolves a local path (relative or absolute) or an s3:// URI. Fails on unsupported
/// schemes and on object-store configuration errors; does not touch the data.
Result<Location> ResolveLocation(const std::string& uri_or_path, const StorageOptions& options);

/// Reads a whole file into memory.
Result<std::shared_ptr<arrow::Buffer>> ReadAll(const Location& location);

/// Fails (Invalid) when `size` bytes exceed `max_bytes`; the message gives both and names
/// --max-file-bytes.
Status CheckFileSize(int64_t size, int64_t max_bytes);

/// Reads a whole file of at most `max_bytes` bytes, for inputs that anyone may have made:
/// a larger file is refused before any byte is read, and no more than max_bytes + 1 bytes
/// are ever read (a file growing while it is read, or never ending, fails). Local paths that
/// are not regular files (FIFOs, sockets, devices, folders) and broken links are refused
/// without being opened. `listed_size` is the size a listing gave (-1: unknown); an object
/// store then needs no request for the size, only the GET. Messages describe the file's
/// problem without its path (callers name the file). Thread-safe.
Result<std::shared_ptr<arrow::Buffer>> ReadBounded(const Location& location, int64_t max_bytes,
                                                   int64_t listed_size = -1);

/// Writes `data` to a file, creating parent folders. On a local disk the data goes to a
/// temporary name first and is renamed, so a reader never sees a partial file; object
/// stores make an object visible only once it is complete.
Status WriteAll(const Location& location, std::string_view data);

/// An output stream opened the same way as WriteAll: on a local disk the bytes go to a
/// temporary name unique to this writer (`<path>.inprogress-<pid>-<n>`, so two attempts of
/// one Spark task never share it) and FinishAtomicWrite renames it into place.
struct AtomicOutput {
  std::shared_ptr<arrow::io::OutputStream> stream;
  std::string temp_path;  ///< empty for object stores
};
Result<AtomicOutput> OpenAtomicOutput(const Location& location);
/// Call after closing `output.stream`.
Status FinishAtomicWrite(const Location& location, const AtomicOutput& output);

/// True when `location` exists as a file.
Result<bool> FileExists(const Location& location);

/// Lists files (not folders) below `root`, recursively, sorted by path. Paths in the
/// result are relative to root, with '/' separators. Names that start with '.' or '_'
/// (hidden files, `_SUCCESS`, `_temporary`) are skipped at any depth, as Spark and Hadoop do.
/// Local folders: symbolic links are followed, each directory is read once (by device and
/// inode) and each of its entries listed once; a link to a file adds it only when no entry
/// lists it yet (the file's own entry wins, then the path with the fewest links, then path
/// order); hard links are entries of their own; links to the root or its ancestors are not
/// followed; entries that cannot be
/// images (FIFOs, sockets, devices, broken links, folders that cannot be read) are listed
/// with size 0 so that their read (ReadBounded) makes an error row. Time and memory grow with
/// the number of distinct entries (docs/decisions.md, "Listing that terminates"). Object
/// stores: one listing of the prefix (ListObjectsV2 only: a role may list a prefix without
/// the right to HEAD its name); only an empty listing is looked at further.
struct ListedFile {
  std::string relative_path;
  int64_t size = 0;
  /// Last modification (local mtime, S3 LastModified), ns since the epoch; 0 if unknown.
  /// With the size it identifies the file's content for --resume.
  int64_t mtime_ns = 0;
};
Result<std::vector<ListedFile>> ListFiles(const Location& root);

/// Receives the files of a listing one at a time (ListFilesTo); a failure stops the listing.
using FileSink = std::function<Status(ListedFile)>;

/// ListFiles without holding the listing: each file goes to `sink` as it is found, in no
/// particular order (the same files ListFiles returns). Local folders keep 16 bytes a file
/// (its device and inode, for the link rule); object stores list page by page.
Status ListFilesTo(const Location& root, const FileSink& sink);

/// Deletes a folder (or file) and everything below it; succeeds when it does not exist.
/// Local links are removed as links: a delete never follows one.
Status DeleteTreeIfExists(const Location& location);

/// Deletes the temporary files (OpenAtomicOutput's `.inprogress-*`) below `root` that
/// writers killed mid-write left behind; the files they were writing are not there, so the
/// rest of the folder is whole. Local folders only (object stores have no such files); a
/// missing folder is fine. Run before a folder is published: a reader of the published
/// folder reads every file in it.
Status DeleteAbandonedTempFiles(const Location& root);

/// Moves every file below `from` to the same relative path below `to`, replacing files
/// that exist. Object stores copy server-side and then delete.
Status MoveTree(const Location& from, const Location& to);

/// Copies every file below `from` to the same relative path below `to`, replacing files
/// that exist; `from` is left as it was. Each file is written atomically (WriteAll).
Status CopyTree(const Location& from, const Location& to);

/// `message` (a failed job's error) with, when it is an S3 refusal ("AWS Error
/// ACCESS_DENIED during <operation> operation", Arrow's wording), the IAM action that
/// operation needs and the object it was refused on appended: the SDK names only the API
/// call (CreateMultipartUpload), the policy must name the action (s3:PutObject). Other
/// messages are returned unchanged.
std::string ExplainAccessDenied(std::string_view message);

/// Must be called once before exit when object stores were used (Arrow's AWS SDK
/// shutdown). Safe to call when they were not.
void FinalizeStorage();

}  // namespace orchard::io
