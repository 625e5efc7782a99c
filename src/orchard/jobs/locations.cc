#include "orchard/jobs/locations.h"

#include <arrow/filesystem/filesystem.h>
#include <arrow/util/future.h>

#include "orchard/output/commit.h"

namespace orchard::jobs {

namespace {

// The first page of the listing of the location's own prefix (one ListObjectsV2; the
// generator is dropped before it asks for a second): what a role whose s3:ListBucket is
// scoped by an s3:prefix condition is allowed, where HeadBucket (no prefix) is refused.
// An empty prefix is an answer too: the credentials and the bucket were accepted.
Status ListFirstPage(const io::Location& location) {
  arrow::fs::FileSelector selector;
  selector.base_dir = location.path;
  selector.recursive = false;
  selector.allow_not_found = true;
  auto pages = location.fs->GetFileInfoGenerator(selector);
  return pages().status();
}

}  // namespace

Status CheckBucket(const io::Location& location) {
  if (!location.is_object_store) return Status::OK();
  const std::string bucket = location.path.substr(0, location.path.find('/'));
  auto info = location.fs->GetFileInfo(bucket);
  if (!info.ok()) {
    // HeadBucket needs s3:ListBucket on the bucket with no prefix, which a least-privilege
    // role may not have (its ListBucket limited to the job's prefixes); a HEAD answer has no
    // body, so a refusal cannot be told from wrong credentials. Listing the job's own
    // prefix decides: only when that is refused too is the access wrong.
    const Status listed = ListFirstPage(location);
    if (listed.ok()) return Status::OK();
    return Status::IOError(
        "cannot access bucket '", bucket, "' (for ", location.display,
        "): HeadBucket: ", info.status().message(),
        "; listing the prefix (s3:ListBucket): ", listed.message(),
        ". Check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, "
        "~/.aws, instance profile), the region, and that the policy allows s3:ListBucket on "
        "the bucket for this prefix");
  }
  if (info->type() != arrow::fs::FileType::Directory) {
    return Status::IOError("bucket '", bucket, "' does not exist or is not accessible (for ",
                           location.display, "): check the name, region and credentials");
  }
  return Status::OK();
}

Result<JobLocations> ResolveJobLocations(const std::string& input, const std::string& output,
                                         const io::StorageOptions& storage, bool need_input) {
  JobLocations where;
  if (need_input) {
    if (input.empty()) return Status::Invalid("no input given (--input)");
    ORCHARD_ASSIGN_OR_RAISE(where.input, io::ResolveLocation(input, storage));
    ORCHARD_RETURN_NOT_OK(CheckBucket(where.input));
  }
  if (output.empty()) return Status::Invalid("no output given (--output)");
  ORCHARD_ASSIGN_OR_RAISE(where.output, io::ResolveLocation(output, storage));
  ORCHARD_RETURN_NOT_OK(CheckBucket(where.output));
  // Before anything is listed or loaded (OutputCommitter::Begin checks it again).
  if (need_input) ORCHARD_RETURN_NOT_OK(output::CheckOutputPlacement(where.input, where.output));
  return where;
}

}  // namespace orchard::jobs
