#include "orchard/pipeline/tar_pack.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/tar_shards.h"
#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

constexpr size_t kBlock = 512;

// A ustar writer into an atomic output (local temp file + rename, or an S3 upload). Written
// here, not with libarchive: its pax writer pulls in its whole format table (7-Zip, zip and
// their compression and crypto libraries), which the static wheel cannot carry; pack's
// names are short (a 9-digit key and an extension) and its members regular files, which
// plain ustar headers hold exactly.
class ShardWriter {
 public:
  static Result<std::unique_ptr<ShardWriter>> Open(const io::Location& location) {
    std::unique_ptr<ShardWriter> writer(new ShardWriter(location));
    ORCHARD_ASSIGN_OR_RAISE(writer->output_, io::OpenAtomicOutput(location));
    return writer;
  }

  Status Add(const std::string& name, const uint8_t* data, size_t size) {
    if (name.size() >= 100) return Status::Invalid("internal: pack member name too long");
    std::array<char, kBlock> header{};
    std::memcpy(header.data(), name.data(), name.size());
    const auto octal = [&](size_t offset, size_t width, uint64_t value) {
      std::snprintf(header.data() + offset, width, "%0*llo", static_cast<int>(width - 1),
                    static_cast<unsigned long long>(value));
    };
    octal(100, 8, 0644);  // mode
    octal(108, 8, 0);     // uid
    octal(116, 8, 0);     // gid
    octal(124, 12, size);
    octal(136, 12, 0);  // mtime: shards of the same input are byte-identical
    header[156] = '0';  // a regular file
    std::memcpy(header.data() + 257, "ustar", 6);
    std::memcpy(header.data() + 263, "00", 2);
    std::memset(header.data() + 148, ' ', 8);  // the checksum counts its own field as spaces
    unsigned checksum = 0;
    for (const char c : header) checksum += static_cast<unsigned char>(c);
    std::snprintf(header.data() + 148, 8, "%06o", checksum);
    header[155] = ' ';
    ORCHARD_RETURN_NOT_OK(output_.stream->Write(header.data(), kBlock));
    ORCHARD_RETURN_NOT_OK(output_.stream->Write(data, static_cast<int64_t>(size)));
    const size_t padding = (kBlock - size % kBlock) % kBlock;
    static const std::array<char, kBlock> kZeros{};
    return output_.stream->Write(kZeros.data(), static_cast<int64_t>(padding));
  }
  Status Add(const std::string& name, const std::string& text) {
    return Add(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
  }

  /// The end-of-archive marker (two zero blocks), then the shard is published.
  Status Close() {
    static const std::array<char, 2 * kBlock> kEnd{};
    ORCHARD_RETURN_NOT_OK(output_.stream->Write(kEnd.data(), kEnd.size()));
    ORCHARD_RETURN_NOT_OK(output_.stream->Close());
    return io::FinishAtomicWrite(location_, output_);
  }

 private:
  explicit ShardWriter(io::Location location) : location_(std::move(location)) {}
  io::Location location_;
  io::AtomicOutput output_;
};

/// ustar's size field holds 11 octal digits.
constexpr int64_t kMaxUstarMemberBytes = (int64_t{1} << 33) - 1;

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
  max_file_bytes = std::min(max_file_bytes, kMaxUstarMemberBytes);
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
