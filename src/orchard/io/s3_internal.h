// The S3 side of io/storage.cc (io/s3.cc). Private to src/orchard/io.
#pragma once

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
/// listed), hidden and bookkeeping names skipped, sorted by relative path.
Result<std::vector<ListedFile>> ListObjectStoreFiles(const Location& root);

}  // namespace orchard::io::internal
