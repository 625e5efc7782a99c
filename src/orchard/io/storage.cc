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
#include "orchard/util/text.h"

namespace orchard::io {
namespace {

constexpr std::string_view kS3Scheme = "s3://";
constexpr std::string_view kS3aScheme = "s3a://";  // what Hadoop/Spark users paste
constexpr std::string_view kFileScheme = "file://";
// Temporary names are "<target>.inprogress-<pid>-<n>"; writer and sweeper share the marker.
constexpr std::string_view kInProgressMarker = ".inprogress-";

std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::mutex& S3InitMutex() {
  static std::mutex mutex;
  return mutex;
}

// Splits "http://host:port/" into scheme and "host:port" as Arrow expects them.
Status ParseEndpoint(const std::string& endpoint_url, std::string* scheme, std::string* host) {
  std::string rest = endpoint_url;
  *scheme = "https";
  if (auto pos = rest.find("://"); pos != std::string::npos) {
    *scheme = rest.substr(0, pos);
    rest = rest.substr(pos + 3);
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || (*scheme != "http" && *scheme != "https")) {
    return Status::Invalid("bad S3 endpoint '", endpoint_url,
                           "': expected http(s)://host[:port], e.g. http://127.0.0.1:9000");
  }
  *host = rest;
  return Status::OK();
}

// A seed that differs between threads, processes and nodes, which is all jitter needs.
// Not std::random_device: the libstdc++ linked into the portable wheel implements it with
// arc4random, a glibc 2.36 symbol, and the wheel must load on glibc 2.34 (EMR 7 nodes).
uint64_t JitterSeed() {
  const uint64_t now =
      static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  const uint64_t thread = std::hash<std::thread::id>{}(std::this_thread::get_id());
  return now ^ (thread * 0x9E3779B97F4A7C15ULL) ^ (static_cast<uint64_t>(getpid()) << 32);
}

// See MakeS3RetryStrategy.
class BackoffRetryStrategy final : public arrow::fs::S3RetryStrategy {
 public:
  explicit BackoffRetryStrategy(int max_attempts) : max_attempts_(std::max(1, max_attempts)) {}

  bool ShouldRetry(const AWSErrorDetail& error, int64_t attempted_retries) override {
    return error.should_retry && attempted_retries + 1 < max_attempts_;
  }

  int64_t CalculateDelayBeforeNextRetry(const AWSErrorDetail& /*error*/,
                                        int64_t attempted_retries) override {
    const int64_t doublings = std::clamp<int64_t>(attempted_retries, 0, 30);
    const int64_t ceiling = std::min(kS3RetryCapMs, kS3RetryBaseMs << doublings);
    // One generator per thread: the SDK calls this from every thread that makes requests.
    thread_local std::mt19937_64 random(JitterSeed());
    return std::uniform_int_distribution<int64_t>(ceiling / 2, ceiling)(random);
  }

