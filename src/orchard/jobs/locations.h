// Where a job reads and writes: the --input and --output of the options, resolved to
// storage locations, with object-store buckets proven reachable before any work starts
// (a wrong credential fails in a second, not after featurizing).
#pragma once

#include <string>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

struct JobLocations {
  io::Location input;  ///< empty for jobs that read only their output
  io::Location output;
};

/// Resolves `output` (and `input`, when `need_input`); refuses empty ones, buckets that
/// cannot be reached with the configured credentials, and an output placed against the
/// input (output::CheckOutputPlacement), before a job lists or loads anything.
Result<JobLocations> ResolveJobLocations(const std::string& input, const std::string& output,
                                         const io::StorageOptions& storage, bool need_input);

/// OK for local locations; for object stores, checks that the bucket exists and is
/// readable, and says which credentials to check when it is not.
Status CheckBucket(const io::Location& location);

}  // namespace orchard::jobs
