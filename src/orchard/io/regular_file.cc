#include "orchard/io/regular_file.h"

#include <arrow/filesystem/filesystem.h>
#include <arrow/io/interfaces.h>

namespace orchard::io {
namespace {

Status TooLarge(std::string_view what, int64_t size, int64_t max_bytes) {
  return Status::Invalid(what, " is ", size, " bytes, more than the limit of ", max_bytes,
                         " bytes for such a file");
}

}  // namespace

Result<std::shared_ptr<arrow::Buffer>> ReadRegularFile(const Location& location, int64_t max_bytes,
                                                       std::string_view what) {
  auto info = location.fs->GetFileInfo(location.path);
  if (!info.ok()) return Status::IOError(what, ": ", info.status().message());
  switch (info->type()) {
    case arrow::fs::FileType::File:
      break;
    case arrow::fs::FileType::NotFound:
      return Status::IOError(what, " does not exist");
    case arrow::fs::FileType::Directory:
      return Status::Invalid(what, " is a folder, not a file");
    default:
      // stat() says FIFO, socket or device: opening or reading it may never end.
      return Status::Invalid(what, " is not a regular file (a FIFO, socket or device?)");
  }
  if (info->size() > max_bytes) return TooLarge(what, info->size(), max_bytes);
  auto file = location.fs->OpenInputFile(location.path);
  if (!file.ok()) return Status::IOError(what, ": ", file.status().message());
  // The size again from the open file: it may have been replaced or grown since the stat.
  auto size = (*file)->GetSize();
  if (!size.ok()) return Status::IOError(what, ": ", size.status().message());
  if (*size > max_bytes) return TooLarge(what, *size, max_bytes);
  auto buffer = (*file)->ReadAt(0, *size);
  if (!buffer.ok()) return Status::IOError(what, ": ", buffer.status().message());
  if ((*buffer)->size() != *size) {
    return Status::IOError(what, ": short read, ", (*buffer)->size(), " of ", *size, " bytes");
  }
  return std::move(buffer).ValueOrDie();
}

}  // namespace orchard::io
