// pipeline/listing.h and manifest.h: the pure rules of the new inputs: brace notation,
// where a manifest's relative rows may point, S3 Inventory key decoding, and the item
// tokens that carry tar and manifest items to Spark tasks unchanged; ShardFiles (members
// read by windows of their shard, their exact bytes, requests counted).
#include <archive.h>
#include <archive_entry.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "../test_util.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/manifest.h"
#include "orchard/pipeline/tar_shards.h"

namespace orchard::pipeline {
namespace {

TEST(ExpandBracesTest, RangesKeepTheFirstNumbersWidthAndGroupsMultiply) {
  ASSERT_OK_AND_ASSIGN(auto paths, internal::ExpandBraces("s/{00008..00011}.tar"));
  EXPECT_EQ(paths,
            (std::vector<std::string>{"s/00008.tar", "s/00009.tar", "s/00010.tar", "s/00011.tar"}));
  ASSERT_OK_AND_ASSIGN(paths, internal::ExpandBraces("{a,b}/{1..2}.tar"));
  EXPECT_EQ(paths, (std::vector<std::string>{"a/1.tar", "a/2.tar", "b/1.tar", "b/2.tar"}));
  ASSERT_OK_AND_ASSIGN(paths, internal::ExpandBraces("plain.tar"));
  EXPECT_EQ(paths, std::vector<std::string>{"plain.tar"});
}

TEST(ExpandBracesTest, MalformedOrHugePatternsFail) {
  for (const char* bad :
       {"s/{1..}.tar", "s/{5..1}.tar", "s/{1..2.tar", "s/1}.tar", "s/{}.tar", "s/{x..y}.tar",
        "s/{0..99999999}.tar", "{0..999}/{0..9999}.tar", "s/{1{2..3}}.tar"}) {
    EXPECT_FALSE(internal::ExpandBraces(bad).ok()) << bad;
  }
}

TEST(RelativeInsideTest, DotsResolveButNeverLeaveTheFolder) {
  ASSERT_OK_AND_ASSIGN(auto path, internal::RelativeInside("./a//b/../c.jpg"));
  EXPECT_EQ(path, "a/c.jpg");
  for (const char* bad : {"../x.jpg", "a/../../x.jpg", "/etc/passwd", ".", "a/.."}) {
    EXPECT_FALSE(internal::RelativeInside(bad).ok()) << bad;
  }
}

TEST(InventoryKeyTest, UrlEncodingIsDecoded) {
  ASSERT_OK_AND_ASSIGN(auto key, internal::DecodeInventoryKey("Apple+Braeburn/p%C3%AAche%2B1.jpg"));
  EXPECT_EQ(key,
            "Apple Braeburn/p\xC3\xAA"
            "che+1.jpg");
  for (const char* bad : {"a%", "a%4", "a%zz"}) {
    EXPECT_FALSE(internal::DecodeInventoryKey(bad).ok()) << bad;
  }
}

TEST(ManifestKindTest, ByName) {
  EXPECT_EQ(ManifestKindOf("/a/b.PARQUET"), ManifestKind::kParquet);
  EXPECT_EQ(ManifestKindOf("b/list.csv"), ManifestKind::kCsv);
  EXPECT_EQ(ManifestKindOf("x.ndjson"), ManifestKind::kJsonLines);
  EXPECT_EQ(ManifestKindOf("bucket/inv/manifest.json"), ManifestKind::kS3Inventory);
  EXPECT_EQ(ManifestKindOf("photos/a.json"), ManifestKind::kNone);
}

TEST(ItemTokenTest, FolderItemsAreTheirSourceAndOthersRoundTrip) {
  ASSERT_OK_AND_ASSIGN(auto root, io::ResolveLocation("/data/in", io::StorageOptions{}));
  const ImageItem plain = MakeImageItem("Mango/a\xff.jpg", 12, root);
  EXPECT_EQ(ItemToken(plain), plain.source);
  ASSERT_OK_AND_ASSIGN(auto back, ItemFromToken(ItemToken(plain), 12, root));
  EXPECT_EQ(back.path, plain.path);
  EXPECT_EQ(back.label, "Mango");

  ImageItem member;
  member.path = "00001.tar/k:1\n.jpg";
  member.label = "ci:ty";
  member.source = "/data/in/00001.tar";
  member.source_in_fs = true;
  member.member_offset = 1536;
  member.mtime_ns = 77;
  member.listing_error = "";
  const std::string token = ItemToken(member);
  ASSERT_EQ(token.front(), '\0');
  ASSERT_OK_AND_ASSIGN(back, ItemFromToken(token, 999, root));
  EXPECT_EQ(back.path, member.path);
  EXPECT_EQ(back.label, member.label);
  EXPECT_EQ(back.source, member.source);
  EXPECT_TRUE(back.source_in_fs);
  EXPECT_EQ(back.member_offset, 1536);
  EXPECT_EQ(back.mtime_ns, 77);
  EXPECT_EQ(back.size, 999);
  EXPECT_EQ(ItemLocation(back, root).path, "/data/in/00001.tar");
  // A damaged token fails, never reads past its end.
  EXPECT_FALSE(ItemFromToken(token.substr(0, token.size() - 3), 1, root).ok());
  EXPECT_FALSE(ItemFromToken(std::string("\0I99999:x", 9), 1, root).ok());
}

TEST(LabelFromTest, OnlyKnownRules) {
  for (const char* good : {"folder", "cls", "txt", "json:label"}) {
    EXPECT_TRUE(CheckLabelFrom(good).ok()) << good;
  }
  for (const char* bad : {"", "json:", "json", "dir"})
    EXPECT_FALSE(CheckLabelFrom(bad).ok()) << bad;
}

}  // namespace
}  // namespace orchard::pipeline

