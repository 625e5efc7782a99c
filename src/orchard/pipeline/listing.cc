#include "orchard/pipeline/listing.h"

#include <utility>

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

std::string EscapeInvalidUtf8(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const auto lead = static_cast<unsigned char>(text[pos]);
    size_t length = 0;
    if (lead < 0x80)
      length = 1;
    else if ((lead >> 5) == 0x6 && lead >= 0xC2)
      length = 2;
    else if ((lead >> 4) == 0xE)
      length = 3;
    else if ((lead >> 3) == 0x1E && lead <= 0xF4)
      length = 4;
    bool valid = length > 0 && pos + length <= text.size();
    for (size_t idx = 1; valid && idx < length; ++idx) {
      valid = (static_cast<unsigned char>(text[pos + idx]) >> 6) == 0x2;
    }
    if (valid) {
      out.append(text, pos, length);
      pos += length;
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[lead >> 4];
      out += kHex[lead & 0xF];
      ++pos;
    }
  }
  return out;
}

ImageItem MakeImageItem(std::string source, int64_t size, const io::Location& root) {
  ImageItem item;
  item.label = EscapeInvalidUtf8(ParentFolderName(source, root));
  item.path = EscapeInvalidUtf8(source);
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
