#include "orchard/io/storage.h"

#include <arrow/buffer.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "../test_util.h"

namespace orchard::io {
namespace {

using orchard::testing::TempDir;

void Touch(const std::filesystem::path& path, const std::string& content = "x") {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

TEST(StorageTest, ResolvesLocalPathsToAbsoluteNormalizedPaths) {
  Location location;
  ASSERT_OK_AND_ASSIGN(location, ResolveLocation("some/dir/../folder/", StorageOptions{}));
  EXPECT_FALSE(location.is_object_store);
  EXPECT_EQ(location.path, (std::filesystem::current_path() / "some/folder").string());
  EXPECT_EQ(location.display, "some/dir/../folder");
  EXPECT_EQ(location.Child("a b/c.jpg").path, location.path + "/a b/c.jpg");
}

TEST(StorageTest, AcceptsFileScheme) {
  Location location;
  ASSERT_OK_AND_ASSIGN(location, ResolveLocation("file:///tmp/x", StorageOptions{}));
  EXPECT_EQ(location.path, "/tmp/x");
}

TEST(StorageTest, RejectsUnknownSchemesWithAHint) {
  auto result = ResolveLocation("gs://bucket/x", StorageOptions{});
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("s3://"), std::string::npos);
}

TEST(StorageTest, S3UriWithEndpointResolvesWithoutNetwork) {
  StorageOptions options;
  options.endpoint_url = "http://127.0.0.1:1";
  Location location;
  ASSERT_OK_AND_ASSIGN(location, ResolveLocation("s3://bucket/some prefix/", options));
  EXPECT_TRUE(location.is_object_store);
  EXPECT_EQ(location.path, "bucket/some prefix");
  EXPECT_EQ(location.display, "s3://bucket/some prefix");
  EXPECT_FALSE(ResolveLocation("s3:///nobucket", options).ok());
  options.endpoint_url = "ftp://host";
  EXPECT_FALSE(ResolveLocation("s3://bucket/x", options).ok());
  // AWS_MAX_ATTEMPTS (the SDKs' variable) sets the attempts; a value that is not a count
  // is refused with its name. (In this test: S3 cannot be set up again once finalized.)
  options.endpoint_url = "http://127.0.0.1:1";
  ::setenv("AWS_MAX_ATTEMPTS", "ten", 1);
  auto refused = ResolveLocation("s3://bucket/x", options);
  ::setenv("AWS_MAX_ATTEMPTS", "3", 1);
  auto accepted = ResolveLocation("s3://bucket/x", options);
  ::unsetenv("AWS_MAX_ATTEMPTS");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("AWS_MAX_ATTEMPTS is 'ten'"), std::string::npos)
      << refused.status().message();
  EXPECT_TRUE(accepted.ok()) << accepted.status().ToString();
  FinalizeStorage();
}

arrow::fs::S3RetryStrategy::AWSErrorDetail SlowDown() {
  return {/*error_type=*/0, "Please reduce your request rate.", "SlowDown",
          /*should_retry=*/true};
}

TEST(S3RetryTest, RetriesRetryableErrorsUntilTheAttemptsAreSpent) {
  auto strategy = MakeS3RetryStrategy(4);
  EXPECT_TRUE(strategy->ShouldRetry(SlowDown(), 0));
  EXPECT_TRUE(strategy->ShouldRetry(SlowDown(), 2));
  EXPECT_FALSE(strategy->ShouldRetry(SlowDown(), 3));  // the 4th attempt was the last
  auto denied = SlowDown();
  denied.exception_name = "AccessDenied";
  denied.should_retry = false;
  EXPECT_FALSE(strategy->ShouldRetry(denied, 0));
}

TEST(S3RetryTest, SustainedThrottlingNeverExhaustsAQuota) {
  // The SDK's standard strategy spends a quota shared by the whole client; here every
  // request keeps its own attempts however many others were throttled before it.
  auto strategy = MakeS3RetryStrategy(kDefaultS3MaxAttempts);
  for (int request = 0; request < 10000; ++request) {
    ASSERT_TRUE(strategy->ShouldRetry(SlowDown(), request % (kDefaultS3MaxAttempts - 1)))
        << "request " << request;
  }
}

TEST(S3RetryTest, BacksOffExponentiallyWithEqualJitterUpToTheCap) {
  auto strategy = MakeS3RetryStrategy(kDefaultS3MaxAttempts);
  for (int64_t retry = 0; retry < 40; ++retry) {
    const int64_t ceiling = std::min(kS3RetryCapMs, kS3RetryBaseMs << std::min<int64_t>(retry, 30));
    std::set<int64_t> delays;
    for (int draw = 0; draw < 200; ++draw) {
      const int64_t delay = strategy->CalculateDelayBeforeNextRetry(SlowDown(), retry);
      ASSERT_GE(delay, ceiling / 2) << "retry " << retry;
      ASSERT_LE(delay, ceiling) << "retry " << retry;
      delays.insert(delay);
    }
    // Jitter: 200 draws from [ceiling / 2, ceiling] (at least 26 values) are not all alike.
    EXPECT_GT(delays.size(), 10u) << "retry " << retry;
  }
}

TEST(StorageTest, ListsFilesRecursivelySortedAndSkipsHiddenEntries) {
  TempDir dir;
  Touch(dir.path() / "b/2.jpg");
  Touch(dir.path() / "a/1.jpg");
  Touch(dir.path() / "a/.DS_Store");
  Touch(dir.path() / "_temporary/x.jpg");
  Touch(dir.path() / "Äpfel Braeburn/r 1.jpg");
  Location root;
  ASSERT_OK_AND_ASSIGN(root, ResolveLocation(dir.str(), StorageOptions{}));
  std::vector<ListedFile> files;
  ASSERT_OK_AND_ASSIGN(files, ListFiles(root));
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].relative_path, "a/1.jpg");
  EXPECT_EQ(files[1].relative_path, "b/2.jpg");
  EXPECT_EQ(files[2].relative_path, "Äpfel Braeburn/r 1.jpg");
  EXPECT_EQ(files[0].size, 1);
}

