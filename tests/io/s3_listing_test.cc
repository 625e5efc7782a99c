// The parallel S3 listing's splitting and merging (io::internal::ListObjectTree) against an
// in-memory object store with ListObjectsV2's semantics: whatever the concurrency, the
// result is the one recursive walk's; failures name their prefix; the requests stay bounded.
#include <gtest/gtest.h>

#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "../test_util.h"
#include "orchard/io/s3_internal.h"

namespace orchard::io::internal {
namespace {

// Keys (with their sizes) of one bucket, listed as S3 lists them: a recursive listing gives
// every key below "path/" (a key ending in '/' is a folder marker: a Directory), a
// delimiter listing the keys directly below and one Directory per common prefix. Counts the
// requests; listings of `failing` prefixes fail as Arrow reports a refused ListObjectsV2.
class FakeStore {
 public:
  void Put(const std::string& key, int64_t size = 1) { keys_[key] = size; }

  std::set<std::string> failing;
  /// Answers delimiter listings as recursive ones plus the folders of the keys' first
  /// components (what Arrow makes of a server that ignores the delimiter).
  bool ignores_delimiter = false;

  ObjectLister Lister() {
    return [this](const std::string& path, bool recursive) { return List(path, recursive); };
  }

  Result<std::vector<arrow::fs::FileInfo>> List(const std::string& path, bool recursive) {
    {
      std::lock_guard lock(mutex_);
      calls_.emplace_back(path, recursive);
    }
    if (failing.count(path) > 0) {
      return Status::IOError("When listing objects under key '", path.substr(path.find('/') + 1),
                             "' in bucket 'bkt': AWS Error ACCESS_DENIED during ListObjectsV2 "
                             "operation: Access Denied");
    }
    const std::string prefix = path + "/";
    std::vector<arrow::fs::FileInfo> infos;
    if (!recursive && ignores_delimiter) {
      ORCHARD_ASSIGN_OR_RAISE(infos, List(path, /*recursive=*/true));
      std::set<std::string> firsts;
      for (const auto& info : infos) {
        const size_t slash = info.path().find('/', prefix.size());
        if (slash != std::string::npos) firsts.insert(info.path().substr(0, slash));
      }
      for (const auto& first : firsts) infos.emplace_back(first, arrow::fs::FileType::Directory);
      return infos;
    }
    std::set<std::string> folders;
    for (auto it = keys_.lower_bound(prefix); it != keys_.end(); ++it) {
      const std::string& key = it->first;
      if (key.compare(0, prefix.size(), prefix) != 0) break;
      if (key.size() == prefix.size()) continue;  // the prefix's own marker
      const size_t slash = key.find('/', prefix.size());
      if (!recursive && slash != std::string::npos) {
        folders.insert(key.substr(0, slash));
      } else if (key.back() == '/') {
        infos.emplace_back(key.substr(0, key.size() - 1), arrow::fs::FileType::Directory);
      } else {
        arrow::fs::FileInfo info(key, arrow::fs::FileType::File);
        info.set_size(it->second);
        info.set_mtime(arrow::fs::TimePoint(std::chrono::nanoseconds(it->second * 1000 + 7)));
        infos.push_back(std::move(info));
      }
    }
    for (const auto& folder : folders) {
      infos.emplace_back(folder, arrow::fs::FileType::Directory);
    }
    return infos;
  }

  std::vector<std::pair<std::string, bool>> Calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }
  size_t CallCount(bool recursive) {
    const auto calls = Calls();
    return static_cast<size_t>(std::count_if(
        calls.begin(), calls.end(), [&](const auto& call) { return call.second == recursive; }));
  }

