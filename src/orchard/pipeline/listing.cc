#include "orchard/pipeline/listing.h"

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "orchard/pipeline/manifest.h"
#include "orchard/pipeline/tar_shards.h"
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

// Sorted by path, one item per path (the first listed: a manifest naming a file twice
// gives one row, so every path of the output is one image).
void SortAndDeduplicate(std::vector<ImageItem>* items) {
  std::stable_sort(items->begin(), items->end(),
                   [](const ImageItem& a, const ImageItem& b) { return a.path < b.path; });
  items->erase(std::unique(items->begin(), items->end(),
                           [](const ImageItem& a, const ImageItem& b) { return a.path == b.path; }),
               items->end());
}

// The shards of an input: tar files with their sizes, paths relative to `base`.
struct ShardFile {
  std::string fs_path;
  std::string relative;  // raw
  int64_t size = 0;
  int64_t mtime_ns = 0;
};

std::vector<ImageItem> ListShards(const io::Location& base, const std::vector<ShardFile>& shards,
                                  const ListOptions& options) {
  std::vector<ImageItem> items;
  for (const auto& shard : shards) {
    io::Location where = base;
    where.path = shard.fs_path;
    where.display = base.is_object_store ? "s3://" + util::ValidUtf8(shard.fs_path)
                                         : util::ValidUtf8(shard.fs_path);
    // The shard's folder (relative to the base; the base's own name for a shard in it).
    ListTarShard(where, shard.size, shard.mtime_ns, shard.relative,
                 util::EscapeName(ParentFolderName(shard.relative, base)), options, &items);
  }
  return items;
}

std::string FolderOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// Length-prefixed fields of an item token.
void PutField(std::string* out, std::string_view field) {
  *out += std::to_string(field.size());
  *out += ':';
  out->append(field);
}

Result<std::string> TakeField(std::string_view* in) {
  const auto colon = in->find(':');
  if (colon == std::string_view::npos) return Status::Invalid("a malformed item token");
  const std::string digits(in->substr(0, colon));
  char* end = nullptr;
  const unsigned long long length = std::strtoull(digits.c_str(), &end, 10);
  if (digits.empty() || *end != '\0' || length > in->size() - colon - 1) {
    return Status::Invalid("a malformed item token");
  }
  std::string field(in->substr(colon + 1, length));
  in->remove_prefix(colon + 1 + length);
  return field;
}

}  // namespace

Status CheckLabelFrom(const std::string& label_from) {
  if (label_from == "folder" || label_from == "cls" || label_from == "txt") return Status::OK();
  if (label_from.rfind("json:", 0) == 0 && label_from.size() > 5) return Status::OK();
  return Status::Invalid("--label-from '", util::ValidUtf8(label_from),
                         "': use folder, cls, txt or json:KEY");
}

ImageItem MakeImageItem(std::string source, int64_t size, const io::Location& root) {
  ImageItem item;
  item.label = util::EscapeName(ParentFolderName(source, root));
  item.path = util::EscapeName(source);
  item.source = std::move(source);
  item.size = size;
  return item;
}

io::Location ItemLocation(const ImageItem& item, const io::Location& root) {
  if (!item.source_in_fs) return root.Child(item.source);
  io::Location where = root;
  where.path = item.source;
  where.display =
      root.is_object_store ? "s3://" + util::ValidUtf8(item.source) : util::ValidUtf8(item.source);
  return where;
}

std::string ItemToken(const ImageItem& item) {
  if (!item.source_in_fs && item.member_offset < 0 && item.listing_error.empty()) {
    return item.source;
  }
  std::string token(1, '\0');
  token += 'I';
  PutField(&token, item.path);
  PutField(&token, item.label);
  PutField(&token, item.source);
  PutField(&token, std::to_string(item.mtime_ns));
  PutField(&token, item.source_in_fs ? "1" : "0");
  PutField(&token, std::to_string(item.member_offset));
  PutField(&token, item.listing_error);
  return token;
}

