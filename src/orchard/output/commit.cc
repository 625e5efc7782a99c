#include "orchard/output/commit.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>

#include <filesystem>
#include <sstream>
#include <string_view>

#include "orchard/util/fault.h"

namespace orchard::output {
namespace {

constexpr const char* kManifestFile = kJobFingerprintFile;
// In staging once step 2 of a publish (deleting what is replaced) is done: from then on the
// output's copies of the entries hold only new files, so finishing the moves is safe.
constexpr const char* kMovingMarker = "_PUBLISHING.moving";
constexpr const char* kOverwriteLine = "policy overwrite";
constexpr const char* kUpdateLine = "policy update";

Result<std::vector<arrow::fs::FileInfo>> ListTopLevel(const io::Location& folder) {
  arrow::fs::FileSelector selector;
  selector.base_dir = folder.path;
  selector.allow_not_found = true;
  return folder.fs->GetFileInfo(selector);
}

// True when `path` is `root` or below it ('/'-separated, no trailing slash; "/" holds all).
bool IsWithin(std::string_view path, std::string_view root) {
  if (root == "/") return true;
  if (path.size() < root.size() || path.compare(0, root.size(), root) != 0) return false;
  return path.size() == root.size() || path[root.size()] == '/';
}

// The forms under which a location's path may be reached: as written and, locally, with
// every link of its existing part resolved (an output given through a link to the input).
std::vector<std::string> PathForms(const io::Location& location) {
  std::vector<std::string> forms = {location.path};
  if (location.is_object_store) return forms;
  std::error_code error;
  const auto resolved = std::filesystem::weakly_canonical(location.path, error);
  if (!error) {
    std::string text = resolved.lexically_normal().generic_string();
    while (text.size() > 1 && text.back() == '/') text.pop_back();
    if (text != location.path) forms.push_back(std::move(text));
  }
  return forms;
}

// A publish names only the contract's entries: anything else (a path, "..", a user's
// folder) in a journal or a Publish call is refused, never followed.
Status CheckPublishEntries(const std::vector<std::string>& entries, const io::Location& where,
                           const char* source) {
  for (const auto& entry : entries) {
    if (!IsPublishableEntry(entry)) {
      return Status::Invalid(source, " of output '", where.display, "' names '", entry,
                             "', which is not an entry of an orchard output; orchard publishes "
                             "only its own entries and refuses to go on. Remove '",
                             where.Child(kStagingFolder).display,
                             "' if this output came from elsewhere");
    }
  }
  return Status::OK();
}

}  // namespace

Status CheckOutputPlacement(const io::Location& input, const io::Location& output) {
  if (input.is_object_store != output.is_object_store) return Status::OK();
  for (const auto& in : PathForms(input)) {
    for (const auto& out : PathForms(output)) {
      if (in == out) {
        return UsageError("output '", output.display, "' is the input '", input.display,
                          "': write the results to a folder of their own, outside the input");
      }
      if (IsWithin(out, in)) {
        return UsageError("output '", output.display, "' is inside the input '", input.display,
                          "': its files would be listed as images by the next run; choose a "
                          "folder outside the input");
      }
      if (IsWithin(in, out)) {
        return UsageError("output '", output.display, "' contains the input '", input.display,
                          "': publishing into it could replace the input; choose a folder of "
                          "its own, outside the input");
      }
    }
  }
  return Status::OK();
}

Result<OutputCommitter> OutputCommitter::Begin(const io::Location& output, ExistingOutput policy,
                                               const std::string& fingerprint,
                                               const io::Location* input) {
  if (input != nullptr) ORCHARD_RETURN_NOT_OK(CheckOutputPlacement(*input, output));
  OutputCommitter committer;
  committer.output_ = output;
  committer.staging_ = output.Child(kStagingFolder);
  committer.policy_ = policy;
  ORCHARD_ASSIGN_OR_RAISE(auto info, output.fs->GetFileInfo(output.path));
  if (info.type() == arrow::fs::FileType::File) {
    return Status::Invalid("output '", output.display, "' is a file; give a folder");
  }
  // A finished job whose publish was cut short: complete it before judging the folder.
  if (info.type() == arrow::fs::FileType::Directory) {
    ORCHARD_RETURN_NOT_OK(committer.RecoverPublish());
  }
  ORCHARD_ASSIGN_OR_RAISE(auto entries, ListTopLevel(output));
  bool has_success = false;
  bool has_staging = false;
  bool has_content = false;
  std::string foreign;  // top-level names orchard does not write (hidden ones aside)
  for (const auto& entry : entries) {
    const std::string name = entry.base_name();
    if (name == kSuccessFile) has_success = true;
    if (name == kStagingFolder) {
      has_staging = true;
    } else {
      has_content = true;
    }
    if (!IsContractEntry(name) && name.front() != '.') {
      foreign += (foreign.empty() ? "'" : ", '") + name + "'";
    }
  }
  const io::Location manifest = committer.staging_.Child(kManifestFile);
  switch (policy) {
    case ExistingOutput::kRefuse:
      if (has_content) {
        return Status::AlreadyExists("output '", output.display, "' already holds ",
                                     has_success ? "a finished result" : "files",
                                     ": pass --overwrite to replace it, or choose another output");
      }
      if (has_staging) {
        return Status::AlreadyExists(
            "output '", output.display,
            "' holds the staging folder of an interrupted run: pass --resume to continue it or "
            "--overwrite to start again");
      }
      break;
    case ExistingOutput::kOverwrite:
      // Only a folder holding nothing but orchard's own entries is replaced: a user's
      // folder given as the output by mistake is never emptied.
      if (!foreign.empty()) {
        return UsageError("output '", output.display, "' holds ", foreign,
                          ", which orchard did not write: --overwrite replaces only an orchard "
                          "output. Choose a new or empty folder, or move those away first");
      }
      ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(committer.staging_));
      break;
    case ExistingOutput::kResume:
      if (has_success) {
        return Status::AlreadyExists("output '", output.display,
                                     "' is already complete (_SUCCESS): nothing to resume; pass "
                                     "--overwrite to run again");
      }
      if (has_staging) {
        ORCHARD_ASSIGN_OR_RAISE(bool has_manifest, io::FileExists(manifest));
        if (has_manifest) {
          ORCHARD_ASSIGN_OR_RAISE(auto previous, io::ReadAll(manifest));
          if (previous->ToString() != fingerprint) {
            return Status::Invalid("output '", output.display,
                                   "' holds an interrupted run of a different job (other input, "
                                   "model or options): pass --overwrite to start again");
          }
          committer.resuming_ = true;
        }
      }
      if (!committer.resuming_) ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(committer.staging_));
      break;
    case ExistingOutput::kUpdate:
      if (!has_success) {
        return Status::Invalid("output '", output.display,
                               "' is not a finished orchard output (no _SUCCESS): run "
                               "`orchard featurize` or `orchard run` first");
      }
      ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(committer.staging_));
      break;
  }
  if (!output.is_object_store) {
    ORCHARD_RETURN_NOT_OK(output.fs->CreateDir(committer.staging_.path, /*recursive=*/true));
  }
  if (!committer.resuming_) ORCHARD_RETURN_NOT_OK(io::WriteAll(manifest, fingerprint));
  return committer;
}