 private:
  std::map<std::string, int64_t> keys_;
  std::mutex mutex_;
  std::vector<std::pair<std::string, bool>> calls_;
};

std::vector<std::string> Paths(const std::vector<ListedFile>& files) {
  std::vector<std::string> paths;
  for (const auto& file : files) paths.push_back(file.relative_path);
  return paths;
}

void ExpectSameListing(const std::vector<ListedFile>& got, const std::vector<ListedFile>& want) {
  ASSERT_EQ(Paths(got), Paths(want));
  for (size_t idx = 0; idx < got.size(); ++idx) {
    EXPECT_EQ(got[idx].size, want[idx].size) << got[idx].relative_path;
    EXPECT_EQ(got[idx].mtime_ns, want[idx].mtime_ns) << got[idx].relative_path;
  }
}

// A tree with everything the splitting must get right: files at every level, folder
// markers of empty and non-empty prefixes, hidden and bookkeeping names at any depth,
// names that are prefixes of each other ("a", "a b", "ab", "a.b"), odd bytes (spaces, %,
// '+', UTF-8, bytes that are not UTF-8, a control character), deep nesting, and a prefix
// with more keys than a page.
void PutHostileTree(FakeStore* store) {
  const std::string root = "bkt/in/";
  for (const std::string label : {"a", "a b", "ab", "a.b", "%41", "caf\xC3\xA9", "bad\xFF\xFE",
                                  "tab\tname", "+plus", "_hidden", ".dot"}) {
    store->Put(root + label + "/1.jpg", 11);
    store->Put(root + label + "/sub dir/2.jpg", 12);
  }
  store->Put(root + "top.jpg", 3);  // a key directly below the root
  store->Put(root + "a", 4);        // a key named like a folder
  store->Put(root + "empty/");      // an empty prefix (marker only)
  store->Put(root + "marked/");     // a marker of a prefix with keys
  store->Put(root + "marked/m.jpg", 5);
  store->Put(root + "a/_SUCCESS", 1);  // bookkeeping names below a label
  store->Put(root + "a/.DS_Store", 1);
  store->Put(root + "a/x/_temporary/0/p.jpg", 1);
  std::string deep = root + "deep";
  for (int level = 0; level < 20; ++level) {
    deep += "/d" + std::to_string(level);
    store->Put(deep + "/f.jpg", 100 + level);
  }
  for (int idx = 0; idx < 2500; ++idx)
    store->Put(root + "many/" + std::to_string(idx) + ".jpg", idx);
  store->Put("bkt/in-sibling/not-below.jpg", 1);  // shares the root's name as a prefix
  store->Put("bkt/inner.jpg", 1);
}

TEST(S3ListingTest, EveryConcurrencyGivesTheOneWalksListing) {
  FakeStore store;
  PutHostileTree(&store);
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  EXPECT_FALSE(one_walk.nothing_below);
  // The one walk itself: hidden names left out at any depth, nothing outside the root.
  const auto paths = Paths(one_walk.files);
  EXPECT_TRUE(std::is_sorted(paths.begin(), paths.end()));
  EXPECT_EQ(paths.size(), 9u * 2 + 2 + 1 + 20 + 2500);
  for (const auto& path : paths) {
    EXPECT_EQ(path.find("_hidden"), std::string::npos);
    EXPECT_EQ(path.find(".dot"), std::string::npos);
    EXPECT_EQ(path.find("_SUCCESS"), std::string::npos);
    EXPECT_EQ(path.find("_temporary"), std::string::npos);
    EXPECT_EQ(path.find("sibling"), std::string::npos);
  }
  for (const int concurrency : {2, 3, 8, 32, 256}) {
    SCOPED_TRACE(concurrency);
    ASSERT_OK_AND_ASSIGN(auto parallel, ListObjectTree("bkt/in", store.Lister(), concurrency));
    EXPECT_FALSE(parallel.nothing_below);
    ExpectSameListing(parallel.files, one_walk.files);
  }
}

TEST(S3ListingTest, RandomTreesListTheSameAtEveryConcurrency) {
  std::mt19937 random(20261201);
  const std::vector<std::string> names = {"a", "b", "a b", "_x", ".y", "%2F", "\xC3\xA9", "z"};
  for (int tree = 0; tree < 30; ++tree) {
    SCOPED_TRACE(tree);
    FakeStore store;
    const int keys = std::uniform_int_distribution<int>(0, 400)(random);
    for (int idx = 0; idx < keys; ++idx) {
      std::string key = "bkt/root";
      const int depth = std::uniform_int_distribution<int>(1, 6)(random);
      for (int level = 0; level < depth; ++level) {
        key += "/" + names[std::uniform_int_distribution<size_t>(0, names.size() - 1)(random)];
      }
      if (std::uniform_int_distribution<int>(0, 9)(random) == 0) key += "/";  // a marker
      store.Put(key + (key.back() == '/' ? "" : std::to_string(idx)), idx);
    }
    ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/root", store.Lister(), 1));
    for (const int concurrency : {2, 5, 32}) {
      ASSERT_OK_AND_ASSIGN(auto parallel, ListObjectTree("bkt/root", store.Lister(), concurrency));
      EXPECT_EQ(parallel.nothing_below, one_walk.nothing_below);
      ExpectSameListing(parallel.files, one_walk.files);
    }
  }
}

TEST(S3ListingTest, ConcurrencyOneIsOneRecursiveWalkOfTheRoot) {
  FakeStore store;
  PutHostileTree(&store);
  ASSERT_OK(ListObjectTree("bkt/in", store.Lister(), 1).status());
  const auto calls = store.Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].first, "bkt/in");
  EXPECT_TRUE(calls[0].second);
}