TEST(StorageTest, ListingAMissingFolderSaysSo) {
  TempDir dir;
  Location root;
  ASSERT_OK_AND_ASSIGN(root, ResolveLocation(dir.str() + "/missing", StorageOptions{}));
  auto files = ListFiles(root);
  ASSERT_FALSE(files.ok());
  EXPECT_NE(files.status().message().find("does not exist"), std::string::npos);
}

TEST(StorageTest, WriteAllIsAtomicAndReadAllReadsBack) {
  TempDir dir;
  Location root;
  ASSERT_OK_AND_ASSIGN(root, ResolveLocation(dir.str(), StorageOptions{}));
  const Location file = root.Child("deep/er/file.bin");
  ASSERT_OK(WriteAll(file, std::string("hello\0world", 11)));
  // Only the file itself remains: no temporary name is left behind.
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir.str() + "/deep/er")) {
    names.push_back(entry.path().filename().string());
  }
  EXPECT_EQ(names, std::vector<std::string>{"file.bin"});
  std::shared_ptr<arrow::Buffer> buffer;
  ASSERT_OK_AND_ASSIGN(buffer, ReadAll(file));
  EXPECT_EQ(buffer->ToString(), std::string("hello\0world", 11));
  bool exists = false;
  ASSERT_OK_AND_ASSIGN(exists, FileExists(file));
  EXPECT_TRUE(exists);
}

TEST(StorageTest, MoveTreeMovesEveryFileAndDeleteTreeRemovesIt) {
  TempDir dir;
  Touch(dir.path() / "from/a/1.txt", "1");
  Touch(dir.path() / "from/2.txt", "2");
  Touch(dir.path() / "to/2.txt", "old");
  Location root;
  ASSERT_OK_AND_ASSIGN(root, ResolveLocation(dir.str(), StorageOptions{}));
  ASSERT_OK(MoveTree(root.Child("from"), root.Child("to")));
  std::shared_ptr<arrow::Buffer> buffer;
  ASSERT_OK_AND_ASSIGN(buffer, ReadAll(root.Child("to/2.txt")));
  EXPECT_EQ(buffer->ToString(), "2");
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "to/a/1.txt"));
  ASSERT_OK(DeleteTreeIfExists(root.Child("to")));
  ASSERT_OK(DeleteTreeIfExists(root.Child("to")));  // idempotent
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "to"));
}

