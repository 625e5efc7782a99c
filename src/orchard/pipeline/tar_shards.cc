#include "orchard/pipeline/tar_shards.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <map>
#include <nlohmann/json.hpp>
#include <utility>

#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

// Bytes asked of the shard per read while listing: large enough that an object store
// answers a shard in few requests, small enough that the listing holds little.
constexpr int64_t kListingReadBytes = int64_t{8} << 20;

constexpr const char* kImageExtensions[] = {"jpg", "jpeg", "png", "webp",
                                            "bmp", "gif",  "tif", "tiff"};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsImageExtension(std::string_view extension) {
  // "seg.jpg": the last component decides.
  const auto dot = extension.rfind('.');
  const std::string last =
      Lower(dot == std::string_view::npos ? extension : extension.substr(dot + 1));
  return std::find(std::begin(kImageExtensions), std::end(kImageExtensions), last) !=
         std::end(kImageExtensions);
}

// The shard as libarchive's client: sequential reads of the file, skips as seeks (a large
// member that is not a label is never read while listing), never past the size the shard
// had when it was opened (a shard growing while it is read, or a device, ends there).
struct ShardSource {
  std::shared_ptr<arrow::io::RandomAccessFile> file;
  int64_t size = 0;
  int64_t position = 0;
  std::shared_ptr<arrow::Buffer> block;
  std::string error;
};

la_ssize_t ReadShard(struct archive* archive, void* data, const void** buffer) {
  auto* source = static_cast<ShardSource*>(data);
  const int64_t want = std::min(kListingReadBytes, source->size - source->position);
  if (want <= 0) return 0;
  auto block = source->file->ReadAt(source->position, want);
  if (!block.ok()) {
    source->error = block.status().message();
    archive_set_error(archive, EIO, "read failed at byte %lld",
                      static_cast<long long>(source->position));
    return -1;
  }
  source->block = std::move(block).ValueUnsafe();
  source->position += source->block->size();
  *buffer = source->block->data();
  return static_cast<la_ssize_t>(source->block->size());
}

la_int64_t SkipShard(struct archive* /*archive*/, void* data, la_int64_t request) {
  auto* source = static_cast<ShardSource*>(data);
  const int64_t skipped = std::clamp<int64_t>(request, 0, source->size - source->position);
  source->position += skipped;
  return skipped;
}

struct ArchiveCloser {
  void operator()(struct archive* archive) const { archive_read_free(archive); }
};

// What the listing knows of one sample (members sharing a key) so far.
struct Sample {
  std::string image_member;  // raw member name; empty: no image member yet
  int64_t offset = -1;
  int64_t size = 0;
  std::string error;  // the sample's own problem (its image member's)
  bool has_label = false;
  std::string label;        // escaped
  std::string label_error;  // why the label member gave no label
};

// The sample key and extension of a member name ("dir/a.seg.jpg" -> "dir/a", "seg.jpg"),
// WebDataset's rule: the extension starts at the first '.' of the base name.
std::pair<std::string, std::string> SplitKey(const std::string& name) {
  const auto slash = name.rfind('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  const auto dot = name.find('.', base);
  if (dot == std::string::npos) return {name, ""};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

// Why a member name may not name a row ("" when it may): traversal names are harmless to
// orchard (nothing is extracted) but would give rows paths outside their shard.
std::string UnsafeNameReason(const std::string& name) {
  if (name.empty()) return "the member has an empty name";
  if (name.front() == '/') return "the member name is absolute";
  size_t start = 0;
  while (start <= name.size()) {
    const auto end = std::min(name.find('/', start), name.size());
    if (name.compare(start, end - start, "..") == 0) return "the member name holds '..'";
    start = end + 1;
  }
  return "";
}

std::string TypeName(struct archive_entry* entry) {
  if (archive_entry_hardlink(entry) != nullptr) return "a hard link";
  switch (archive_entry_filetype(entry)) {
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFDIR:
      return "a folder";
    case AE_IFCHR:
    case AE_IFBLK:
      return "a device";
    case AE_IFIFO:
      return "a FIFO";
    case AE_IFSOCK:
      return "a socket";
    default:
      break;
  }
  if (archive_entry_sparse_count(entry) > 0) {
    return "a sparse file";
  }
  return archive_entry_filetype(entry) == AE_IFREG ? "" : "not a regular file";
}

// The label in a label member's text, for --label-from cls/txt or json:KEY.
void TakeLabel(const std::string& text, const std::string& json_key, Sample* sample) {
  sample->has_label = true;
  if (json_key.empty()) {
    size_t first = 0;
    size_t last = text.size();
    while (first < last && std::isspace(static_cast<unsigned char>(text[first]))) ++first;
    while (last > first && std::isspace(static_cast<unsigned char>(text[last - 1]))) --last;
    if (first == last) {
      sample->label_error = "its label member is empty";
    } else {
      sample->label = util::EscapeName(text.substr(first, last - first));
    }
    return;
  }
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    sample->label_error = "its .json member is not a JSON object";
    return;
  }
  const auto found = json.find(json_key);
  if (found == json.end()) {
    sample->label_error = "its .json member has no key '" + util::ValidUtf8(json_key) + "'";
  } else if (found->is_string()) {
    sample->label = util::EscapeName(found->get<std::string>());
  } else if (found->is_number_integer() || found->is_number_unsigned()) {
    sample->label = found->dump();
  } else {
    sample->label_error =
        "key '" + util::ValidUtf8(json_key) + "' of its .json member is not a string or integer";
  }
}

}  // namespace