TEST(S3ListingTest, LabelPrefixesAreWalkedEachOnce) {
  // 131 label prefixes, as the bench's tree: one delimiter listing of the root, then one
  // recursive walk per label (131 >= 4 x 32 wanted: no further descent).
  FakeStore store;
  for (int label = 0; label < 131; ++label) {
    for (int idx = 0; idx < 5; ++idx) {
      store.Put("bkt/in/label" + std::to_string(label) + "/" + std::to_string(idx) + ".jpg");
    }
  }
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  EXPECT_EQ(listing.files.size(), 131u * 5);
  EXPECT_EQ(store.CallCount(false), 1u);
  EXPECT_EQ(store.CallCount(true), 131u);
}

TEST(S3ListingTest, FewPrefixesAreSplitFurtherAndEachKeyIsListedOnce) {
  FakeStore store;
  for (int label = 0; label < 3; ++label) {
    for (int sub = 0; sub < 20; ++sub) {
      store.Put("bkt/in/l" + std::to_string(label) + "/s" + std::to_string(sub) + "/k.jpg");
    }
    store.Put("bkt/in/l" + std::to_string(label) + "/direct.jpg");
  }
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  EXPECT_EQ(listing.files.size(), 3u * 21);
  // root and 3 labels by delimiter, then the 60 sub-folders: more prefixes to share out
  // than the 3 labels (60 < 128 wanted, so their own level is looked at too).
  EXPECT_EQ(store.CallCount(false), 1u + 3 + 60);
  EXPECT_EQ(store.CallCount(true), 0u);
}

TEST(S3ListingTest, AFolderPerObjectCostsPagesNotARequestPerFolder) {
  // Two labels of 3,000 one-object folders each: splitting them would make 6,000 walks of
  // one key each where the one walk needs 6 pages; each passes the budget (32 x 32), so
  // both are walked whole. Labels of 20 such folders are split (within the budget).
  FakeStore store;
  for (int label = 0; label < 2; ++label) {
    for (int idx = 0; idx < 3000; ++idx) {
      store.Put("bkt/in/l" + std::to_string(label) + "/" + std::to_string(idx) + "/img.jpg");
    }
  }
  for (int idx = 0; idx < 20; ++idx) store.Put("bkt/in/small/" + std::to_string(idx) + "/i.jpg");
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  ExpectSameListing(listing.files, one_walk.files);
  EXPECT_EQ(listing.files.size(), 6020u);
  EXPECT_GT(ListPrefixBudget(32), 20u);
  EXPECT_LT(ListPrefixBudget(32), 3000u);
  // The one walk, the root's and the 3 labels' delimiter listings, then the 20 small
  // folders' (20 < 128: one level more), then the 2 big labels walked whole.
  EXPECT_EQ(store.CallCount(false), 1u + 3 + 20);
  EXPECT_EQ(store.CallCount(true), 1u + 2);
}

