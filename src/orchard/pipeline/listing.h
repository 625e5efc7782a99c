// The input side of the output contract: which files of an input root are images to
// featurize, and the `path` and `label` each one gets. The CLI and the Spark job both list
// through here, so both give the same rows.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// One input image: where it is (relative to the input root) and its label.
struct ImageItem {
  /// Relative to the input root, '/'-separated, in its table form util::EscapeName: valid
  /// UTF-8, '%' written as %25 and each byte that is not UTF-8 as %XX, so distinct files
  /// keep distinct paths and util::UnescapeName(path) joined with the root finds the file.
  std::string path;
  std::string label;   ///< name of the parent folder (escaped the same way)
  std::string source;  ///< the raw relative path (UnescapeName(path)), for reading the file
  int64_t size = 0;
  int64_t mtime_ns = 0;  ///< io::ListedFile::mtime_ns (0 when not listed here)
};

/// The item of the file `source` (raw, relative to `root`).
ImageItem MakeImageItem(std::string source, int64_t size, const io::Location& root);

/// Lists the input root (sorted; hidden names skipped, see io::ListFiles); label = name of
/// each file's parent folder.
Result<std::vector<ImageItem>> ListImages(const io::Location& root);

}  // namespace orchard::pipeline
