#include "orchard/jobs/locations.h"

#include <arrow/filesystem/filesystem.h>

namespace orchard::jobs {

Status CheckBucket(const io::Location& location) {
  if (!location.is_object_store) return Status::OK();
  const std::string bucket = location.path.substr(0, location.path.find('/'));
  auto info = location.fs->GetFileInfo(bucket);
  if (!info.ok()) {
    return Status::IOError("cannot access bucket '", bucket, "' (for ", location.display,
                           "): ", info.status().message(),
                           ". Check the credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                           "AWS_PROFILE, ~/.aws, instance profile), the region and the bucket "
                           "policy");
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
  return where;
}

}  // namespace orchard::jobs
