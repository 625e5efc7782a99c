#include "orchard/pipeline/listing_file.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>
#include <arrow/filesystem/localfs.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <queue>
#include <string_view>
#include <system_error>
#include <utility>

#include "orchard/util/little_endian.h"
#include "orchard/util/sha256.h"
#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

constexpr std::string_view kHeader = "ORCHLST1";
// The header: kHeader, then rows_per_part (u64).
constexpr int64_t kHeaderBytes = 16;
// The trailer: kTrailer, the count (u64), the SHA-256 (64 hex digits).
constexpr int64_t kTrailerBytes = 8 + 8 + 64;
constexpr std::string_view kTrailer = "ORCHLEND";
constexpr uint8_t kSourceInFs = 1;
constexpr uint8_t kSourceIsPath = 2;  // the source is the path itself (no escape changed it)
// No record is near this: a path is at most a few KiB; a larger length is a damaged file.
constexpr uint32_t kMaxRecordBytes = 1u << 24;
// Bytes a ListingReader asks for at once: one request per 4 MiB of a shard's items.
constexpr int64_t kReadChunk = 4LL << 20;
// Bytes of the merge's buffered run readers and of the file writer.
constexpr size_t kStreamBuffer = 1 << 16;

void PutString(std::string* out, std::string_view text) {
  util::PutLittle<uint32_t>(out, static_cast<uint32_t>(text.size()));
  out->append(text);
}

// The record of `item`, its length first.
std::string EncodeRecord(const ImageItem& item) {
  const bool source_is_path = item.source == item.path;
  std::string payload;
  payload.reserve(40 + item.path.size() + item.label.size() +
                  (source_is_path ? 0 : item.source.size()) + item.listing_error.size());
  util::PutLittle<uint8_t>(&payload, static_cast<uint8_t>((item.source_in_fs ? kSourceInFs : 0) |
                                                          (source_is_path ? kSourceIsPath : 0)));
  util::PutLittle<int64_t>(&payload, item.size);
  util::PutLittle<int64_t>(&payload, item.mtime_ns);
  util::PutLittle<int64_t>(&payload, item.member_offset);
  PutString(&payload, item.path);
  PutString(&payload, item.label);
  if (!source_is_path) PutString(&payload, item.source);
  PutString(&payload, item.listing_error);
  std::string record;
  util::PutLittle<uint32_t>(&record, static_cast<uint32_t>(payload.size()));
  record += payload;
  return record;
}

bool TakeString(std::string_view* in, std::string* text) {
  uint32_t length = 0;
  if (!util::TakeLittle(in, &length) || length > in->size()) return false;
  text->assign(in->data(), length);
  in->remove_prefix(length);
  return true;
}

bool DecodePayload(std::string_view payload, ImageItem* item) {
  uint8_t flags = 0;
  if (!util::TakeLittle(&payload, &flags) || !util::TakeLittle(&payload, &item->size) ||
      !util::TakeLittle(&payload, &item->mtime_ns) ||
      !util::TakeLittle(&payload, &item->member_offset) || !TakeString(&payload, &item->path) ||
      !TakeString(&payload, &item->label)) {
    return false;
  }
  item->source_in_fs = (flags & kSourceInFs) != 0;
  if ((flags & kSourceIsPath) != 0) {
    item->source = item->path;
  } else if (!TakeString(&payload, &item->source)) {
    return false;
  }
  return TakeString(&payload, &item->listing_error) && payload.empty();
}

std::string ErrnoMessage(int error) { return std::generic_category().message(error); }

// A sorted run on the local disk, read back one record at a time.
class RunReader {
 public:
  explicit RunReader(const std::string& path) : file_(std::fopen(path.c_str(), "rb")), path_(path) {
    if (file_ != nullptr) std::setvbuf(file_, nullptr, _IOFBF, kStreamBuffer);
  }
  ~RunReader() {
    if (file_ != nullptr) std::fclose(file_);
  }
  RunReader(const RunReader&) = delete;
  RunReader& operator=(const RunReader&) = delete;

  // The next item into `item`; false at the end of the run.
  Result<bool> Next(ImageItem* item) {
    if (file_ == nullptr) {
      return Status::IOError("cannot open the listing's run '", path_, "': ", ErrnoMessage(errno));
    }
    uint32_t length = 0;
    const size_t got = std::fread(&length, 1, sizeof(length), file_);
    if (got == 0 && std::feof(file_)) return false;
    std::string payload(got == sizeof(length) ? length : 0, '\0');
    if (got != sizeof(length) || length > kMaxRecordBytes ||
        std::fread(payload.data(), 1, length, file_) != length || !DecodePayload(payload, item)) {
      return Status::IOError("the listing's run '", path_,
                             "' is damaged (was the temporary folder cleaned meanwhile?)");
    }
    return true;
  }

