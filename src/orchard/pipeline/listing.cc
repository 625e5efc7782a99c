#include "orchard/pipeline/listing.h"

#include <utility>

#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

std::string ParentFolderName(const std::string& relative_path, const io::Location& root) {
  const auto slash = relative_path.rfind('/');
  if (slash != std::string::npos) {
    const auto previous = relative_path.rfind('/', slash - 1);
    const size_t start = previous == std::string::npos ? 0 : previous + 1;
    return relative_path.substr(start, slash - start);
  }
  // A file directly under the root: its parent is the root itself.
  const auto root_slash = root.path.rfind('/');
  return root_slash == std::string::npos ? root.path : root.path.substr(root_slash + 1);
}

}  // namespace

ImageItem MakeImageItem(std::string source, int64_t size, const io::Location& root) {
  ImageItem item;
  item.label = util::EscapeName(ParentFolderName(source, root));
  item.path = util::EscapeName(source);
  item.source = std::move(source);
  item.size = size;
  return item;
}

Result<std::vector<ImageItem>> ListImages(const io::Location& root) {
  ORCHARD_ASSIGN_OR_RAISE(auto files, io::ListFiles(root));
  std::vector<ImageItem> items;
  items.reserve(files.size());
  for (auto& file : files) {
    items.push_back(MakeImageItem(std::move(file.relative_path), file.size, root));
    items.back().mtime_ns = file.mtime_ns;
  }
  return items;
}

}  // namespace orchard::pipeline