TEST(S3ListingTest, ManyTinyLabelsAreWalkedWholeAfterASample) {
  // 3,000 one-image labels (more than the budget, 1,024 at 32): splitting would be 3,000
  // requests where the one walk needs 3 pages. The first 32 are walked to find out.
  FakeStore store;
  for (int idx = 0; idx < 3000; ++idx) store.Put("bkt/in/l" + std::to_string(idx) + "/i.jpg");
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  ExpectSameListing(listing.files, one_walk.files);
  EXPECT_EQ(listing.files.size(), 3000u);
  EXPECT_EQ(store.CallCount(false), 1u);
  EXPECT_EQ(store.CallCount(true), 1u + 32 + 1);  // the reference, the sample, the walk
}

TEST(S3ListingTest, ManyLabelsOfEnoughKeysAreEachWalked) {
  // 1,500 labels of 40 keys (more than 1000 / 32 on average): each is walked, the sampled
  // ones once.
  FakeStore store;
  for (int label = 0; label < 1500; ++label) {
    for (int idx = 0; idx < 40; ++idx) {
      store.Put("bkt/in/l" + std::to_string(label) + "/" + std::to_string(idx) + ".jpg", idx);
    }
  }
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  ExpectSameListing(listing.files, one_walk.files);
  EXPECT_EQ(listing.files.size(), 1500u * 40);
  EXPECT_EQ(store.CallCount(false), 1u);
  EXPECT_EQ(store.CallCount(true), 1u + 1500);
}

TEST(S3ListingTest, DeepNestingStopsDescendingAtTheDepthLimit) {
  FakeStore store;
  std::string key = "bkt/in";
  for (int level = 0; level < 40; ++level) {
    key += "/n";
    store.Put(key + "/f" + std::to_string(level) + ".jpg", level);
  }
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  ExpectSameListing(listing.files, one_walk.files);
  EXPECT_EQ(listing.files.size(), 40u);
  // One walk (concurrency 1), then one delimiter listing per level down to the depth
  // limit and one walk of what is below it.
  EXPECT_EQ(store.CallCount(false), static_cast<size_t>(kListMaxDepth));
  EXPECT_EQ(store.CallCount(true), 1u + 1);
}

TEST(S3ListingTest, AnEmptyPrefixIsNothingBelowAtEveryConcurrency) {
  FakeStore store;
  store.Put("bkt/other/x.jpg");
  for (const int concurrency : {1, 32}) {
    ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), concurrency));
    EXPECT_TRUE(listing.nothing_below);
    EXPECT_TRUE(listing.files.empty());
  }
  // Markers only: something is there (the one walk sees folders), no file.
  store.Put("bkt/in/a/");
  for (const int concurrency : {1, 32}) {
    ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), concurrency));
    EXPECT_FALSE(listing.nothing_below);
    EXPECT_TRUE(listing.files.empty());
  }
}

TEST(S3ListingTest, AFailedPrefixFailsTheListingNamingIt) {
  FakeStore store;
  PutHostileTree(&store);
  store.failing = {"bkt/in/ab", "bkt/in/many"};
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto listing = ListObjectTree("bkt/in", store.Lister(), 32);
    ASSERT_FALSE(listing.ok());
    // The first failing prefix in key order, whichever thread failed first.
    EXPECT_NE(listing.status().message().find("under key 'in/ab'"), std::string::npos)
        << listing.status().ToString();
  }
  // A failure while descending (the deep chain is split level by level) fails it too.
  store.failing = {"bkt/in/deep/d0"};
  auto deep = ListObjectTree("bkt/in", store.Lister(), 32);
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("under key 'in/deep/d0'"), std::string::npos);
  store.failing = {"bkt/in"};
  for (const int concurrency : {1, 32}) {
    auto root = ListObjectTree("bkt/in", store.Lister(), concurrency);
    ASSERT_FALSE(root.ok());
    EXPECT_NE(root.status().message().find("under key 'in'"), std::string::npos);
  }
}