 private:
  std::FILE* file_;
  std::string path_;
};

// Appends to a local file through a buffer, hashing what it writes.
class FileWriter {
 public:
  explicit FileWriter(const std::string& path)
      : file_(std::fopen(path.c_str(), "wb")), path_(path) {
    if (file_ != nullptr) std::setvbuf(file_, nullptr, _IOFBF, kStreamBuffer);
  }
  ~FileWriter() {
    if (file_ != nullptr) std::fclose(file_);
  }
  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  Status Write(std::string_view bytes, Sha256Stream* hash = nullptr) {
    if (file_ == nullptr || std::fwrite(bytes.data(), 1, bytes.size(), file_) != bytes.size()) {
      return Failed();
    }
    if (hash != nullptr) hash->Update(bytes);
    written_ += static_cast<int64_t>(bytes.size());
    return Status::OK();
  }
  Status Close() {
    const bool ok = file_ != nullptr && std::fclose(file_) == 0;
    file_ = nullptr;
    return ok ? Status::OK() : Failed();
  }
  int64_t written() const { return written_; }

 private:
  Status Failed() const {
    return Status::IOError("cannot write the listing to '", path_, "': ", ErrnoMessage(errno),
                           " (is the temporary folder's disk full? set TMPDIR to a larger one)");
  }

  std::FILE* file_;
  std::string path_;
  int64_t written_ = 0;
};

int64_t ItemBytes(const ImageItem& item) {
  return static_cast<int64_t>(sizeof(ImageItem) + item.path.size() + item.label.size() +
                              item.source.size() + item.listing_error.size());
}

void SortByPath(std::vector<ImageItem>* items) {
  // Stable: of two items with one path, the first added stays first (and is kept).
  std::stable_sort(items->begin(), items->end(),
                   [](const ImageItem& a, const ImageItem& b) { return a.path < b.path; });
}

}  // namespace

std::string IdentityLine(const ImageItem& item) {
  return std::to_string(item.path.size()) + ':' + item.path + '\t' + std::to_string(item.size) +
         '\t' + std::to_string(item.mtime_ns) + '\n';
}

ListingFile::ListingFile(ListingFile&& other) noexcept { *this = std::move(other); }

ListingFile& ListingFile::operator=(ListingFile&& other) noexcept {
  if (this == &other) return *this;
  if (!temp_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(temp_dir_, ignored);
  }
  // std::exchange: a moved-from string is only "valid but unspecified"; the source must
  // own no folder, or its destructor would remove ours.
  temp_dir_ = std::exchange(other.temp_dir_, std::string());
  local_path_ = std::exchange(other.local_path_, std::string());
  num_items_ = std::exchange(other.num_items_, 0);
  rows_per_part_ = std::exchange(other.rows_per_part_, 1);
  part_offsets_ = std::exchange(other.part_offsets_, {});
  identity_digest_ = std::exchange(other.identity_digest_, std::string());
  return *this;
}

