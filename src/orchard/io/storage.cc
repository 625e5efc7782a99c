#include "orchard/io/storage.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/localfs.h>
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/thread_pool.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "orchard/io/local_files_internal.h"
#include "orchard/io/s3_internal.h"
#include "orchard/util/text.h"

namespace orchard::io {
namespace {

constexpr std::string_view kS3Scheme = "s3://";
constexpr std::string_view kS3aScheme = "s3a://";  // what Hadoop/Spark users paste
constexpr std::string_view kFileScheme = "file://";
// Temporary names are "<target>.inprogress-<pid>-<n>"; writer and sweeper share the marker.
constexpr std::string_view kInProgressMarker = ".inprogress-";

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

Status MakeParentDirs(const Location& location) {
  // Object stores have no folders; creating marker objects would only add noise.
  if (location.is_object_store) return Status::OK();
  const auto slash = location.path.rfind('/');
  if (slash == std::string::npos || slash == 0) return Status::OK();
  return location.fs->CreateDir(location.path.substr(0, slash), /*recursive=*/true);
}

}  // namespace

Location Location::Child(std::string_view relative) const {
  Location child = *this;
  while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
  if (relative.empty()) return child;
  child.path = path.empty() ? std::string(relative) : path + "/" + std::string(relative);
  child.display = display + "/" + util::ValidUtf8(relative);  // valid text for messages
  return child;
}

Result<Location> ResolveLocation(const std::string& uri_or_path, const StorageOptions& options) {
  if (uri_or_path.empty()) return Status::Invalid("empty path");
  if (StartsWith(uri_or_path, kS3Scheme))
    return internal::ResolveS3(uri_or_path, kS3Scheme, options);
  if (StartsWith(uri_or_path, kS3aScheme))
    return internal::ResolveS3(uri_or_path, kS3aScheme, options);
  std::string local = uri_or_path;
  if (StartsWith(local, kFileScheme)) local = local.substr(kFileScheme.size());
  if (local.find("://") != std::string::npos) {
    return Status::NotImplemented("unsupported URI scheme in '", uri_or_path,
                                  "': use a local path or s3://bucket/prefix");
  }
  std::error_code error;
  std::filesystem::path absolute = std::filesystem::absolute(local, error);
  if (error) return Status::IOError("cannot resolve path '", local, "': ", error.message());
  std::string normalized = absolute.lexically_normal().generic_string();
  while (normalized.size() > 1 && normalized.back() == '/') normalized.pop_back();
  Location location;
  location.fs = std::make_shared<arrow::fs::LocalFileSystem>();
  location.path = normalized;
  location.display = util::ValidUtf8(uri_or_path);  // valid text for messages and JSON
  while (location.display.size() > 1 && location.display.back() == '/') {
    location.display.pop_back();
  }
  return location;
}

Result<std::shared_ptr<arrow::Buffer>> ReadAll(const Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto file, location.fs->OpenInputFile(location.path));
  ORCHARD_ASSIGN_OR_RAISE(int64_t size, file->GetSize());
  ORCHARD_ASSIGN_OR_RAISE(auto buffer, file->ReadAt(0, size));
  if (buffer->size() != size) {
    return Status::IOError("short read of '", location.display, "': ", buffer->size(), " of ", size,
                           " bytes");
  }
  return buffer;
}

Status CheckFileSize(int64_t size, int64_t max_bytes) {
  if (size > max_bytes) {
    return Status::Invalid("the file is ", size, " bytes, over the limit of ", max_bytes,
                           " bytes (--max-file-bytes)");
  }
  return Status::OK();
}

Result<std::shared_ptr<arrow::Buffer>> ReadBounded(const Location& location, int64_t max_bytes,
                                                   int64_t listed_size) {
  if (listed_size >= 0) ORCHARD_RETURN_NOT_OK(CheckFileSize(listed_size, max_bytes));
  if (!location.is_object_store) return internal::ReadLocalFile(location.path, max_bytes);
  std::shared_ptr<arrow::io::RandomAccessFile> file;
  if (listed_size > 0) {
    // The listing's size: no HEAD before the GET, and the GET asks for that many bytes only.
    arrow::fs::FileInfo info(location.path, arrow::fs::FileType::File);
    info.set_size(listed_size);
    ORCHARD_ASSIGN_OR_RAISE(file, location.fs->OpenInputFile(info));
  } else {
    ORCHARD_ASSIGN_OR_RAISE(file, location.fs->OpenInputFile(location.path));
  }
  ORCHARD_ASSIGN_OR_RAISE(int64_t size, file->GetSize());
  ORCHARD_RETURN_NOT_OK(CheckFileSize(size, max_bytes));
  ORCHARD_ASSIGN_OR_RAISE(auto buffer, file->ReadAt(0, size));
  if (buffer->size() != size) {
    return Status::IOError("short read: ", buffer->size(), " of ", size,
                           " bytes (the object changed since it was listed?)");
  }
  return buffer;
}