// ---------------------------------------------------------------------------------------
// The listing's symlink policy (docs/decisions.md, "Listing that terminates").

namespace fs = std::filesystem;

std::vector<std::string> ListedPaths(const fs::path& root_path) {
  auto root = ResolveLocation(root_path.string(), StorageOptions{});
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  if (!root.ok()) return {};
  auto files = ListFiles(*root);
  EXPECT_TRUE(files.ok()) << files.status().ToString();
  if (!files.ok()) return {};
  std::vector<std::string> paths;
  for (const auto& file : *files) paths.push_back(file.relative_path);
  return paths;
}

using Paths = std::vector<std::string>;

TEST(ListingLinksTest, ALinkToItsOwnFolderAddsNothing) {
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg");
  fs::create_directory_symlink(".", dir.path() / "in/A/self");
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"A/a.jpg"}));
}

TEST(ListingLinksTest, TwoLinksToTheSameFolderTerminate) {
  // Arrow's recursive listing grew without end on this tree (every path through either link
  // is new: A/s1/s2/s1/...).
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg");
  fs::create_directory_symlink(".", dir.path() / "in/A/s1");
  fs::create_directory_symlink(".", dir.path() / "in/A/s2");
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"A/a.jpg"}));
}

TEST(ListingLinksTest, CrossLinkedSiblingsListEachImageOnceUnderItsOwnFolder) {
  // "A/toB" sorts before "B", yet B's image keeps its real path (and label): a path through
  // fewer links wins.
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg");
  Touch(dir.path() / "in/B/b.jpg");
  fs::create_directory_symlink("../B", dir.path() / "in/A/toB");
  fs::create_directory_symlink("../A", dir.path() / "in/B/toA");
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"A/a.jpg", "B/b.jpg"}));
}

TEST(ListingLinksTest, AFullyCrossLinkedTreeListsEachImageOnce) {
  // Each of 6 folders links to every folder: the paths through links are uncountable, the
  // distinct folders are 6.
  TempDir dir;
  Paths expected;
  const Paths names = {"d0", "d1", "d2", "d3", "d4", "d5"};
  for (const auto& name : names) {
    Touch(dir.path() / "in" / name / "img.jpg");
    expected.push_back(name + "/img.jpg");
  }
  for (const auto& folder : names) {
    for (const auto& target : names) {
      fs::create_directory_symlink(fs::path("..") / target, dir.path() / "in" / folder / target);
    }
  }
  EXPECT_EQ(ListedPaths(dir.path() / "in"), expected);
}

TEST(ListingLinksTest, LinksToTheRootOrItsAncestorsAreNotFollowed) {
  // A link to an ancestor would list the root inside itself and everything around it.
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg");
  Touch(dir.path() / "beside/notes.jpg");
  fs::create_directory_symlink("..", dir.path() / "in/A/root");
  fs::create_directory_symlink("../..", dir.path() / "in/A/parent");
  fs::create_directory_symlink("/", dir.path() / "in/A/slash");
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"A/a.jpg"}));
}

TEST(ListingLinksTest, FoldersOutsideTheRootAreFollowedOnce) {
  // The reason to follow links: a collection assembled from folders elsewhere. Two links to
  // one folder list it once, under the first link in path order.
  TempDir dir;
  Touch(dir.path() / "elsewhere/x.jpg");
  Touch(dir.path() / "elsewhere/sub/y.jpg");
  fs::create_directories(dir.path() / "in");
  fs::create_directory_symlink(dir.path() / "elsewhere", dir.path() / "in/first");
  fs::create_directory_symlink(dir.path() / "elsewhere", dir.path() / "in/second");
  fs::create_directory_symlink("..", dir.path() / "elsewhere/sub/back");  // a loop outside
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"first/sub/y.jpg", "first/x.jpg"}));
}

