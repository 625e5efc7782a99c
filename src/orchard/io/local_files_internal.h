// The local-disk side of io/storage.h: the listing walk and the bounded read, on POSIX
// calls. Arrow's LocalFileSystem follows symbolic links without noticing loops (two links
// to "." make its recursive listing grow without end) and opens whatever a path names (a
// FIFO blocks the open forever, /dev/zero never ends). Private to src/orchard/io.
#pragma once

#include <arrow/buffer.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::io::internal {

/// True for names the listing skips at any depth: hidden ('.') and bookkeeping ('_').
inline bool IsSkippedName(std::string_view name) {
  return !name.empty() && (name.front() == '.' || name.front() == '_');
}

/// Lists the local folder `root_path` (absolute, normalized) with the symlink policy of
/// docs/decisions.md ("Listing that terminates"): links are followed, each directory is
/// read once by (device, inode) and each of its entries listed once, a link to a file adds
/// it only when no entry lists it yet (by device and inode; its own entry wins, then the
/// path with the fewest links, then the first in path order), and links to the root or to
/// one of its ancestors are not followed. Entries that are not regular files (FIFOs, sockets,
/// devices, broken links, folders that cannot be read) are listed too, with size 0: the
/// read of each fails with its reason, so each becomes an error row. Time and memory grow
/// with the number of distinct entries; memory holds 16 bytes per file and the links to
/// files, never the listing itself: each file goes to `sink` as it is found, in no
/// particular order. Fails only when the root itself cannot be listed (or the sink fails);
/// `display` names it in messages.
Status WalkLocalFiles(const std::string& root_path, const std::string& display,
                      const FileSink& sink);

/// Reads the regular file `path` whole, refusing one over `max_bytes` without reading it and
/// never reading more than max_bytes + 1 bytes. Non-regular files are refused without being
/// opened; the open never blocks (O_NONBLOCK), so a FIFO swapped in meanwhile cannot hang it.
/// Messages say what is wrong with the file, not its path (callers name it).
Result<std::shared_ptr<arrow::Buffer>> ReadLocalFile(const std::string& path, int64_t max_bytes);

}  // namespace orchard::io::internal
