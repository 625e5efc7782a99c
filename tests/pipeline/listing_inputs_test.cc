// pipeline/listing.h and manifest.h: the pure rules of the new inputs: brace notation,
// where a manifest's relative rows may point, S3 Inventory key decoding, and the item
// tokens that carry tar and manifest items to Spark tasks unchanged.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/manifest.h"

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