namespace orchard::pipeline {
namespace {

// A pax tar of `count` members k<i>.jpg of `member_bytes` pseudo-random bytes each (made
// with libarchive's writer); returns the members' bytes.
std::vector<std::string> WriteShard(const std::string& path, int count, size_t member_bytes) {
  std::vector<std::string> members;
  struct archive* writer = archive_write_new();
  archive_write_set_format_pax_restricted(writer);
  EXPECT_EQ(archive_write_open_filename(writer, path.c_str()), ARCHIVE_OK);
  std::mt19937 random(7);
  for (int idx = 0; idx < count; ++idx) {
    std::string bytes(member_bytes, '\0');
    for (char& c : bytes) c = static_cast<char>(random());
    struct archive_entry* entry = archive_entry_new();
    // Appended, not "k" + ...: GCC 12 warns (-Wrestrict, a false positive) on that inlined.
    std::string name = "k";
    name += std::to_string(1000 + idx);
    name += ".jpg";
    archive_entry_set_pathname(entry, name.c_str());
    archive_entry_set_filetype(entry, AE_IFREG);
    archive_entry_set_perm(entry, 0644);
    archive_entry_set_size(entry, static_cast<la_int64_t>(bytes.size()));
    EXPECT_EQ(archive_write_header(writer, entry), ARCHIVE_OK);
    EXPECT_EQ(archive_write_data(writer, bytes.data(), bytes.size()),
              static_cast<la_ssize_t>(bytes.size()));
    archive_entry_free(entry);
    members.push_back(std::move(bytes));
  }
  archive_write_close(writer);
  archive_write_free(writer);
  return members;
}

class ShardFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("orchard_shard_files_" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path dir_;
};

TEST_F(ShardFilesTest, MembersComeFromOneRequestPerWindowWithTheirExactBytes) {
  // 30 x 100 KB: one window. 12 x 3 MB (36 MB): windows of 16 MiB from the first member
  // each window does not hold: members 0-4, 5-9, 10-11 -> 3 requests.
  for (const auto& [count, bytes, expected_requests] :
       {std::tuple{30, size_t{100} << 10, 1}, std::tuple{12, size_t{3} << 20, 3}}) {
    const auto shard_path = dir_ / ("s" + std::to_string(count) + ".tar");
    const auto members = WriteShard(shard_path.string(), count, bytes);
    ASSERT_OK_AND_ASSIGN(auto shard, io::ResolveLocation(shard_path.string(), {}));
    ASSERT_OK_AND_ASSIGN(auto items, ListImages(shard));
    ASSERT_EQ(items.size(), members.size());
    ShardFiles files;
    for (size_t idx = 0; idx < items.size(); ++idx) {
      EXPECT_EQ(items[idx].path,
                "s" + std::to_string(count) + ".tar/k" + std::to_string(1000 + idx) + ".jpg");
      ASSERT_TRUE(items[idx].listing_error.empty()) << items[idx].listing_error;
      ASSERT_OK_AND_ASSIGN(auto read, files.ReadMember(ItemLocation(items[idx], shard),
                                                       items[idx].member_offset, items[idx].size));
      ASSERT_EQ(read->ToString(), members[idx]) << idx;
    }
    EXPECT_EQ(files.requests(), expected_requests) << count;
    // Past the end (the shard shrank since it was listed): an error, never garbage.
    EXPECT_FALSE(files
                     .ReadMember(ItemLocation(items.back(), shard),
                                 items.back().member_offset + (int64_t{1} << 20), items.back().size)
                     .ok());
  }
}

TEST_F(ShardFilesTest, MembersReadInAnyOrderShareTheirWindows) {
  // Hundreds of reads are in flight on S3, so members arrive out of order: reversed, the
  // same requests as in order (windows sit at fixed places, not at the first member read).
  for (const auto& [count, bytes, expected_requests] :
       {std::tuple{30, size_t{100} << 10, 1}, std::tuple{12, size_t{3} << 20, 3}}) {
    const auto shard_path = dir_ / ("r" + std::to_string(count) + ".tar");
    const auto members = WriteShard(shard_path.string(), count, bytes);
    ASSERT_OK_AND_ASSIGN(auto shard, io::ResolveLocation(shard_path.string(), {}));
    ASSERT_OK_AND_ASSIGN(auto items, ListImages(shard));
    ASSERT_EQ(items.size(), members.size());
    ShardFiles files;
    for (size_t idx = items.size(); idx-- > 0;) {
      ASSERT_OK_AND_ASSIGN(auto read, files.ReadMember(ItemLocation(items[idx], shard),
                                                       items[idx].member_offset, items[idx].size));
      ASSERT_EQ(read->ToString(), members[idx]) << idx;
    }
    EXPECT_EQ(files.requests(), expected_requests) << count;
  }
}

TEST_F(ShardFilesTest, ConcurrentReadersGetTheirOwnBytes) {
  const auto shard_path = dir_ / "c.tar";
  const auto members = WriteShard(shard_path.string(), 64, size_t{700} << 10);  // 2 windows+
  ASSERT_OK_AND_ASSIGN(auto shard, io::ResolveLocation(shard_path.string(), {}));
  ASSERT_OK_AND_ASSIGN(auto items, ListImages(shard));
  ASSERT_EQ(items.size(), members.size());
  ShardFiles files;
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int thread = 0; thread < 8; ++thread) {
    threads.emplace_back([&, thread] {
      for (size_t idx = static_cast<size_t>(thread); idx < items.size(); idx += 8) {
        auto read = files.ReadMember(ItemLocation(items[idx], shard), items[idx].member_offset,
                                     items[idx].size);
        if (!read.ok() || (*read)->ToString() != members[idx]) ++wrong;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  // Eight readers arriving together open the shard once (on S3 each open is a HEAD: the
  // bench of loose files against shards saw one per member before).
  EXPECT_EQ(files.opens(), 1);
}

}  // namespace
}  // namespace orchard::pipeline
