// The object-store side of io/storage.h: S3 locations (endpoint, region, credentials chain,
// retries with jittered backoff, the connection pool), the listing of a prefix, and what an
// access refusal means in IAM terms.
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/thread_pool.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <utility>

#include "orchard/io/local_files_internal.h"
#include "orchard/io/s3_internal.h"
#include "orchard/io/storage.h"
#include "orchard/util/text.h"

namespace orchard::io {
namespace {

constexpr std::string_view kS3Scheme = "s3://";  // how every S3 location is displayed

std::string GetEnv(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
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

}  // namespace

namespace internal {

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

}  // namespace internal

namespace {

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

}  // namespace

namespace internal {

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

}  // namespace internal

std::shared_ptr<arrow::fs::S3RetryStrategy> MakeS3RetryStrategy(int max_attempts) {
  return std::make_shared<BackoffRetryStrategy>(max_attempts);
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