bool IsTarName(std::string_view name) {
  return name.size() > 4 && Lower(name.substr(name.size() - 4)) == ".tar";
}

void ListTarShard(const io::Location& shard, int64_t shard_size, int64_t shard_mtime_ns,
                  const std::string& relative_raw, const std::string& folder_label,
                  const ListOptions& options, std::vector<ImageItem>* items) {
  const auto shard_error = [&](const std::string& message) {
    ImageItem item;
    item.path = util::EscapeName(relative_raw);
    item.label = folder_label;
    item.source = shard.path;
    item.source_in_fs = true;
    item.size = shard_size;
    item.mtime_ns = shard_mtime_ns;
    item.listing_error = message;
    items->push_back(std::move(item));
  };
  std::string label_ext;  // the member extension the label comes from ("" for the folder)
  std::string json_key;
  if (options.label_from == "cls" || options.label_from == "txt") {
    label_ext = options.label_from;
  } else if (options.label_from.rfind("json:", 0) == 0) {
    label_ext = "json";
    json_key = options.label_from.substr(5);
  }

  if (!shard.is_object_store) {
    // A FIFO, device or socket named x.tar: opening a FIFO blocks until a writer comes,
    // a device never ends. The folder listing gives them size 0; stat says what they are.
    auto info = shard.fs->GetFileInfo(shard.path);
    if (!info.ok() || info->type() != arrow::fs::FileType::File) {
      return shard_error(
          "the shard is not a regular file (a FIFO, device, socket or broken "
          "link): only regular .tar files are read");
    }
  }
  ShardSource source;
  source.size = shard_size;
  arrow::fs::FileInfo info(shard.path, arrow::fs::FileType::File);
  info.set_size(shard_size);
  auto file = shard.fs->OpenInputFile(info);
  if (!file.ok()) return shard_error("cannot open the shard: " + file.status().message());
  source.file = *file;

  std::unique_ptr<struct archive, ArchiveCloser> archive(archive_read_new());
  if (!archive) return shard_error("cannot start libarchive (out of memory)");
  // Plain tar only, no decompression filter: a shard is read by byte ranges later, which a
  // compressed stream does not allow. A .tar.gz is "not a tar" here, and the message says so.
  archive_read_support_format_tar(archive.get());
  archive_read_set_read_callback(archive.get(), ReadShard);
  archive_read_set_skip_callback(archive.get(), SkipShard);
  archive_read_set_callback_data(archive.get(), &source);
  if (archive_read_open1(archive.get()) != ARCHIVE_OK) {
    return shard_error(std::string("not an uncompressed tar shard: ") +
                       (source.error.empty()
                            ? util::ValidUtf8(archive_error_string(archive.get())
                                                  ? archive_error_string(archive.get())
                                                  : "unknown error")
                            : source.error) +
                       " (WebDataset shards are plain .tar files)");
  }

  std::map<std::string, Sample> samples;  // by key: a name's sample wherever it appears
  std::string damage;                     // why the listing of the shard stopped early
  int64_t members = 0;
  struct archive_entry* entry = nullptr;
  while (true) {
    const int status = archive_read_next_header(archive.get(), &entry);
    if (status == ARCHIVE_EOF) break;
    if (status != ARCHIVE_OK && status != ARCHIVE_WARN) {
      const char* message = archive_error_string(archive.get());
      damage = source.error.empty() ? util::ValidUtf8(message ? message : "unknown error")
                                    : source.error;
      break;
    }
    if (++members > kMaxTarMembers) {
      damage = "more than " + std::to_string(kMaxTarMembers) + " members";
      break;
    }
    // Where the member's data starts: the bytes the format reader consumed so far (its
    // header, and any pax / GNU long-name headers before it).
    const int64_t data_offset = archive_filter_bytes(archive.get(), 0);
    const char* raw_name = archive_entry_pathname(entry);
    std::string name = raw_name == nullptr ? "" : raw_name;
    while (name.rfind("./", 0) == 0) name.erase(0, 2);  // `tar -C dir .` writes ./a.jpg
    if (archive_entry_filetype(entry) == AE_IFDIR) continue;
    const auto slash = name.rfind('/');
    const std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
    if (!base.empty() && base.front() == '.')
      continue;  // ._a.jpg (macOS metadata) and other hidden
    if (name.size() > kMaxTarMemberNameBytes) {
      shard_error("a member name of " + std::to_string(name.size()) + " bytes (more than " +
                  std::to_string(kMaxTarMemberNameBytes) + ") at byte " +
                  std::to_string(data_offset));
      continue;
    }
    if (const std::string unsafe = UnsafeNameReason(name); !unsafe.empty()) {
      ImageItem item;
      item.path = util::EscapeName(relative_raw + "/" + name);
      item.label = folder_label;
      item.source = shard.path;
      item.source_in_fs = true;
      item.listing_error = unsafe + ": rows name members inside their shard only";
      items->push_back(std::move(item));
      continue;
    }
    auto [key, extension] = SplitKey(name);
    if (extension.empty()) continue;  // no extension: part of no sample
    const std::string type_problem = TypeName(entry);
    const int64_t size = archive_entry_size_is_set(entry) ? archive_entry_size(entry) : -1;
    // Every member makes its sample known: one without an image member is an error row.
    Sample& sample = samples[key];
    if (IsImageExtension(extension)) {
      if (!sample.image_member.empty() || !sample.error.empty()) continue;  // the first counts
      sample.image_member = name;
      sample.offset = data_offset;
      sample.size = size;
      if (!type_problem.empty()) {
        sample.error = "the image member is " + type_problem + ": only regular members are read";
      } else if (size < 0 || data_offset < 0 || data_offset + size > shard_size) {
        sample.error = "the shard ends inside this member (truncated shard)";
      }
      continue;
    }
    if (label_ext.empty() || Lower(extension) != label_ext || sample.has_label) continue;
    if (!type_problem.empty()) {
      sample.has_label = true;
      sample.label_error = "its label member is " + type_problem;
    } else if (size > kMaxTarLabelMemberBytes) {
      sample.has_label = true;
      sample.label_error = "its label member has " + std::to_string(size) + " bytes (at most " +
                           std::to_string(kMaxTarLabelMemberBytes) + ")";
    } else {
      std::string text(static_cast<size_t>(std::max<int64_t>(size, 0)), '\0');
      const la_ssize_t got =
          size > 0 ? archive_read_data(archive.get(), text.data(), text.size()) : 0;
      if (got < 0 || got != static_cast<la_ssize_t>(text.size())) {
        sample.has_label = true;
        sample.label_error = "its label member cannot be read (truncated shard)";
      } else {
        TakeLabel(text, json_key, &sample);
      }
    }
  }

  for (auto& [key, sample] : samples) {
    ImageItem item;
    item.source = shard.path;
    item.source_in_fs = true;
    item.mtime_ns = shard_mtime_ns;
    item.label = folder_label;
    if (sample.image_member.empty()) {
      item.path = util::EscapeName(relative_raw + "/" + key);
      item.listing_error = "the sample has no image member (.jpg, .jpeg, .png, .webp, ...)";
      items->push_back(std::move(item));
      continue;
    }
    item.path = util::EscapeName(relative_raw + "/" + sample.image_member);
    item.member_offset = sample.offset;
    item.size = sample.size;
    if (!label_ext.empty()) {
      if (!sample.has_label) {
        item.listing_error = "the sample has no ." + label_ext + " member for --label-from " +
                             util::ValidUtf8(options.label_from);
      } else if (!sample.label_error.empty()) {
        item.listing_error =
            sample.label_error + " (--label-from " + util::ValidUtf8(options.label_from) + ")";
      } else {
        item.label = sample.label;
      }
    }
    if (!sample.error.empty()) item.listing_error = sample.error;
    if (!item.listing_error.empty()) item.member_offset = -1;
    items->push_back(std::move(item));
  }
  if (!damage.empty()) {
    shard_error("the shard is not a whole tar (" + damage +
                "); the samples listed before the damage are kept");
  }
}

