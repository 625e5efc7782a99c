// pipeline/listing_file.h: the sorted listing as a file. Sorted runs spilled under a small
// memory budget merge into the same file as one in-memory sort; one item per path (the first
// added); part offsets that cut the file into its parts; ranges read back exactly, in any
// window size; names with any bytes; a damaged or cut file is an error, never a wrong item.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/pipeline/listing_file.h"
#include "orchard/pipeline/shard.h"

namespace orchard::pipeline {
namespace {

ImageItem Item(const std::string& path, int64_t size, const std::string& label = "L") {
  ImageItem item;
  item.path = path;
  item.source = path;
  item.label = label;
  item.size = size;
  item.mtime_ns = size * 1000 + 7;
  return item;
}

// `count` items with distinct paths of varied shapes, in a seeded random order.
std::vector<ImageItem> ShuffledItems(int count, uint32_t seed) {
  std::vector<ImageItem> items;
  for (int index = 0; index < count; ++index) {
    ImageItem item = Item("class-" + std::to_string(index % 7) + "/img\t" +
                              std::to_string(index * 7919 % 100003) + ".jpg",
                          index, "class-" + std::to_string(index % 7));
    if (index % 5 == 0) {
      item.source = "raw\xff/" + std::to_string(index);  // a source that is not the path
      item.source_in_fs = true;
    }
    if (index % 11 == 0) item.member_offset = index * 512;
    if (index % 13 == 0) item.listing_error = "a row that names no file";
    items.push_back(std::move(item));
  }
  std::mt19937 random(seed);
  std::shuffle(items.begin(), items.end(), random);
  return items;
}

io::Location Local(const std::string& path) {
  auto location = io::ResolveLocation(path, {});
  EXPECT_TRUE(location.ok());
  return *location;
}

Result<std::vector<ImageItem>> ReadRange(const std::string& path, int64_t begin, int64_t end,
                                         int64_t window) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, ListingReader::Open(Local(path), begin, end));
  std::vector<ImageItem> all;
  while (true) {
    ORCHARD_ASSIGN_OR_RAISE(auto items, reader.Next(window));
    if (items.empty()) break;
    for (auto& item : items) all.push_back(std::move(item));
  }
  return all;
}

void ExpectSameItems(const std::vector<ImageItem>& got, const std::vector<ImageItem>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t index = 0; index < got.size(); ++index) {
    EXPECT_EQ(got[index].path, want[index].path);
    EXPECT_EQ(got[index].label, want[index].label);
    EXPECT_EQ(got[index].source, want[index].source);
    EXPECT_EQ(got[index].size, want[index].size);
    EXPECT_EQ(got[index].mtime_ns, want[index].mtime_ns);
    EXPECT_EQ(got[index].source_in_fs, want[index].source_in_fs);
    EXPECT_EQ(got[index].member_offset, want[index].member_offset);
    EXPECT_EQ(got[index].listing_error, want[index].listing_error);
  }
}

TEST(ListingFileTest, SpilledRunsGiveTheSortedListingWithPartOffsets) {
  const auto items = ShuffledItems(5000, 1);
  std::vector<ImageItem> sorted = items;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const ImageItem& a, const ImageItem& b) { return a.path < b.path; });

  ListingWriter spilling(/*rows_per_part=*/64, /*memory_bytes=*/20000);  // dozens of runs
  ListingWriter in_memory(/*rows_per_part=*/64);
  for (const auto& item : items) {
    ASSERT_OK(spilling.Add(item));
    ASSERT_OK(in_memory.Add(item));
  }
  ASSERT_OK_AND_ASSIGN(auto listing, spilling.Finish());
  ASSERT_OK_AND_ASSIGN(auto reference, in_memory.Finish());
  EXPECT_EQ(listing.num_items(), 5000);
  EXPECT_EQ(listing.identity_digest(), reference.identity_digest());
  EXPECT_EQ(listing.part_offsets(), reference.part_offsets());
  ASSERT_EQ(listing.part_offsets().size(), 5000 / 64 + 1 + 1);  // 79 parts and the end

  // The whole file, then each part by its offsets, in windows of any size.
  const auto& offsets = listing.part_offsets();
  ASSERT_OK_AND_ASSIGN(auto all,
                       ReadRange(listing.local_path(), offsets.front(), offsets.back(), 333));
  ExpectSameItems(all, sorted);
  for (size_t part = 0; part + 1 < offsets.size(); part += 13) {
    ASSERT_OK_AND_ASSIGN(auto items_of_part,
                         ReadRange(listing.local_path(), offsets[part], offsets[part + 1], 7));
    const size_t first = part * 64;
    const size_t count = std::min<size_t>(64, sorted.size() - first);
    ExpectSameItems(items_of_part,
                    std::vector<ImageItem>(sorted.begin() + static_cast<ptrdiff_t>(first),
                                           sorted.begin() + static_cast<ptrdiff_t>(first + count)));
  }
  // The identity digest is what the job fingerprint of the sorted items states.
  EXPECT_EQ(JobFingerprint(listing.identity_digest(), 5000, "m", "features", 64, 32, 1, 2),
            JobFingerprint(sorted, "m", "features", 64, 32, 1, 2));
}