Status OutputCommitter::Publish(const std::vector<std::string>& entries) {
  ORCHARD_RETURN_NOT_OK(CheckPublishEntries(entries, output_, "the publish"));
  // A writer killed mid-write (an interrupted run this one resumed, a lost Spark task
  // attempt) left its temporary file in staging; it must not be published with the result.
  ORCHARD_RETURN_NOT_OK(io::DeleteAbandonedTempFiles(staging_));
  // 0. The journal: from here on the staged result is final and a crash rolls forward.
  const bool overwrite = policy_ == ExistingOutput::kOverwrite;
  std::string journal = std::string(overwrite ? kOverwriteLine : kUpdateLine) + "\n";
  for (const auto& entry : entries) journal += entry + "\n";
  ORCHARD_RETURN_NOT_OK(io::WriteAll(staging_.Child(kPublishJournal), journal));
  util::MaybeDieAt("publish:journal-written");
  return FinishPublish(entries, overwrite);
}

Status OutputCommitter::RecoverPublish() {
  const io::Location journal_file = staging_.Child(kPublishJournal);
  ORCHARD_ASSIGN_OR_RAISE(bool has_journal, io::FileExists(journal_file));
  if (!has_journal) return Status::OK();
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadAll(journal_file));
  std::istringstream lines(bytes->ToString());
  std::string policy_line;
  std::getline(lines, policy_line);
  if (policy_line != kOverwriteLine && policy_line != kUpdateLine) {
    return Status::Invalid("output '", output_.display, "' holds an unreadable publish journal (",
                           journal_file.display, "): remove ", kStagingFolder,
                           " or rerun with "
                           "--overwrite");
  }
  std::vector<std::string> entries;
  for (std::string entry; std::getline(lines, entry);) {
    if (!entry.empty()) entries.push_back(entry);
  }
  ORCHARD_RETURN_NOT_OK(CheckPublishEntries(entries, output_, "the publish journal"));
  return FinishPublish(entries, policy_line == kOverwriteLine);
}