Result<ShardFiles::OpenShard> ShardFiles::Open(const io::Location& shard) {
  // One open per shard, whoever asks first: the readers of its members arrive together
  // (hundreds of reads in flight on S3) and each open is a HEAD request, so the others
  // wait for the first one's answer instead of making their own.
  std::promise<Result<OpenShard>> opening;
  OpenFuture opened;
  bool mine = false;
  {
    std::lock_guard lock(mutex_);
    if (auto found = open_.find(shard.path); found != open_.end()) {
      opened = found->second;
    } else {
      opened = opening.get_future().share();
      open_.emplace(shard.path, opened);
      opened_order_.push_back(shard.path);
      if (opened_order_.size() > kMaxOpenShards) {
        open_.erase(opened_order_.front());  // reads in flight keep their own reference
        opened_order_.pop_front();
      }
      mine = true;
      ++opens_;
    }
  }
  if (mine) {
    opening.set_value([&]() -> Result<OpenShard> {
      // Checked again at read time: a shard replaced by a FIFO or a folder since it was
      // listed must not block or fail oddly.
      ORCHARD_ASSIGN_OR_RAISE(auto info, shard.fs->GetFileInfo(shard.path));
      if (info.type() != arrow::fs::FileType::File) {
        return Status::IOError("the shard is not a regular file any more (it was when listed)");
      }
      OpenShard result;
      ORCHARD_ASSIGN_OR_RAISE(result.file, shard.fs->OpenInputFile(info));
      result.size = info.size();
      return result;
    }());
  }
  Result<OpenShard> result = opened.get();
  if (!result.ok() && mine) {
    // A failed open is not kept: a later read of the shard asks again.
    std::lock_guard lock(mutex_);
    open_.erase(shard.path);
    opened_order_.remove(shard.path);
  }
  return result;
}

