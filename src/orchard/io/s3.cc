// The object-store side of io/storage.h: S3 locations (endpoint, region, credentials chain,
// retries with jittered backoff, the connection pool), the listing of a prefix, and what an
// access refusal means in IAM terms.
#include <arrow/filesystem/s3fs.h>
#include <arrow/io/interfaces.h>
#include <arrow/util/thread_pool.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

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

// Runs task(i) for every i below `count`, on up to `concurrency` threads (this one among
// them). Once a task fails, tasks not yet started are not started; the failure of the
// lowest index wins, so that the error does not depend on which thread was faster.
Status RunConcurrently(size_t count, int concurrency, const std::function<Status(size_t)>& task) {
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex mutex;
  size_t failed_index = count;
  Status failure;
  const auto work = [&] {
    while (!failed.load()) {
      const size_t index = next.fetch_add(1);
      if (index >= count) return;
      Status status = task(index);
      if (!status.ok()) {
        std::lock_guard lock(mutex);
        if (index < failed_index) {
          failed_index = index;
          failure = std::move(status);
        }
        failed.store(true);
      }
    }
  };
  const size_t threads = std::min<size_t>(count, static_cast<size_t>(std::max(1, concurrency)));
  std::vector<std::thread> helpers;
  helpers.reserve(threads > 0 ? threads - 1 : 0);
  for (size_t idx = 1; idx < threads; ++idx) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // no more threads to be had: the ones running (and this one) do the rest
    }
  }
  work();
  for (auto& helper : helpers) helper.join();
  return failed_index < count ? failure : Status::OK();
}

// The listing's entries below `root_path` (prefix_len = its length + 1) as listed files.
void AddFiles(const std::vector<arrow::fs::FileInfo>& infos, size_t prefix_len,
              std::vector<ListedFile>* files) {
  for (const auto& info : infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    if (info.path().size() <= prefix_len) continue;
    std::string relative = info.path().substr(prefix_len);
    if (HasSkippedComponent(relative)) continue;
    files->push_back(
        {std::move(relative), info.size(),
         std::chrono::duration_cast<std::chrono::nanoseconds>(info.mtime().time_since_epoch())
             .count()});
  }
}

// One delimiter listing split into what it says about its prefix.
struct Level {
  std::vector<arrow::fs::FileInfo> infos;  // the objects directly below (and the folders)
  std::vector<std::string> sub_prefixes;   // the folders to list, skipped names left out
  bool splittable = true;  // false: a folder that is not one plain name below the prefix
};

// A prefix's delimiter listing is used only when each entry it reports is one non-empty
// name below it ("p/name"). A key with an empty component ("p//x") makes a folder that a
// later listing could not tell from its parent; a server that ignores the delimiter (some
// S3-compatible ones) returns deeper keys, and the folders Arrow derives from them would be
// listed again. Such a level is listed recursively in one piece, as the one walk would.
Level SplitLevel(const std::string& prefix, std::vector<arrow::fs::FileInfo> infos,
                 size_t root_prefix_len) {
  Level level;
  for (const auto& info : infos) {
    const std::string& path = info.path();
    const bool plain_child =
        path.size() > prefix.size() + 1 && path.compare(0, prefix.size(), prefix) == 0 &&
        path[prefix.size()] == '/' && path.find('/', prefix.size() + 1) == std::string::npos;
    if (!plain_child) {
      level.splittable = false;
      level.sub_prefixes.clear();
      break;
    }
    if (info.type() == arrow::fs::FileType::Directory &&
        !HasSkippedComponent(std::string_view(path).substr(root_prefix_len))) {
      level.sub_prefixes.push_back(path);
    }
  }
  level.infos = std::move(infos);
  return level;
}

}  // namespace