Status OutputCommitter::FinishPublish(const std::vector<std::string>& entries, bool overwrite) {
  const io::Location success = output_.Child(kSuccessFile);
  const io::Location moving = staging_.Child(kMovingMarker);
  ORCHARD_ASSIGN_OR_RAISE(bool deletes_done, io::FileExists(moving));
  if (!deletes_done) {
    // 1. Withdraw the old result's claim to be complete before touching it.
    ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(success));
    util::MaybeDieAt("publish:success-withdrawn");
    // 2. Remove what the new result replaces: with overwrite every entry of the contract
    // (never another name: Begin refused a folder holding any), else the published ones.
    if (overwrite) {
      ORCHARD_ASSIGN_OR_RAISE(auto existing, ListTopLevel(output_));
      for (const auto& entry : existing) {
        if (!IsPublishableEntry(entry.base_name())) continue;
        ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(output_.Child(entry.base_name())));
        util::MaybeDieAt("publish:one-deleted");
      }
    } else {
      for (const auto& entry : entries) {
        ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(output_.Child(entry)));
        util::MaybeDieAt("publish:one-deleted");
      }
    }
    ORCHARD_RETURN_NOT_OK(io::WriteAll(moving, ""));
    util::MaybeDieAt("publish:deleted");
  }
  // 3. Move the staged entries into place (after a crash: what is still staged).
  for (const auto& entry : entries) {
    const io::Location from = staging_.Child(entry);
    ORCHARD_ASSIGN_OR_RAISE(auto info, from.fs->GetFileInfo(from.path));
    if (info.type() == arrow::fs::FileType::File) {
      ORCHARD_RETURN_NOT_OK(from.fs->Move(from.path, output_.Child(entry).path));
    } else if (info.type() == arrow::fs::FileType::Directory) {
      ORCHARD_RETURN_NOT_OK(io::MoveTree(from, output_.Child(entry)));
      // A folder moved file by file is gone from staging only once all of it has moved.
      ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(from));
    }
    util::MaybeDieAt("publish:one-moved");
  }
  // 4. _SUCCESS last, then drop the staging folder (the journal with it).
  ORCHARD_RETURN_NOT_OK(io::WriteAll(success, ""));
  util::MaybeDieAt("publish:success-written");
  return io::DeleteTreeIfExists(staging_);
}

}  // namespace orchard::output