TEST(S3ListingTest, AFolderThatIsNotOnePlainNameIsWalkedWithItsParent) {
  // "in/a//x" (an empty component): the delimiter listing of "in/a" reports the folder
  // "in/a/", whose own listing could not be told from its parent's. The store here answers
  // a listing of "bkt/in/a/" with the keys below "bkt/in/a//", as S3 would.
  FakeStore store;
  store.Put("bkt/in/a//x.jpg");
  store.Put("bkt/in/a/y.jpg");
  store.Put("bkt/in/b/z.jpg");
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  ExpectSameListing(listing.files, one_walk.files);
  EXPECT_EQ(one_walk.files.size(), 3u);
  for (const auto& [path, recursive] : store.Calls()) {
    EXPECT_NE(path, "bkt/in/a/") << "an empty-component prefix was listed on its own";
  }
}

TEST(S3ListingTest, AServerThatIgnoresTheDelimiterGetsTheOneWalk) {
  FakeStore store;
  PutHostileTree(&store);
  ASSERT_OK_AND_ASSIGN(auto one_walk, ListObjectTree("bkt/in", store.Lister(), 1));
  store.ignores_delimiter = true;
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", store.Lister(), 32));
  ExpectSameListing(listing.files, one_walk.files);
}

TEST(S3ListingTest, NoMoreListingsInFlightThanTheConcurrency) {
  // Each walk waits until `concurrency` walks are in flight (or all that are left): the
  // listing finishes only if they really run at once, and never more than asked for.
  FakeStore store;
  for (int label = 0; label < 200; ++label) store.Put("bkt/in/l" + std::to_string(label) + "/k");
  constexpr int kConcurrency = 8;
  std::mutex mutex;
  std::condition_variable changed;
  int in_flight = 0;
  int most_in_flight = 0;
  int started = 0;
  const ObjectLister inner = store.Lister();
  const ObjectLister lister = [&](const std::string& path, bool recursive) {
    if (!recursive) return inner(path, recursive);
    std::unique_lock lock(mutex);
    ++in_flight;
    ++started;
    most_in_flight = std::max(most_in_flight, in_flight);
    changed.notify_all();
    const int batch_end = ((started - 1) / kConcurrency + 1) * kConcurrency;
    changed.wait_for(lock, std::chrono::seconds(120),
                     [&] { return started >= std::min(batch_end, 200); });
    --in_flight;
    lock.unlock();
    return inner(path, recursive);
  };
  ASSERT_OK_AND_ASSIGN(auto listing, ListObjectTree("bkt/in", lister, kConcurrency));
  EXPECT_EQ(listing.files.size(), 200u);
  EXPECT_EQ(most_in_flight, kConcurrency);
}

TEST(S3ListingTest, ConcurrencyComesFromTheEnvironment) {
  unsetenv("ORCHARD_S3_LIST_CONCURRENCY");
  ASSERT_OK_AND_ASSIGN(int concurrency, S3ListConcurrency());
  EXPECT_EQ(concurrency, kDefaultS3ListConcurrency);
  setenv("ORCHARD_S3_LIST_CONCURRENCY", "1", 1);
  ASSERT_OK_AND_ASSIGN(concurrency, S3ListConcurrency());
  EXPECT_EQ(concurrency, 1);
  setenv("ORCHARD_S3_LIST_CONCURRENCY", "64", 1);
  ASSERT_OK_AND_ASSIGN(concurrency, S3ListConcurrency());
  EXPECT_EQ(concurrency, 64);
  for (const char* bad : {"0", "-3", "many", "8x", "257", "99999999999999999999"}) {
    setenv("ORCHARD_S3_LIST_CONCURRENCY", bad, 1);
    auto parsed = S3ListConcurrency();
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find("ORCHARD_S3_LIST_CONCURRENCY"), std::string::npos);
  }
  unsetenv("ORCHARD_S3_LIST_CONCURRENCY");
}

}  // namespace
}  // namespace orchard::io::internal
