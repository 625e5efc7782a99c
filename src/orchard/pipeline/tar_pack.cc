#include "orchard/pipeline/tar_pack.h"

#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/tar_shards.h"
#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

// libarchive's writer into an atomic output (local temp file + rename, or an S3 upload).
struct ShardSink {
  io::AtomicOutput output;
  Status status;
};

la_ssize_t WriteShard(struct archive* /*archive*/, void* data, const void* buffer, size_t length) {
  auto* sink = static_cast<ShardSink*>(data);
  if (!sink->status.ok()) return -1;
  sink->status = sink->output.stream->Write(buffer, static_cast<int64_t>(length));
  return sink->status.ok() ? static_cast<la_ssize_t>(length) : -1;
}

class ShardWriter {
 public:
  static Result<std::unique_ptr<ShardWriter>> Open(const io::Location& location) {
    std::unique_ptr<ShardWriter> writer(new ShardWriter(location));
    ORCHARD_ASSIGN_OR_RAISE(writer->sink_.output, io::OpenAtomicOutput(location));
    writer->archive_ = archive_write_new();
    archive_write_set_format_pax_restricted(writer->archive_);
    // No padding to 10 KiB records: a shard ends after its end-of-archive blocks.
    archive_write_set_bytes_in_last_block(writer->archive_, 1);
    if (archive_write_open2(writer->archive_, &writer->sink_, nullptr, WriteShard, nullptr,
                            nullptr) != ARCHIVE_OK) {
      return writer->Failed("open");
    }
    return writer;
  }
  ~ShardWriter() {
    if (archive_ != nullptr) archive_write_free(archive_);
  }

  Status Add(const std::string& name, const uint8_t* data, size_t size) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(size));
    const bool ok = archive_write_header(archive_, entry) == ARCHIVE_OK &&
                    archive_write_data(archive_, data, size) == static_cast<la_ssize_t>(size);
    archive_entry_free(entry);
    return ok ? Status::OK() : Failed("write");
  }
  Status Add(const std::string& name, const std::string& text) {
    return Add(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }

  Status Close() {
    if (archive_write_close(archive_) != ARCHIVE_OK) return Failed("close");
    ORCHARD_RETURN_NOT_OK(sink_.output.stream->Close());
    return io::FinishAtomicWrite(location_, sink_.output);
  }

 private:
  explicit ShardWriter(io::Location location) : location_(std::move(location)) {}
  Status Failed(const char* what) {
    if (!sink_.status.ok()) return sink_.status;
    const char* message = archive_error_string(archive_);
    return Status::IOError("cannot ", what, " the shard '", location_.display,
                           "': ", message ? message : "libarchive failed");
  }
  io::Location location_;
  ShardSink sink_;
  struct archive* archive_ = nullptr;
};

std::string ExtensionOf(const std::string& path) {
  const auto slash = path.rfind('/');
  const auto dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "bin";
  std::string extension = path.substr(dot + 1);
  for (char& c : extension) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool plain = !extension.empty() && extension.size() <= 8 &&
                     std::all_of(extension.begin(), extension.end(), [](char c) {
                       return std::isalnum(static_cast<unsigned char>(c));
                     });
  return plain ? extension : "bin";
}

}  // namespace

Result<PackSummary> PackShards(const io::Location& input, const io::Location& output,
                               int64_t samples_per_shard, int64_t max_file_bytes) {
  if (samples_per_shard < 1) return Status::Invalid("--samples-per-shard must be >= 1");
  arrow::fs::FileSelector below;
  below.base_dir = output.path;
  below.allow_not_found = true;
  below.recursive = true;
  ORCHARD_ASSIGN_OR_RAISE(auto existing, output.fs->GetFileInfo(below));
  if (!existing.empty()) {
    return Status::Invalid("output '", output.display,
                           "' is not empty: pack writes new shards into an empty folder");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto items, ListImages(input));
  PackSummary summary;
  ShardFiles shard_files;
  std::unique_ptr<ShardWriter> writer;
  int64_t in_shard = 0;
  for (const auto& item : items) {
    if (!item.listing_error.empty()) {
      ++summary.skipped;
      continue;
    }
    const io::Location where = ItemLocation(item, input);
    auto bytes = item.member_offset >= 0
                     ? (item.size > max_file_bytes
                            ? Result<std::shared_ptr<arrow::Buffer>>(
                                  io::CheckFileSize(item.size, max_file_bytes))
                            : shard_files.ReadMember(where, item.member_offset, item.size))
                     : io::ReadBounded(where, max_file_bytes, item.size);
    if (!bytes.ok()) {
      ++summary.skipped;
      continue;
    }
    if (writer == nullptr) {
      char name[32];
      std::snprintf(name, sizeof(name), "%05lld.tar", static_cast<long long>(summary.shards));
      ORCHARD_ASSIGN_OR_RAISE(writer, ShardWriter::Open(output.Child(name)));
      ++summary.shards;
    }
    char key[32];
    std::snprintf(key, sizeof(key), "%09lld", static_cast<long long>(summary.samples));
    ORCHARD_ASSIGN_OR_RAISE(auto label, util::UnescapeName(item.label));
    ORCHARD_RETURN_NOT_OK(writer->Add(std::string(key) + "." + ExtensionOf(item.path),
                                      (*bytes)->data(), static_cast<size_t>((*bytes)->size())));
    ORCHARD_RETURN_NOT_OK(writer->Add(std::string(key) + ".cls", label));
    const nlohmann::json meta = {{"path", item.path}, {"label", item.label}};
    ORCHARD_RETURN_NOT_OK(writer->Add(std::string(key) + ".json", meta.dump()));
    ++summary.samples;
    if (++in_shard == samples_per_shard) {
      ORCHARD_RETURN_NOT_OK(writer->Close());
      writer.reset();
      in_shard = 0;
    }
  }
  if (writer != nullptr) ORCHARD_RETURN_NOT_OK(writer->Close());
  return summary;
}

}  // namespace orchard::pipeline