ListingFile::~ListingFile() {
  if (temp_dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(temp_dir_, ignored);
}

Status ListingFile::CopyTo(const io::Location& destination) const {
  const io::Location source{std::make_shared<arrow::fs::LocalFileSystem>(), local_path_,
                            local_path_, false};
  ORCHARD_ASSIGN_OR_RAISE(auto input, source.fs->OpenInputStream(local_path_));
  ORCHARD_ASSIGN_OR_RAISE(auto output, io::OpenAtomicOutput(destination));
  while (true) {
    ORCHARD_ASSIGN_OR_RAISE(auto chunk, input->Read(kReadChunk));
    if (chunk->size() == 0) break;
    ORCHARD_RETURN_NOT_OK(output.stream->Write(chunk));
  }
  ORCHARD_RETURN_NOT_OK(output.stream->Close());
  return io::FinishAtomicWrite(destination, output);
}

ListingWriter::ListingWriter(int64_t rows_per_part, int64_t memory_bytes)
    : rows_per_part_(std::max<int64_t>(1, rows_per_part)),
      memory_bytes_(std::max<int64_t>(1, memory_bytes)) {}

ListingWriter::~ListingWriter() {
  if (temp_dir_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(temp_dir_, ignored);
}

Status ListingWriter::EnsureTempDir() {
  if (!temp_dir_.empty()) return Status::OK();
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = (tmp != nullptr && *tmp != '\0' ? std::string(tmp) : "/tmp");
  pattern += "/orchard-listing-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::IOError("cannot make a temporary folder for the listing (", pattern,
                           "): ", ErrnoMessage(errno), "; set TMPDIR to a writable folder");
  }
  temp_dir_ = pattern;
  return Status::OK();
}

Status ListingWriter::Add(ImageItem item) {
  ++added_;
  buffered_bytes_ += ItemBytes(item);
  buffer_.push_back(std::move(item));
  if (buffered_bytes_ >= memory_bytes_) return SpillRun();
  return Status::OK();
}

Status ListingWriter::SpillRun() {
  ORCHARD_RETURN_NOT_OK(EnsureTempDir());
  SortByPath(&buffer_);
  const std::string path = temp_dir_ + "/run-" + std::to_string(runs_.size());
  FileWriter run(path);
  for (const auto& item : buffer_) ORCHARD_RETURN_NOT_OK(run.Write(EncodeRecord(item)));
  ORCHARD_RETURN_NOT_OK(run.Close());
  runs_.push_back(path);
  buffer_.clear();
  buffer_.shrink_to_fit();
  buffered_bytes_ = 0;
  return Status::OK();
}

Result<ListingFile> ListingWriter::Finish() {
  ORCHARD_RETURN_NOT_OK(EnsureTempDir());
  SortByPath(&buffer_);

  // A k-way merge of the runs and the items still in memory (the newest run). Ties go to
  // the earlier run, which holds the earlier added item: the first added of a path is kept.
  struct Head {
    ImageItem item;
    size_t source = 0;
  };
  std::vector<std::unique_ptr<RunReader>> readers;
  for (const auto& run : runs_) readers.push_back(std::make_unique<RunReader>(run));
  size_t memory_next = 0;
  const size_t memory_source = readers.size();
  auto next_of = [&](size_t source, Head* head) -> Result<bool> {
    head->source = source;
    if (source == memory_source) {
      if (memory_next == buffer_.size()) return false;
      head->item = std::move(buffer_[memory_next++]);
      return true;
    }
    return readers[source]->Next(&head->item);
  };
  auto later = [](const Head& a, const Head& b) {
    return a.item.path != b.item.path ? a.item.path > b.item.path : a.source > b.source;
  };
  std::priority_queue<Head, std::vector<Head>, decltype(later)> heads(later);
  for (size_t source = 0; source <= memory_source; ++source) {
    Head head;
    ORCHARD_ASSIGN_OR_RAISE(const bool has, next_of(source, &head));
    if (has) heads.push(std::move(head));
  }

  ListingFile listing;
  listing.rows_per_part_ = rows_per_part_;
  listing.local_path_ = temp_dir_ + "/" + kListingFileName;
  FileWriter out(listing.local_path_);
  Sha256Stream file_hash;
  Sha256Stream identity_hash;
  std::string header(kHeader);
  util::PutLittle<uint64_t>(&header, static_cast<uint64_t>(rows_per_part_));
  ORCHARD_RETURN_NOT_OK(out.Write(header, &file_hash));
  std::string last_path;
  while (!heads.empty()) {
    Head head = heads.top();
    heads.pop();
    const size_t source = head.source;
    if (listing.num_items_ == 0 || head.item.path != last_path) {
      if (listing.num_items_ % rows_per_part_ == 0) listing.part_offsets_.push_back(out.written());
      ORCHARD_RETURN_NOT_OK(out.Write(EncodeRecord(head.item), &file_hash));
      identity_hash.Update(IdentityLine(head.item));
      last_path = head.item.path;
      ++listing.num_items_;
    }
    Head next;
    ORCHARD_ASSIGN_OR_RAISE(const bool has, next_of(source, &next));
    if (has) heads.push(std::move(next));
  }
  listing.part_offsets_.push_back(out.written());
  std::string trailer(kTrailer);
  util::PutLittle<uint64_t>(&trailer, static_cast<uint64_t>(listing.num_items_));
  trailer += file_hash.HexDigest();
  ORCHARD_RETURN_NOT_OK(out.Write(trailer));
  ORCHARD_RETURN_NOT_OK(out.Close());
  listing.identity_digest_ = identity_hash.HexDigest();

  // The runs are merged; the folder now belongs to the listing (removed with it).
  for (const auto& run : runs_) std::remove(run.c_str());
  runs_.clear();
  buffer_.clear();
  listing.temp_dir_ = std::exchange(temp_dir_, std::string());
  return listing;
}

Result<ListingReader> ListingReader::Open(const io::Location& file, int64_t begin, int64_t end) {
  if (begin < kHeaderBytes || end < begin) {
    return Status::Invalid("bytes [", begin, ", ", end, ") are no range of records of listing '",
                           file.display, "'");
  }
  ListingReader reader;
  reader.file_ = file;
  auto input = file.fs->OpenInputFile(file.path);
  if (!input.ok()) {
    return Status::IOError("cannot open the job's listing '", file.display,
                           "': ", input.status().message());
  }
  reader.input_ = *input;
  reader.position_ = begin;
  reader.end_ = end;
  return reader;
}

Result<std::vector<ImageItem>> ListingReader::Next(int64_t max_items) {
  std::vector<ImageItem> items;
  auto damaged = [&] {
    return Status::IOError("the job's listing '", file_.display, "' is damaged near byte ",
                           position_ - static_cast<int64_t>(buffer_.size() - consumed_),
                           ": rerun the job (with --overwrite)");
  };
  while (static_cast<int64_t>(items.size()) < max_items) {
    std::string_view rest(buffer_.data() + consumed_, buffer_.size() - consumed_);
    uint32_t length = 0;
    const bool whole = rest.size() >= sizeof(length) &&
                       (std::memcpy(&length, rest.data(), sizeof(length)), true) &&
                       rest.size() - sizeof(length) >= length;
    if (!whole) {
      if (position_ >= end_) {
        if (!rest.empty()) return damaged();
        break;
      }
      // Keep the unparsed tail, then read the next chunk of the range behind it.
      buffer_.erase(0, consumed_);
      consumed_ = 0;
      const int64_t want = std::min(kReadChunk, end_ - position_);
      auto chunk = input_->ReadAt(position_, want);
      if (!chunk.ok()) {
        return Status::IOError("cannot read the job's listing '", file_.display,
                               "': ", chunk.status().message());
      }
      if ((*chunk)->size() != want) return damaged();
      buffer_.append(reinterpret_cast<const char*>((*chunk)->data()),
                     static_cast<size_t>((*chunk)->size()));
      position_ += want;
      continue;
    }
    if (length > kMaxRecordBytes) return damaged();
    ImageItem item;
    if (!DecodePayload(rest.substr(sizeof(length), length), &item)) return damaged();
    consumed_ += sizeof(length) + length;
    items.push_back(std::move(item));
  }
  return items;
}

Result<ListingInfo> ReadListingInfo(const io::Location& file) {
  auto damaged = [&](const std::string& why) {
    return Status::Invalid("'", file.display, "' is not a listing orchard wrote (", why,
                           "): rerun the job with --overwrite");
  };
  auto input = file.fs->OpenInputFile(file.path);
  if (!input.ok()) {
    return Status::IOError("cannot open the listing '", file.display,
                           "': ", input.status().message());
  }
  ORCHARD_ASSIGN_OR_RAISE(const int64_t size, (*input)->GetSize());
  if (size < kHeaderBytes + kTrailerBytes) return damaged("too short");
  // Every byte before the trailer is hashed, 4 MiB at a time, and checked against it.
  Sha256Stream hash;
  std::string header;
  const int64_t records_end = size - kTrailerBytes;
  for (int64_t position = 0; position < records_end;) {
    const int64_t want = std::min(kReadChunk, records_end - position);
    ORCHARD_ASSIGN_OR_RAISE(auto chunk, (*input)->ReadAt(position, want));
    if (chunk->size() != want) return damaged("shorter than it says");
    const std::string_view bytes(reinterpret_cast<const char*>(chunk->data()),
                                 static_cast<size_t>(chunk->size()));
    if (position == 0) header = std::string(bytes.substr(0, kHeaderBytes));
    hash.Update(bytes);
    position += want;
  }
  ORCHARD_ASSIGN_OR_RAISE(auto trailer_bytes, (*input)->ReadAt(records_end, kTrailerBytes));
  std::string_view trailer(reinterpret_cast<const char*>(trailer_bytes->data()),
                           static_cast<size_t>(trailer_bytes->size()));
  if (header.substr(0, kHeader.size()) != kHeader ||
      trailer.substr(0, kTrailer.size()) != kTrailer) {
    return damaged("no header or trailer");
  }
  ListingInfo info;
  std::string_view rest = std::string_view(header).substr(kHeader.size());
  uint64_t rows_per_part = 0;
  uint64_t count = 0;
  trailer.remove_prefix(kTrailer.size());
  if (!util::TakeLittle(&rest, &rows_per_part) || !util::TakeLittle(&trailer, &count) ||
      rows_per_part == 0 || rows_per_part > (1ULL << 40) || count > static_cast<uint64_t>(size)) {
    return damaged("impossible counts");
  }
  if (trailer != hash.HexDigest()) return damaged("its checksum does not match");
  info.file = file;
  info.rows_per_part = static_cast<int64_t>(rows_per_part);
  info.num_items = static_cast<int64_t>(count);
  info.records_begin = kHeaderBytes;
  info.records_end = records_end;
  return info;
}

}  // namespace orchard::pipeline