TEST(ListingFileTest, OneItemPerPathAndTheFirstAddedWinsAcrossRuns) {
  ListingWriter writer(/*rows_per_part=*/2, /*memory_bytes=*/1);  // a run per item
  ASSERT_OK(writer.Add(Item("b", 1, "first")));
  ASSERT_OK(writer.Add(Item("a", 2)));
  ASSERT_OK(writer.Add(Item("b", 3, "second")));
  ASSERT_OK(writer.Add(Item("c", 4)));
  ASSERT_OK(writer.Add(Item("b", 5, "third")));
  ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
  ASSERT_EQ(listing.num_items(), 3);
  ASSERT_OK_AND_ASSIGN(auto items, ReadRange(listing.local_path(), listing.part_offsets().front(),
                                             listing.part_offsets().back(), 10));
  ASSERT_EQ(items.size(), 3u);
  EXPECT_EQ(items[0].path, "a");
  EXPECT_EQ(items[1].path, "b");
  EXPECT_EQ(items[1].label, "first");
  EXPECT_EQ(items[2].path, "c");
}

TEST(ListingFileTest, AnEmptyListingHasOneOffsetAndNoItems) {
  ListingWriter writer(16);
  ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
  EXPECT_EQ(listing.num_items(), 0);
  ASSERT_EQ(listing.part_offsets().size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto items, ReadRange(listing.local_path(), listing.part_offsets()[0],
                                             listing.part_offsets()[0], 10));
  EXPECT_TRUE(items.empty());
}

TEST(ListingFileTest, TheTemporaryFilesGoWithTheListing) {
  std::string temp_dir;
  {
    ListingWriter writer(4, /*memory_bytes=*/1);
    for (int index = 0; index < 10; ++index) ASSERT_OK(writer.Add(Item(std::to_string(index), 1)));
    ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
    temp_dir = std::filesystem::path(listing.local_path()).parent_path();
    // Only the listing is left of the runs.
    int files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(temp_dir)) {
      ++files;
    }
    EXPECT_EQ(files, 1);
  }
  EXPECT_FALSE(std::filesystem::exists(temp_dir));
}