namespace internal {

Result<int> S3ListConcurrency() {
  const std::string from_env = GetEnv("ORCHARD_S3_LIST_CONCURRENCY");
  if (from_env.empty()) return kDefaultS3ListConcurrency;
  char* end = nullptr;
  const long parsed = std::strtol(from_env.c_str(), &end, 10);
  if (*end != '\0' || parsed < 1 || parsed > kMaxS3ListConcurrency) {
    return Status::Invalid("ORCHARD_S3_LIST_CONCURRENCY is '", util::ValidUtf8(from_env),
                           "': expected the number of S3 prefix listings in flight at once, "
                           "from 1 (one sequential walk) to ",
                           kMaxS3ListConcurrency);
  }
  return static_cast<int>(parsed);
}

Result<ObjectTreeListing> ListObjectTree(const std::string& root_path, const ObjectLister& list,
                                         int concurrency) {
  ObjectTreeListing result;
  const size_t prefix_len = root_path.size() + 1;
  const auto sort_files = [&result] {
    std::sort(result.files.begin(), result.files.end(),
              [](const ListedFile& lhs, const ListedFile& rhs) {
                return lhs.relative_path < rhs.relative_path;
              });
  };
  // Everything in one recursive walk: what concurrency 1 asks for, and what a root whose
  // delimiter listing cannot be split gets.
  const auto one_walk = [&]() -> Result<ObjectTreeListing> {
    result.files.clear();
    ORCHARD_ASSIGN_OR_RAISE(auto infos, list(root_path, /*recursive=*/true));
    result.nothing_below = infos.empty();
    AddFiles(infos, prefix_len, &result.files);
    sort_files();
    return std::move(result);
  };
  if (concurrency <= 1) return one_walk();

  ORCHARD_ASSIGN_OR_RAISE(auto root_infos, list(root_path, /*recursive=*/false));
  if (root_infos.empty()) {
    result.nothing_below = true;
    return result;
  }
  Level root = SplitLevel(root_path, std::move(root_infos), prefix_len);
  if (!root.splittable) return one_walk();
  AddFiles(root.infos, prefix_len, &result.files);

  // Descend while there are too few prefixes to keep `concurrency` listings busy: each
  // level costs one delimiter listing per prefix (one request when the level is small).
  std::vector<std::string> pending = std::move(root.sub_prefixes);
  std::vector<std::string> walk_whole;  // prefixes listed recursively in the end
  const size_t wanted = kListDescendBelowFactor * static_cast<size_t>(concurrency);
  const size_t budget = ListPrefixBudget(concurrency);
  std::sort(pending.begin(), pending.end());  // key order: which failure is reported
  if (pending.size() > budget) {
    // Many labels: one walk each pays only when they hold more than kListPageKeys /
    // concurrency keys on average (P/concurrency round trips against P*keys/1000 pages).
    // The first `concurrency` are walked to find out; when they are smaller, the root is
    // walked whole (costing one round trip and its delimiter pages more than the one walk).
    const size_t sampled = std::min(pending.size(), static_cast<size_t>(concurrency));
    std::vector<std::vector<ListedFile>> sample(sampled);
    std::atomic<size_t> sample_keys{0};
    ORCHARD_RETURN_NOT_OK(RunConcurrently(sampled, concurrency, [&](size_t idx) {
      ORCHARD_ASSIGN_OR_RAISE(auto infos, list(pending[idx], /*recursive=*/true));
      sample_keys += static_cast<size_t>(
          std::count_if(infos.begin(), infos.end(), [](const arrow::fs::FileInfo& info) {
            return info.type() == arrow::fs::FileType::File;
          }));
      AddFiles(infos, prefix_len, &sample[idx]);
      return Status::OK();
    }));
    if (sample_keys.load() * static_cast<size_t>(concurrency) < kListPageKeys * sampled) {
      return one_walk();
    }
    for (auto& files : sample) {
      for (auto& file : files) result.files.push_back(std::move(file));
    }
    walk_whole.assign(std::make_move_iterator(pending.begin() + static_cast<ptrdiff_t>(sampled)),
                      std::make_move_iterator(pending.end()));
    pending.clear();
  }
  for (int depth = 1; !pending.empty() && pending.size() < wanted && depth < kListMaxDepth;
       ++depth) {
    std::sort(pending.begin(), pending.end());  // key order: which failure is reported
    std::vector<Level> levels(pending.size());
    ORCHARD_RETURN_NOT_OK(RunConcurrently(pending.size(), concurrency, [&](size_t idx) {
      ORCHARD_ASSIGN_OR_RAISE(auto infos, list(pending[idx], /*recursive=*/false));
      levels[idx] = SplitLevel(pending[idx], std::move(infos), prefix_len);
      return Status::OK();
    }));
    // The prefixes with the fewest sub-prefixes are split first, within the budget; the
    // others (and those that cannot be split) are walked whole.
    std::vector<size_t> order(pending.size());
    for (size_t idx = 0; idx < order.size(); ++idx) order[idx] = idx;
    std::stable_sort(order.begin(), order.end(), [&levels](size_t lhs, size_t rhs) {
      return levels[lhs].sub_prefixes.size() < levels[rhs].sub_prefixes.size();
    });
    std::vector<std::string> next;
    for (const size_t idx : order) {
      Level& level = levels[idx];
      if (!level.splittable || next.size() + level.sub_prefixes.size() > budget) {
        walk_whole.push_back(std::move(pending[idx]));
        continue;
      }
      AddFiles(level.infos, prefix_len, &result.files);
      for (auto& sub_prefix : level.sub_prefixes) next.push_back(std::move(sub_prefix));
    }
    pending = std::move(next);
  }
  for (auto& prefix : pending) walk_whole.push_back(std::move(prefix));
  // Key order, so that the first failure in key order is the one reported.
  std::sort(walk_whole.begin(), walk_whole.end());

  std::vector<std::vector<ListedFile>> walked(walk_whole.size());
  ORCHARD_RETURN_NOT_OK(RunConcurrently(walk_whole.size(), concurrency, [&](size_t idx) {
    ORCHARD_ASSIGN_OR_RAISE(auto infos, list(walk_whole[idx], /*recursive=*/true));
    AddFiles(infos, prefix_len, &walked[idx]);
    return Status::OK();
  }));
  for (auto& files : walked) {
    for (auto& file : files) result.files.push_back(std::move(file));
  }
  sort_files();
  return result;
}

Result<std::vector<ListedFile>> ListObjectStoreFiles(const Location& root) {
  ORCHARD_ASSIGN_OR_RAISE(const int concurrency, S3ListConcurrency());
  // Listings only, and nothing else when they find objects: GetFileInfo(root) would be a
  // HeadObject on the key "prefix", which a role allowed to read only "prefix/*" is refused
  // (403), although it may list the prefix. Arrow's selector listing issues ListObjectsV2
  // only (a delimiter listing passes the same prefix, "prefix/" or "prefix/sub/", which a
  // policy's s3:prefix condition "prefix/*" allows); allow_not_found makes an empty prefix
  // an empty result instead of an error.
  const auto list = [&root](const std::string& path,
                            bool recursive) -> Result<std::vector<arrow::fs::FileInfo>> {
    arrow::fs::FileSelector selector;
    selector.base_dir = path;
    selector.recursive = recursive;
    selector.allow_not_found = true;
    return root.fs->GetFileInfo(selector);
  };
  ORCHARD_ASSIGN_OR_RAISE(auto listing, ListObjectTree(root.path, list, concurrency));
  if (listing.nothing_below) {
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
  return std::move(listing.files);
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