TEST(ListingLinksTest, AFileReachedByManyLinksIsListedOnce) {
  // By (device, inode): a link adds a file only if no entry lists it yet (its own entry
  // wins, then the first link in path order). Hard links are entries of their own: the
  // tests and benches build large inputs with them, as do tools that copy collections.
  TempDir dir;
  Touch(dir.path() / "in/B/b.jpg", "bytes");
  Touch(dir.path() / "elsewhere/e.jpg");
  for (const char* folder : {"A", "C", "D"}) fs::create_directories(dir.path() / "in" / folder);
  fs::create_symlink("b.jpg", dir.path() / "in/B/alias.jpg");
  fs::create_symlink("../B/b.jpg", dir.path() / "in/A/also-b.jpg");
  fs::create_hard_link(dir.path() / "in/B/b.jpg", dir.path() / "in/C/hard.jpg");
  fs::create_symlink(dir.path() / "elsewhere/e.jpg", dir.path() / "in/C/e.jpg");
  fs::create_symlink(dir.path() / "elsewhere/e.jpg", dir.path() / "in/D/e.jpg");
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"B/b.jpg", "C/e.jpg", "C/hard.jpg"}));
}

TEST(ListingLinksTest, HiddenNamesAreSkippedAtAnyDepthLinksIncluded) {
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg");
  Touch(dir.path() / "elsewhere/x.jpg");
  fs::create_directory_symlink(dir.path() / "elsewhere", dir.path() / "in/A/.hidden");
  fs::create_directory_symlink(dir.path() / "elsewhere", dir.path() / "in/A/_staging");
  Touch(dir.path() / "in/A/deep/_x/y.jpg");
  EXPECT_EQ(ListedPaths(dir.path() / "in"), (Paths{"A/a.jpg"}));
}