 private:
  const int64_t max_attempts_;
};

// The executor whose capacity Arrow reads to size an S3 client's connection pool
// (kS3MaxConnections). Arrow starts its threads only for asynchronous work, which orchard
// does not ask for; it lives as long as the process, as the filesystems that refer to it
// may.
Result<arrow::io::IOContext> S3IoContext() {
  static const Result<std::shared_ptr<arrow::internal::ThreadPool>> pool =
      arrow::internal::ThreadPool::MakeEternal(kS3MaxConnections);
  ORCHARD_RETURN_NOT_OK(pool.status());
  return arrow::io::IOContext(pool->get());
}

Result<Location> ResolveS3(const std::string& uri, std::string_view scheme,
                           const StorageOptions& options) {
  std::string path = uri.substr(scheme.size());
  while (!path.empty() && path.back() == '/') path.pop_back();
  const std::string bucket = path.substr(0, path.find('/'));
  if (bucket.empty()) {
    return Status::Invalid("S3 URI '", uri, "' has no bucket: use s3://bucket/prefix");
  }
  {
    std::lock_guard lock(S3InitMutex());
    ORCHARD_RETURN_NOT_OK(arrow::fs::EnsureS3Initialized());
  }
  arrow::fs::S3Options s3 = arrow::fs::S3Options::Defaults();  // standard credential chain
  std::string endpoint = options.endpoint_url;
  if (endpoint.empty()) endpoint = GetEnv("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = GetEnv("AWS_ENDPOINT_URL");
  if (!endpoint.empty()) {
    ORCHARD_RETURN_NOT_OK(ParseEndpoint(endpoint, &s3.scheme, &s3.endpoint_override));
  }
  s3.region = options.region;
  if (s3.region.empty()) s3.region = GetEnv("AWS_REGION");
  if (s3.region.empty()) s3.region = GetEnv("AWS_DEFAULT_REGION");
  if (s3.region.empty()) {
    if (!endpoint.empty()) {
      s3.region = "us-east-1";
    } else {
      auto region = arrow::fs::ResolveS3BucketRegion(bucket);
      if (!region.ok()) {
        return Status::IOError("cannot find the region of bucket '", bucket,
                               "': ", region.status().message(),
                               ". Check the bucket name, or set --region / AWS_REGION");
      }
      s3.region = *region;
    }
  }
  s3.force_virtual_addressing = options.virtual_addressing;
  s3.connect_timeout = options.connect_timeout_s;
  s3.request_timeout = options.request_timeout_s;
  int max_attempts = options.max_attempts;
  if (max_attempts <= 0) {
    const std::string from_env = GetEnv("AWS_MAX_ATTEMPTS");
    char* end = nullptr;
    const long parsed = from_env.empty() ? 0 : std::strtol(from_env.c_str(), &end, 10);
    if (!from_env.empty() && (*end != '\0' || parsed < 1 || parsed > 100)) {
      return Status::Invalid("AWS_MAX_ATTEMPTS is '", from_env,
                             "': expected a whole number of attempts from 1 to 100");
    }
    max_attempts = parsed > 0 ? static_cast<int>(parsed) : kDefaultS3MaxAttempts;
  }
  s3.retry_strategy = MakeS3RetryStrategy(max_attempts);
  ORCHARD_ASSIGN_OR_RAISE(const arrow::io::IOContext io_context, S3IoContext());
  ORCHARD_ASSIGN_OR_RAISE(auto fs, arrow::fs::S3FileSystem::Make(s3, io_context));
  Location location;
  location.fs = std::move(fs);
  location.path = path;
  location.display = util::ValidUtf8(std::string(kS3Scheme) + path);
  location.is_object_store = true;
  return location;
}

Status MakeParentDirs(const Location& location) {
  // Object stores have no folders; creating marker objects would only add noise.
  if (location.is_object_store) return Status::OK();
  const auto slash = location.path.rfind('/');
  if (slash == std::string::npos || slash == 0) return Status::OK();
  return location.fs->CreateDir(location.path.substr(0, slash), /*recursive=*/true);
}

// True when a component of `relative` ('/'-separated) is a skipped name.
bool HasSkippedComponent(std::string_view relative) {
  while (!relative.empty()) {
    const size_t slash = relative.find('/');
    if (internal::IsSkippedName(relative.substr(0, slash))) return true;
    if (slash == std::string_view::npos) break;
    relative.remove_prefix(slash + 1);
  }
  return false;
}

Result<std::vector<ListedFile>> ListObjectStoreFiles(const Location& root) {
  // The listing first, and nothing else when it finds objects: GetFileInfo(root) would be a
  // HeadObject on the key "prefix", which a role allowed to read only "prefix/*" is refused
  // (403), although it may list the prefix. Arrow's selector listing issues ListObjectsV2
  // only; allow_not_found makes an empty prefix an empty result instead of an error.
  arrow::fs::FileSelector selector;
  selector.base_dir = root.path;
  selector.recursive = true;
  selector.allow_not_found = true;
  ORCHARD_ASSIGN_OR_RAISE(auto infos, root.fs->GetFileInfo(selector));
  std::vector<ListedFile> files;
  files.reserve(infos.size());
  const size_t prefix_len = root.path.size() + 1;
  for (const auto& info : infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    if (info.path().size() <= prefix_len) continue;
    std::string relative = info.path().substr(prefix_len);
    if (HasSkippedComponent(relative)) continue;
    files.push_back(
        {std::move(relative), info.size(),
         std::chrono::duration_cast<std::chrono::nanoseconds>(info.mtime().time_since_epoch())
             .count()});
  }
  if (infos.empty()) {
    // Nothing below the prefix: either nothing is there, or the prefix is one object. Only
    // now is the key itself looked at; a HEAD refused (403) says nothing more than the
    // listing did.
    auto root_info = root.fs->GetFileInfo(root.path);
    if (root_info.ok() && root_info->type() == arrow::fs::FileType::File) {
      return Status::Invalid("input '", root.display,
                             "' is a file: give the folder that holds one sub-folder per label");
    }
    return Status::IOError("input '", root.display,
                           "' does not exist: no object is listed under it");
  }
  std::sort(files.begin(), files.end(), [](const ListedFile& lhs, const ListedFile& rhs) {
    return lhs.relative_path < rhs.relative_path;
  });
  return files;
}

}  // namespace

std::shared_ptr<arrow::fs::S3RetryStrategy> MakeS3RetryStrategy(int max_attempts) {
  return std::make_shared<BackoffRetryStrategy>(max_attempts);
}

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
  if (StartsWith(uri_or_path, kS3Scheme)) return ResolveS3(uri_or_path, kS3Scheme, options);
  if (StartsWith(uri_or_path, kS3aScheme)) return ResolveS3(uri_or_path, kS3aScheme, options);
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
  if (root.is_object_store) return ListObjectStoreFiles(root);
  return internal::ListLocalFiles(root.path, root.display);
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

namespace {

// The IAM action each S3 API call that orchard (through Arrow) makes is authorized by
// (the Service Authorization Reference's "Actions defined by Amazon S3").
std::string_view ActionOfOperation(std::string_view operation) {
  static constexpr std::pair<std::string_view, std::string_view> kActions[] = {
      {"PutObject", "s3:PutObject"},
      {"CreateMultipartUpload", "s3:PutObject"},
      {"UploadPart", "s3:PutObject"},
      {"CompleteMultipartUpload", "s3:PutObject"},
      {"AbortMultipartUpload", "s3:AbortMultipartUpload"},
      {"GetObject", "s3:GetObject"},
      {"HeadObject", "s3:GetObject"},
      {"DeleteObject", "s3:DeleteObject"},
      {"DeleteObjects", "s3:DeleteObject"},
      {"CopyObject", "s3:GetObject on the source and s3:PutObject on the target"},
      {"ListObjectsV2", "s3:ListBucket"},
      {"ListObjects", "s3:ListBucket"},
      {"HeadBucket", "s3:ListBucket"},
      {"ListMultipartUploads", "s3:ListBucketMultipartUploads"},
      {"GetBucketLocation", "s3:GetBucketLocation"},
      {"CreateBucket", "s3:CreateBucket"},
  };
  for (const auto& [name, action] : kActions) {
    if (name == operation) return action;
  }
  return {};
}

// The text between `opening` and the next quote after it, or empty.
std::string_view QuotedAfter(std::string_view message, std::string_view opening) {
  const size_t start = message.find(opening);
  if (start == std::string_view::npos) return {};
  const size_t begin = start + opening.size();
  const size_t end = message.find('\'', begin);
  if (end == std::string_view::npos) return {};
  return message.substr(begin, end - begin);
}

}  // namespace

std::string ExplainAccessDenied(std::string_view message) {
  constexpr std::string_view kDenied = "ACCESS_DENIED during ";
  // The last refusal is the one that decided (CheckBucket quotes the HeadBucket refused
  // before the listing that was refused too).
  const size_t denied = message.rfind(kDenied);
  if (denied == std::string_view::npos) return std::string(message);
  const size_t begin = denied + kDenied.size();
  const size_t end = message.find(' ', begin);
  if (end == std::string_view::npos) return std::string(message);
  const std::string_view operation = message.substr(begin, end - begin);
  const std::string_view action = ActionOfOperation(operation);
  if (action.empty()) return std::string(message);
  // Arrow's sentence for the call: "When <doing> key 'K' in bucket 'B': AWS Error ..." (a
  // listing: the prefix as the key; a bucket-level call: "bucket 'B'" only).
  const size_t sentence = message.rfind("When ", denied);
  const size_t call_start = sentence == std::string_view::npos ? 0 : sentence;
  const std::string_view call = message.substr(call_start, denied - call_start);
  const std::string_view bucket = QuotedAfter(call, "bucket '");
  const std::string_view key = QuotedAfter(call, "key '");
  std::string resource = "arn:aws:s3:::" + std::string(bucket.empty() ? "BUCKET" : bucket);
  const bool bucket_level = action == "s3:ListBucket" ||
                            action == "s3:ListBucketMultipartUploads" ||
                            action == "s3:GetBucketLocation" || action == "s3:CreateBucket";
  if (bucket_level && !key.empty()) {
    resource += " (prefix '" + std::string(key) + "')";
  } else if (!key.empty()) {
    resource += "/" + std::string(key);
  }
  std::string explained(message);
  if (explained.back() != '.') explained += '.';
  return explained + " The " + std::string(operation) + " call needs " + std::string(action) +
         " on " + resource +
         ", which the credentials' policy does not allow: add it to the role's or user's IAM "
         "policy (docs/s3.md, \"Permissions\")";
}

void FinalizeStorage() {
  std::lock_guard lock(S3InitMutex());
  if (arrow::fs::IsS3Initialized() && !arrow::fs::IsS3Finalized()) {
    (void)arrow::fs::FinalizeS3();
  }
}

}  // namespace orchard::io