Result<ImageItem> ItemFromToken(std::string token, int64_t size, const io::Location& root) {
  if (token.empty() || token.front() != '\0') return MakeImageItem(std::move(token), size, root);
  std::string_view in(token);
  if (in.size() < 2 || in[1] != 'I') return Status::Invalid("a malformed item token");
  in.remove_prefix(2);
  ImageItem item;
  item.size = size;
  ORCHARD_ASSIGN_OR_RAISE(item.path, TakeField(&in));
  ORCHARD_ASSIGN_OR_RAISE(item.label, TakeField(&in));
  ORCHARD_ASSIGN_OR_RAISE(item.source, TakeField(&in));
  ORCHARD_ASSIGN_OR_RAISE(const std::string mtime, TakeField(&in));
  ORCHARD_ASSIGN_OR_RAISE(const std::string in_fs, TakeField(&in));
  ORCHARD_ASSIGN_OR_RAISE(const std::string offset, TakeField(&in));
  ORCHARD_ASSIGN_OR_RAISE(item.listing_error, TakeField(&in));
  item.mtime_ns = std::strtoll(mtime.c_str(), nullptr, 10);
  item.source_in_fs = in_fs == "1";
  item.member_offset = std::strtoll(offset.c_str(), nullptr, 10);
  return item;
}

Status ListImagesTo(const io::Location& root, const ListOptions& options, const ItemSink& sink) {
  ORCHARD_RETURN_NOT_OK(CheckLabelFrom(options.label_from));
  auto hand_on = [&](std::vector<ImageItem> items) -> Status {
    for (auto& item : items) ORCHARD_RETURN_NOT_OK(sink(std::move(item)));
    return Status::OK();
  };
  if (root.path.find('{') != std::string::npos) {
    // Brace notation: the shards it names, relative to the folder of the pattern.
    ORCHARD_ASSIGN_OR_RAISE(auto paths, internal::ExpandBraces(root.path));
    const std::string base_path = FolderOf(root.path.substr(0, root.path.find('{')));
    io::Location base = root;
    base.path = base_path;
    for (const auto& path : paths) {
      if (!IsTarName(path)) {
        return Status::Invalid("input '", root.display, "' names '", util::ValidUtf8(path),
                               "': brace notation is for .tar shards");
      }
      ShardFile shard;
      shard.fs_path = path;
      shard.relative = path.substr(base_path.size() + (base_path.empty() ? 0 : 1));
      auto info = root.fs->GetFileInfo(path);
      if (!info.ok() || info->type() != arrow::fs::FileType::File) {
        // One shard of many missing (or not a file): its row, the others are read.
        ImageItem item;
        item.path = util::EscapeName(shard.relative);
        item.source = path;
        item.source_in_fs = true;
        item.listing_error = info.ok()
                                 ? (info->type() == arrow::fs::FileType::NotFound
                                        ? "the shard does not exist"
                                        : "the shard is not a regular file")
                                 : "the shard cannot be looked up: " + info.status().message();
        ORCHARD_RETURN_NOT_OK(sink(std::move(item)));
        continue;
      }
      shard.size = info->size();
      shard.mtime_ns = info->mtime().time_since_epoch().count();
      // One shard at a time: only its members are in memory.
      ORCHARD_RETURN_NOT_OK(hand_on(ListShards(base, {shard}, options)));
    }
    return Status::OK();
  }
  if (IsTarName(root.path) || ManifestKindOf(root.path) != ManifestKind::kNone) {
    ORCHARD_ASSIGN_OR_RAISE(auto info, root.fs->GetFileInfo(root.path));
    if (info.type() == arrow::fs::FileType::File) {
      const ManifestKind kind = ManifestKindOf(root.path);
      if (kind == ManifestKind::kS3Inventory) {
        ORCHARD_ASSIGN_OR_RAISE(auto items, ListS3Inventory(root));
        return hand_on(std::move(items));
      }
      if (kind != ManifestKind::kNone) {
        ORCHARD_ASSIGN_OR_RAISE(auto items, ListManifest(root, kind));
        return hand_on(std::move(items));
      }
      io::Location base = root;
      base.path = FolderOf(root.path);
      ShardFile shard{root.path, root.path.substr(base.path.size() + 1), info.size(),
                      info.mtime().time_since_epoch().count()};
      return hand_on(ListShards(base, {shard}, options));
    }
    // Not a file (a folder named x.tar or x.csv): listed as a folder below.
  }
  // A folder whose files are all .tar is a folder of shards: its .tar files are held back
  // until the first other file shows it is a folder of images (then they are images too).
  bool all_shards = true;
  std::vector<ShardFile> shards;
  ORCHARD_RETURN_NOT_OK(io::ListFilesTo(root, [&](io::ListedFile file) -> Status {
    auto image_item = [&](io::ListedFile listed) {
      ImageItem item = MakeImageItem(std::move(listed.relative_path), listed.size, root);
      item.mtime_ns = listed.mtime_ns;
      return item;
    };
    if (all_shards && IsTarName(file.relative_path)) {
      shards.push_back({root.Child(file.relative_path).path, std::move(file.relative_path),
                        file.size, file.mtime_ns});
      return Status::OK();
    }
    if (all_shards) {
      all_shards = false;
      for (auto& shard : shards) {
        ORCHARD_RETURN_NOT_OK(
            sink(image_item({std::move(shard.relative), shard.size, shard.mtime_ns})));
      }
      shards.clear();
    }
    return sink(image_item(std::move(file)));
  }));
  if (!all_shards || shards.empty()) return Status::OK();
  std::sort(shards.begin(), shards.end(),
            [](const ShardFile& a, const ShardFile& b) { return a.relative < b.relative; });
  for (const auto& shard : shards) {
    ORCHARD_RETURN_NOT_OK(hand_on(ListShards(root, {shard}, options)));
  }
  return Status::OK();
}