TEST(ListingLinksTest, EntriesThatAreNotImagesAreListedAndTheirReadSaysWhy) {
  // Listed (size 0), so that each is an error row; the read refuses them without opening
  // them: a FIFO with no writer would block an open forever, /dev/zero never ends.
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg", "abc");
  ASSERT_EQ(::mkfifo((dir.path() / "in/A/pipe.jpg").c_str(), 0644), 0);
  fs::create_symlink("/dev/zero", dir.path() / "in/A/zero.jpg");
  fs::create_symlink("missing.jpg", dir.path() / "in/A/dangling.jpg");
  fs::create_symlink("loop.jpg", dir.path() / "in/A/loop.jpg");
  const int sock = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(sock, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  const std::string socket_path = (dir.path() / "in/A/socket.jpg").string();
  ASSERT_LT(socket_path.size(), sizeof(address.sun_path));
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  ASSERT_EQ(::bind(sock, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);

  Location root;
  ASSERT_OK_AND_ASSIGN(root, ResolveLocation((dir.path() / "in").string(), StorageOptions{}));
  std::vector<ListedFile> files;
  ASSERT_OK_AND_ASSIGN(files, ListFiles(root));
  Paths paths;
  for (const auto& file : files) paths.push_back(file.relative_path);
  EXPECT_EQ(paths, (Paths{"A/a.jpg", "A/dangling.jpg", "A/loop.jpg", "A/pipe.jpg", "A/socket.jpg",
                          "A/zero.jpg"}));
  const std::vector<std::pair<std::string, std::string>> reasons = {
      {"A/dangling.jpg", "broken symbolic link"},
      {"A/loop.jpg", "symbolic link loop"},
      {"A/pipe.jpg", "FIFO"},
      {"A/socket.jpg", "socket"},
      {"A/zero.jpg", "character device"}};
  for (const auto& [path, reason] : reasons) {
    auto bytes = ReadBounded(root.Child(path), 1 << 20);
    ASSERT_FALSE(bytes.ok()) << path;
    EXPECT_NE(bytes.status().message().find(reason), std::string::npos)
        << path << ": " << bytes.status().ToString();
  }
  std::shared_ptr<arrow::Buffer> good;
  ASSERT_OK_AND_ASSIGN(good, ReadBounded(root.Child("A/a.jpg"), 3, 3));
  EXPECT_EQ(good->ToString(), "abc");
  ::close(sock);
}

// What an unprivileged user sees when a folder of the input cannot be read: the folder is
// an entry of the listing (its read says why), the rest is listed. Empty when it is so.
std::string CheckUnreadableFolder(const fs::path& root_path) {
  auto root = ResolveLocation(root_path.string(), StorageOptions{});
  if (!root.ok()) return root.status().ToString();
  auto files = ListFiles(*root);
  if (!files.ok()) return files.status().ToString();
  Paths paths;
  for (const auto& file : *files) paths.push_back(file.relative_path);
  if (paths != Paths{"A/a.jpg", "A/locked"}) return "unexpected listing";
  auto bytes = ReadBounded(root->Child("A/locked"), 1 << 20);
  if (bytes.ok()) return "the locked folder was read";
  return "";
}

TEST(ListingLinksTest, AnUnreadableFolderIsAnEntryNotAFailure) {
  TempDir dir;
  Touch(dir.path() / "in/A/a.jpg");
  Touch(dir.path() / "in/A/locked/secret.jpg");
  fs::permissions(dir.path() / "in/A/locked", fs::perms::none);
  if (::geteuid() != 0) {
    EXPECT_EQ(CheckUnreadableFolder(dir.path() / "in"), "");
  } else {
    // Root reads every folder: the check runs in a child that is an ordinary user.
    fs::permissions(dir.path(), fs::perms::owner_all | fs::perms::group_read |
                                    fs::perms::group_exec | fs::perms::others_read |
                                    fs::perms::others_exec);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      constexpr uid_t kNobody = 65534;
      if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(2);
      ::_exit(CheckUnreadableFolder(dir.path() / "in").empty() ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "1: wrong listing, 2: could not become nobody";
  }
  fs::permissions(dir.path() / "in/A/locked", fs::perms::owner_all);
}

TEST(ListingLinksTest, TheRootMustBeAFolder) {
  TempDir dir;
  Touch(dir.path() / "file.jpg");
  ASSERT_EQ(::mkfifo((dir.path() / "pipe").c_str(), 0644), 0);
  for (const char* name : {"file.jpg", "pipe"}) {
    Location root;
    ASSERT_OK_AND_ASSIGN(root, ResolveLocation((dir.path() / name).string(), StorageOptions{}));
    auto files = ListFiles(root);
    ASSERT_FALSE(files.ok()) << name;
    EXPECT_NE(files.status().message().find("folder"), std::string::npos) << name;
  }
}

// ---------------------------------------------------------------------------------------
// Bounded reads

TEST(ReadBoundedTest, AFileOverTheLimitIsRefusedFromItsSize) {
  TempDir dir;
  Touch(dir.path() / "big.bin", std::string(1000, 'x'));
  Location root;
  ASSERT_OK_AND_ASSIGN(root, ResolveLocation(dir.str(), StorageOptions{}));
  auto refused = ReadBounded(root.Child("big.bin"), 999);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("1000 bytes, over the limit of 999"), std::string::npos)
      << refused.status().ToString();
  EXPECT_NE(refused.status().message().find("--max-file-bytes"), std::string::npos);
  // The listing's size is enough to refuse it.
  EXPECT_FALSE(ReadBounded(root.Child("big.bin"), 999, 1000).ok());
  std::shared_ptr<arrow::Buffer> whole;
  ASSERT_OK_AND_ASSIGN(whole, ReadBounded(root.Child("big.bin"), 1000));
  EXPECT_EQ(whole->size(), 1000);
}

TEST(ReadBoundedTest, AFileLongerThanItsSizeSaysFails) {
  // Files of /proc say 0 bytes and have content: the byte after the size is the proof.
  Location proc;
  ASSERT_OK_AND_ASSIGN(proc, ResolveLocation("/proc/self/status", StorageOptions{}));
  auto bytes = ReadBounded(proc, 1 << 20);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("grew"), std::string::npos) << bytes.status().ToString();
}

// Arrow's wording of S3 refusals, as SeaweedFS and AWS answer them
// (tests/integration/test_s3_scoped.py sees them end to end).
TEST(ExplainAccessDeniedTest, AWriteRefusalNamesTheActionAndTheObject) {
  const std::string refused =
      "When initiating multiple part upload for key 'output/run1/_temporary/job.fingerprint' "
      "in bucket 'data': AWS Error ACCESS_DENIED during CreateMultipartUpload operation: "
      "Access Denied. (Request ID: 1)";
  const std::string explained = ExplainAccessDenied(refused);
  EXPECT_EQ(explained.rfind(refused, 0), 0u) << explained;  // the original text first
  EXPECT_NE(explained.find("s3:PutObject on "
                           "arn:aws:s3:::data/output/run1/_temporary/job.fingerprint"),
            std::string::npos)
      << explained;
}

TEST(ExplainAccessDeniedTest, ListingAndHeadBucketNeedListBucket) {
  const std::string listing = ExplainAccessDenied(
      "When listing objects under key 'secret/' in bucket 'data': AWS Error ACCESS_DENIED "
      "during ListObjectsV2 operation: Access Denied.");
  EXPECT_NE(listing.find("s3:ListBucket on arn:aws:s3:::data (prefix 'secret/')"),
            std::string::npos)
      << listing;
  const std::string head = ExplainAccessDenied(
      "When getting information for bucket 'data': AWS Error ACCESS_DENIED during HeadBucket "
      "operation: No response body.");
  EXPECT_NE(head.find("s3:ListBucket on arn:aws:s3:::data,"), std::string::npos) << head;
}

TEST(ExplainAccessDeniedTest, TheLastRefusalDecides) {
  // CheckBucket's message: the HeadBucket refused, then the listing of the prefix.
  const std::string explained = ExplainAccessDenied(
      "cannot access bucket 'data' (for s3://data/private/run): HeadBucket: When getting "
      "information for bucket 'data': AWS Error ACCESS_DENIED during HeadBucket operation: No "
      "response body.; listing the prefix (s3:ListBucket): When listing objects under key "
      "'private/run/' in bucket 'data': AWS Error ACCESS_DENIED during ListObjectsV2 operation: "
      "Access Denied.");
  EXPECT_NE(explained.find("Access Denied. The ListObjectsV2 call needs s3:ListBucket on "
                           "arn:aws:s3:::data (prefix 'private/run/')"),
            std::string::npos)
      << explained;
}

TEST(ExplainAccessDeniedTest, DeletesAndReadsNameTheirActions) {
  EXPECT_NE(ExplainAccessDenied("When delete key 'output/a' in bucket 'b': AWS Error "
                                "ACCESS_DENIED during DeleteObject operation: x")
                .find("s3:DeleteObject on arn:aws:s3:::b/output/a"),
            std::string::npos);
  EXPECT_NE(ExplainAccessDenied("When reading information for key 'in/x.jpg' in bucket 'b': "
                                "AWS Error ACCESS_DENIED during HeadObject operation: x")
                .find("s3:GetObject on arn:aws:s3:::b/in/x.jpg"),
            std::string::npos);
}

TEST(ExplainAccessDeniedTest, OtherMessagesAreUnchanged) {
  for (const std::string& message :
       {std::string("cannot read 'x': No such file"),
        std::string("AWS Error NETWORK_CONNECTION during GetObject operation: timeout"),
        std::string("AWS Error ACCESS_DENIED during SomeFutureCall operation: x"),
        std::string("ACCESS_DENIED during ")}) {
    EXPECT_EQ(ExplainAccessDenied(message), message);
  }
}

}  // namespace
}  // namespace orchard::io
