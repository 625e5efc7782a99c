#include "orchard/io/storage.h"

#include <arrow/buffer.h>

#include <filesystem>
#include <fstream>
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
  FinalizeStorage();
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

}  // namespace
}  // namespace orchard::io