Result<AtomicOutput> OpenAtomicOutput(const Location& location) {
  ORCHARD_RETURN_NOT_OK(MakeParentDirs(location));
  AtomicOutput output;
  std::string target = location.path;
  if (!location.is_object_store) {
    static std::atomic<uint64_t> counter{0};
    output.temp_path = location.path + std::string(kInProgressMarker) + std::to_string(::getpid()) +
                       "-" + std::to_string(counter++);
    target = output.temp_path;
  }
  ORCHARD_ASSIGN_OR_RAISE(output.stream, location.fs->OpenOutputStream(target));
  return output;
}

Status FinishAtomicWrite(const Location& location, const AtomicOutput& output) {
  if (location.is_object_store || output.temp_path.empty()) return Status::OK();
  return location.fs->Move(output.temp_path, location.path);
}

Status WriteAll(const Location& location, std::string_view data) {
  ORCHARD_ASSIGN_OR_RAISE(auto output, OpenAtomicOutput(location));
  ORCHARD_RETURN_NOT_OK(output.stream->Write(data.data(), static_cast<int64_t>(data.size())));
  ORCHARD_RETURN_NOT_OK(output.stream->Close());
  return FinishAtomicWrite(location, output);
}

Status DeleteAbandonedTempFiles(const Location& root) {
  if (root.is_object_store) return Status::OK();
  arrow::fs::FileSelector selector;
  selector.base_dir = root.path;
  selector.recursive = true;
  selector.allow_not_found = true;
  ORCHARD_ASSIGN_OR_RAISE(auto infos, root.fs->GetFileInfo(selector));
  for (const auto& info : infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    const std::string name = info.base_name();
    if (name.find(kInProgressMarker) == std::string::npos) continue;
    ORCHARD_RETURN_NOT_OK(root.fs->DeleteFile(info.path()));
  }
  return Status::OK();
}

Result<bool> FileExists(const Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto info, location.fs->GetFileInfo(location.path));
  return info.type() == arrow::fs::FileType::File;
}

Result<std::vector<ListedFile>> ListFiles(const Location& root) {
  if (root.is_object_store) return internal::ListObjectStoreFiles(root);
  std::vector<ListedFile> files;
  ORCHARD_RETURN_NOT_OK(
      internal::WalkLocalFiles(root.path, root.display, [&](ListedFile file) -> Status {
        files.push_back(std::move(file));
        return Status::OK();
      }));
  std::sort(files.begin(), files.end(), [](const ListedFile& lhs, const ListedFile& rhs) {
    return lhs.relative_path < rhs.relative_path;
  });
  return files;
}

Status ListFilesTo(const Location& root, const FileSink& sink) {
  if (!root.is_object_store) return internal::WalkLocalFiles(root.path, root.display, sink);
  // One page after another inside the S3 listing; the files are handed on as listed.
  ORCHARD_ASSIGN_OR_RAISE(auto files, internal::ListObjectStoreFiles(root));
  for (auto& file : files) ORCHARD_RETURN_NOT_OK(sink(std::move(file)));
  return Status::OK();
}

Status DeleteTreeIfExists(const Location& location) {
  if (!location.is_object_store) {
    // std::filesystem removes a link, never what it points to, at the top and at every
    // level below: a link planted in an output (`features -> ~/photos`) cannot make a
    // delete reach outside it.
    std::error_code error;
    std::filesystem::remove_all(location.path, error);
    if (error) {
      return Status::IOError("cannot delete '", location.display, "': ", error.message());
    }
    return Status::OK();
  }
  ORCHARD_ASSIGN_OR_RAISE(auto info, location.fs->GetFileInfo(location.path));
  switch (info.type()) {
    case arrow::fs::FileType::NotFound:
      return Status::OK();
    case arrow::fs::FileType::File:
      return location.fs->DeleteFile(location.path);
    default:
      return location.fs->DeleteDir(location.path);
  }
}

namespace {

// Applies `transfer(source, target)` to every file below `from`, at the same relative path
// below `to` (parent folders created).
Status ForEachFileBelow(
    const Location& from, const Location& to,
    const std::function<Status(const std::string&, const Location&)>& transfer) {
  arrow::fs::FileSelector selector;
  selector.base_dir = from.path;
  selector.recursive = true;
  selector.allow_not_found = true;
  ORCHARD_ASSIGN_OR_RAISE(auto infos, from.fs->GetFileInfo(selector));
  const size_t prefix_len = from.path.size() + 1;
  for (const auto& info : infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    const Location target = to.Child(info.path().substr(prefix_len));
    ORCHARD_RETURN_NOT_OK(MakeParentDirs(target));
    ORCHARD_RETURN_NOT_OK(transfer(info.path(), target));
  }
  return Status::OK();
}

}  // namespace

Status MoveTree(const Location& from, const Location& to) {
  return ForEachFileBelow(from, to, [&](const std::string& source, const Location& target) {
    return from.fs->Move(source, target.path);
  });
}

Status CopyTree(const Location& from, const Location& to) {
  return ForEachFileBelow(from, to, [&](const std::string& source, const Location& target) {
    // Through WriteAll: a copy interrupted half-way never looks like a whole file.
    ORCHARD_ASSIGN_OR_RAISE(auto bytes,
                            ReadAll(Location{from.fs, source, source, from.is_object_store}));
    return WriteAll(target, std::string_view(reinterpret_cast<const char*>(bytes->data()),
                                             static_cast<size_t>(bytes->size())));
  });
}

}  // namespace orchard::io