TEST(ListingFileTest, AMovedListingKeepsItsFileAndTheSourceOwnsNothing) {
  ListingWriter writer(4);
  for (int index = 0; index < 10; ++index) ASSERT_OK(writer.Add(Item(std::to_string(index), 1)));
  ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
  const std::string path = listing.local_path();
  {
    ListingFile moved(std::move(listing));
    EXPECT_EQ(moved.num_items(), 10);
    {
      ListingFile source_gone = std::move(listing);  // the moved-from one: owns nothing
      EXPECT_EQ(source_gone.num_items(), 0);
    }
    EXPECT_TRUE(std::filesystem::exists(path));
    ListingFile assigned;
    assigned = std::move(moved);
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_EQ(assigned.local_path(), path);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(ListingFileTest, ACopiedListingReadsTheSame) {
  orchard::testing::TempDir dir;
  ListingWriter writer(8);
  for (const auto& item : ShuffledItems(100, 2)) ASSERT_OK(writer.Add(item));
  ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
  const std::string copy = (dir.path() / "staging" / "listing" / kListingFileName).string();
  ASSERT_OK(listing.CopyTo(Local(copy)));
  const auto& offsets = listing.part_offsets();
  ASSERT_OK_AND_ASSIGN(auto original, ReadRange(listing.local_path(), offsets[3], offsets[7], 5));
  ASSERT_OK_AND_ASSIGN(auto copied, ReadRange(copy, offsets[3], offsets[7], 5));
  ExpectSameItems(copied, original);
  EXPECT_EQ(copied.size(), 32u);
}

TEST(ListingFileTest, ACutOrDamagedListingIsAnErrorNeverAWrongItem) {
  orchard::testing::TempDir dir;
  ListingWriter writer(8);
  for (const auto& item : ShuffledItems(50, 3)) ASSERT_OK(writer.Add(item));
  ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
  const auto& offsets = listing.part_offsets();
  std::ifstream in(listing.local_path(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  // Cut in the middle of a record: the range asks for bytes that are not there.
  const std::string cut = (dir.path() / "cut.bin").string();
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, static_cast<size_t>(offsets[2] + 5));
  EXPECT_FALSE(ReadRange(cut, offsets[0], offsets.back(), 100).ok());
  // A range that ends inside a record.
  EXPECT_FALSE(ReadRange(listing.local_path(), offsets[0], offsets[1] + 3, 100).ok());
  // A record length that is absurd.
  std::string damaged = bytes;
  damaged[static_cast<size_t>(offsets[1]) + 3] = '\x7f';
  const std::string damaged_path = (dir.path() / "damaged.bin").string();
  std::ofstream(damaged_path, std::ios::binary) << damaged;
  EXPECT_FALSE(ReadRange(damaged_path, offsets[0], offsets.back(), 100).ok());
  // A range before the first record, or reversed.
  EXPECT_FALSE(ListingReader::Open(Local(listing.local_path()), 0, offsets.back()).ok());
  EXPECT_FALSE(ListingReader::Open(Local(listing.local_path()), offsets[2], offsets[1]).ok());
  // A missing file.
  EXPECT_FALSE(ReadRange((dir.path() / "missing.bin").string(), offsets[0], offsets[1], 1).ok());
}

TEST(ListingFileTest, ItsInfoIsCheckedOverEveryByte) {
  orchard::testing::TempDir dir;
  ListingWriter writer(8);
  for (const auto& item : ShuffledItems(50, 4)) ASSERT_OK(writer.Add(item));
  ASSERT_OK_AND_ASSIGN(auto listing, writer.Finish());
  ASSERT_OK_AND_ASSIGN(auto info, ReadListingInfo(Local(listing.local_path())));
  EXPECT_EQ(info.rows_per_part, 8);
  EXPECT_EQ(info.num_items, 50);
  EXPECT_EQ(info.records_begin, listing.part_offsets().front());
  EXPECT_EQ(info.records_end, listing.part_offsets().back());

  std::ifstream in(listing.local_path(), std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto write = [&](const std::string& name, const std::string& content) {
    const std::string path = (dir.path() / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  };
  // One byte of one name changed (the item would still parse): the checksum says so.
  std::string flipped = bytes;
  flipped[static_cast<size_t>(listing.part_offsets()[3]) + 40] ^= 0x01;
  EXPECT_FALSE(ReadListingInfo(Local(write("flipped.bin", flipped))).ok());
  EXPECT_FALSE(ReadListingInfo(Local(write("cut.bin", bytes.substr(0, bytes.size() - 1)))).ok());
  EXPECT_FALSE(ReadListingInfo(Local(write("empty.bin", ""))).ok());
  EXPECT_FALSE(ReadListingInfo(Local(write("other.bin", std::string(200, 'x')))).ok());
  EXPECT_FALSE(ReadListingInfo(Local((dir.path() / "missing.bin").string())).ok());
}

}  // namespace
}  // namespace orchard::pipeline