Result<std::vector<ImageItem>> ListImages(const io::Location& root, const ListOptions& options) {
  std::vector<ImageItem> items;
  ORCHARD_RETURN_NOT_OK(ListImagesTo(root, options, [&](ImageItem item) -> Status {
    items.push_back(std::move(item));
    return Status::OK();
  }));
  SortAndDeduplicate(&items);
  return items;
}

namespace internal {

Result<std::vector<std::string>> ExpandBraces(const std::string& pattern) {
  const auto open = pattern.find('{');
  if (open == std::string::npos) {
    if (pattern.find('}') != std::string::npos) {
      return Status::Invalid("'", util::ValidUtf8(pattern), "' has a '}' without its '{'");
    }
    return std::vector<std::string>{pattern};
  }
  const auto close = pattern.find('}', open);
  if (close == std::string::npos || pattern.find('{', open + 1) < close) {
    return Status::Invalid("'", util::ValidUtf8(pattern), "' has an unbalanced '{'");
  }
  const std::string group = pattern.substr(open + 1, close - open - 1);
  std::vector<std::string> choices;
  if (const auto dots = group.find(".."); dots != std::string::npos) {
    const std::string first = group.substr(0, dots);
    const std::string last = group.substr(dots + 2);
    const auto is_number = [](const std::string& text) {
      return !text.empty() && text.size() <= 18 &&
             std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!is_number(first) || !is_number(last)) {
      return Status::Invalid("'{", util::ValidUtf8(group),
                             "}': a range is {FIRST..LAST} of numbers");
    }
    const long long from = std::stoll(first);
    const long long to = std::stoll(last);
    if (to < from) return Status::Invalid("'{", group, "}': the range descends");
    if (to - from + 1 > kMaxExpandedShards) {
      return Status::Invalid("'{", group, "}' names more than ", kMaxExpandedShards, " shards");
    }
    for (long long number = from; number <= to; ++number) {
      std::string text = std::to_string(number);
      if (text.size() < first.size()) text.insert(0, first.size() - text.size(), '0');
      choices.push_back(std::move(text));
    }
  } else {
    size_t start = 0;
    while (true) {
      const auto comma = group.find(',', start);
      choices.push_back(group.substr(start, comma - start));
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (group.empty()) return Status::Invalid("'", util::ValidUtf8(pattern), "' has an empty '{}'");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto rests, ExpandBraces(pattern.substr(close + 1)));
  if (static_cast<double>(choices.size()) * static_cast<double>(rests.size()) >
      static_cast<double>(kMaxExpandedShards)) {
    return Status::Invalid("'", util::ValidUtf8(pattern), "' names more than ", kMaxExpandedShards,
                           " shards");
  }
  std::vector<std::string> out;
  out.reserve(choices.size() * rests.size());
  const std::string head = pattern.substr(0, open);
  for (const auto& choice : choices) {
    for (const auto& rest : rests) out.push_back(head + choice + rest);
  }
  return out;
}

Result<std::string> RelativeInside(const std::string& path) {
  if (!path.empty() && path.front() == '/') {
    return Status::Invalid("the path is absolute, not relative to the manifest");
  }
  std::vector<std::string> segments;
  size_t start = 0;
  while (start <= path.size()) {
    const auto end = std::min(path.find('/', start), path.size());
    const std::string segment = path.substr(start, end - start);
    if (segment == "..") {
      if (segments.empty()) {
        return Status::Invalid(
            "the path leaves the manifest's folder ('..'): relative paths stay below it; "
            "name files elsewhere by their absolute path");
      }
      segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    start = end + 1;
  }
  if (segments.empty()) return Status::Invalid("the path names the manifest's folder itself");
  std::string out;
  for (const auto& segment : segments) {
    if (!out.empty()) out += '/';
    out += segment;
  }
  return out;
}

}  // namespace internal

}  // namespace orchard::pipeline