int64_t ShardFiles::opens() const {
  std::lock_guard lock(mutex_);
  return opens_;
}

int64_t ShardFiles::requests() const {
  std::lock_guard lock(mutex_);
  return requests_;
}

Result<std::shared_ptr<arrow::Buffer>> ShardFiles::ReadMember(const io::Location& shard,
                                                              int64_t offset, int64_t size) {
  ORCHARD_ASSIGN_OR_RAISE(const OpenShard opened, Open(shard));
  const auto short_read = [&](int64_t got) {
    return Status::IOError("the shard ends ", offset + size - got,
                           " bytes before the member's end (changed since it was listed?)");
  };
  const auto read_alone = [&]() -> Result<std::shared_ptr<arrow::Buffer>> {
    {
      std::lock_guard count_lock(mutex_);
      ++requests_;
    }
    ORCHARD_ASSIGN_OR_RAISE(auto bytes, opened.file->ReadAt(offset, size));
    if (bytes->size() != size) return short_read(offset + bytes->size());
    return bytes;
  };
  if (size > kShardWindowBytes) return read_alone();
  Fetch fetch;
  int64_t start = 0;
  int64_t end = 0;
  std::promise<Result<std::shared_ptr<arrow::Buffer>>> fetching;
  bool mine = false;
  {
    std::unique_lock lock(mutex_);
    // Windows sit at fixed places (every kShardWindowBytes, reaching a quarter window past
    // the next, so that a member crossing the boundary is still inside): readers that come
    // out of order (hundreds of reads in flight on S3) find the same window instead of
    // each making one that starts at its own member.
    const int64_t window_start = offset / kShardWindowBytes * kShardWindowBytes;
    const int64_t window_end =
        std::min(window_start + kShardWindowBytes + kShardWindowBytes / 4, opened.size);
    if (offset + size > window_end) {
      lock.unlock();  // a member past its window's reach: a request of its own
      return read_alone();
    }
    auto found = std::find_if(windows_.begin(), windows_.end(), [&](const Window& window) {
      return window.shard == shard.path && window.start == window_start;
    });
    if (found != windows_.end()) {
      windows_.splice(windows_.end(), windows_, found);  // most recently used
    } else {
      Window window;
      window.shard = shard.path;
      window.start = window_start;
      window.end = window_end;
      window.bytes = fetching.get_future().share();
      windows_.push_back(std::move(window));
      if (windows_.size() > kMaxShardWindows) windows_.pop_front();  // its readers keep it
      mine = true;
      ++requests_;
    }
    fetch = windows_.back().bytes;
    start = windows_.back().start;
    end = windows_.back().end;
  }
  if (mine) fetching.set_value(opened.file->ReadAt(start, end - start));
  Result<std::shared_ptr<arrow::Buffer>> window = fetch.get();
  if (!window.ok()) {
    // A failed fetch is not kept: the next read of these bytes asks again.
    std::lock_guard lock(mutex_);
    windows_.remove_if(
        [&](const Window& entry) { return entry.shard == shard.path && entry.start == start; });
    return window.status();
  }
  const std::shared_ptr<arrow::Buffer>& bytes = *window;
  if (offset - start + size > bytes->size()) return short_read(start + bytes->size());
  return arrow::SliceBuffer(bytes, offset - start, size);
}

}  // namespace orchard::pipeline
