// The S3 side of io/storage.cc (io/s3.cc). Private to src/orchard/io.
#pragma once

#include <arrow/filesystem/filesystem.h>

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::io::internal {

/// The S3 location of `uri` (which starts with `scheme`: s3:// or s3a://), with the
/// endpoint, region, retries and connection pool of `options` and the environment.
Result<Location> ResolveS3(const std::string& uri, std::string_view scheme,
                           const StorageOptions& options);

/// Every object below the prefix `root` (ListObjectsV2 only, no HEAD unless nothing is
/// listed), hidden and bookkeeping names skipped, sorted by relative path. Sub-prefixes
/// are listed concurrently (ListObjectTree, S3ListConcurrency()).
Result<std::vector<ListedFile>> ListObjectStoreFiles(const Location& root);

/// Prefix listings in flight at once when ORCHARD_S3_LIST_CONCURRENCY is not set.
inline constexpr int kDefaultS3ListConcurrency = 32;
/// The most ORCHARD_S3_LIST_CONCURRENCY may ask for (kS3MaxConnections: more would only
/// wait for a connection).
inline constexpr int kMaxS3ListConcurrency = kS3MaxConnections;

/// ORCHARD_S3_LIST_CONCURRENCY (1 to kMaxS3ListConcurrency; 1 is one sequential walk of
/// the prefix), else kDefaultS3ListConcurrency. Fails on any other value.
Result<int> S3ListConcurrency();

/// One ListObjectsV2 walk below the object-store path `path` ("bucket/prefix", no trailing
/// slash), through all its pages: recursive, every object below it (and the folders they
/// imply); not recursive, a delimiter ("/") listing: the objects directly below and one
/// Directory entry per sub-prefix. An empty prefix is an empty result. Called from
/// several threads at once.
using ObjectLister = std::function<Result<std::vector<arrow::fs::FileInfo>>(const std::string& path,
                                                                            bool recursive)>;

/// The splitting of ListObjectTree. The root's sub-prefixes (an input's labels) are listed
/// on their own (but see below). Below them, delimiter listings descend while fewer than
/// kListDescendBelowFactor * concurrency prefixes are known, at most kListMaxDepth levels
/// below the root, and split a prefix only while the sub-prefixes accepted at that level
/// stay within ListPrefixBudget(concurrency); a prefix that would pass it is walked whole.
/// So splitting costs at most that many more requests than the one walk (a label of 10^6
/// one-object folders costs its pages, not 10^6 requests), i.e. kListPrefixesPerThread
/// rounds of requests, whatever the input. A root with more sub-prefixes than the budget
/// has the first `concurrency` of them walked; they are all walked one by one only when
/// those hold at least kListPageKeys / concurrency keys each on average, else the root is
/// walked whole (10^5 one-image folders cost their pages, not 10^5 requests).
inline constexpr size_t kListDescendBelowFactor = 4;
inline constexpr int kListMaxDepth = 8;
inline constexpr size_t kListPrefixesPerThread = 32;
inline constexpr size_t kListMaxPrefixes = 4096;
/// Keys in one ListObjectsV2 page (S3's and Arrow's maximum).
inline constexpr size_t kListPageKeys = 1000;
inline size_t ListPrefixBudget(int concurrency) {
  return std::min(kListMaxPrefixes, kListPrefixesPerThread * static_cast<size_t>(concurrency));
}

struct ObjectTreeListing {
  /// Below the root, relative, skipped names left out, sorted by relative path.
  std::vector<ListedFile> files;
  /// True when the listing found nothing at all below the root (no object, no folder).
  bool nothing_below = false;
};

/// Every object below `root_path`, listed with `list`: with `concurrency` 1 one recursive
/// walk; else a delimiter listing of the root, descending into sub-prefixes as above, then
/// up to `concurrency` recursive walks of the remaining sub-prefixes at once. The result is
/// the one walk's whatever the concurrency (the prefixes partition the keys; prefixes whose
/// name is skipped are not listed, as nothing below them would be kept). A failed listing
/// fails the whole with its own status, which names its prefix (the first failing prefix
/// in key order of its round, whatever the timing); listings not started by then are not.
Result<ObjectTreeListing> ListObjectTree(const std::string& root_path, const ObjectLister& list,
                                         int concurrency);

}  // namespace orchard::io::internal
