// The commit protocol of an output folder (local or object store), after Hadoop's
// FileOutputCommitter: everything is written below OUT/_temporary/, then moved into place,
// then OUT/_SUCCESS is written last. Readers that wait for _SUCCESS never see partial
// results, and a crash leaves no _SUCCESS.
//
// Publish first writes a journal (OUT/_temporary/_PUBLISHING: the entries, the policy)
// and only then touches the output; a process killed while publishing leaves the journal,
// and the next Begin on that output finishes the publish (rolls it forward) before doing
// anything else. So a killed job leaves either the old complete output (with _SUCCESS),
// or no _SUCCESS and a journal that the next run completes, or the new complete output.
//
// The safety rule (docs/decisions.md "Output safety"): an output folder is orchard's or it
// is refused. Publishing, --overwrite and recovery touch only the contract's fixed
// top-level names (output::IsContractEntry); a folder holding anything else is refused for
// --overwrite, a journal naming anything else is refused as corrupt, and an output equal
// to, inside or around the job's input is refused before anything is written.
#pragma once

#include <string>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/output/layout.h"
#include "orchard/util/status.h"

namespace orchard::output {

/// What to do when the output folder already holds something.
enum class ExistingOutput {
  kRefuse,     ///< fail with a message, unless the folder is absent or empty
  kOverwrite,  ///< replace it (old files are deleted at publish time)
  kResume,     ///< reuse the parts an interrupted run of the same job left in _temporary
  kUpdate,     ///< add or replace some folders of a finished output (fit-pca, project)
};

/// In staging while a publish is under way (see above).
inline constexpr const char* kPublishJournal = "_PUBLISHING";
/// In staging: the fingerprint of the job that staged it (for --resume).
inline constexpr const char* kJobFingerprintFile = "job.fingerprint";

/// Refuses (a usage error naming both) an output that is the input, lies inside it (its
/// files would become images of the next listing) or contains it (publishing would replace
/// it). Local paths are compared both as written and with links resolved; object-store
/// locations by bucket and key prefix. Locations of different kinds never overlap.
Status CheckOutputPlacement(const io::Location& input, const io::Location& output);

class OutputCommitter {
 public:
  /// Refuses an output placed against `input` (CheckOutputPlacement; nullptr for jobs that
  /// read only their own output), finishes a publish an interrupted process left
  /// (kPublishJournal), then checks the output folder against the policy and prepares the
  /// staging folder. `fingerprint` identifies the job (input listing, model, options);
  /// kResume only reuses staging made by the same fingerprint.
  static Result<OutputCommitter> Begin(const io::Location& output, ExistingOutput policy,
                                       const std::string& fingerprint, const io::Location* input);

  const io::Location& output() const { return output_; }
  /// OUT/_temporary: stage every file here.
  const io::Location& staging() const { return staging_; }
  /// True when kResume found staging of the same job to continue from.
  bool resuming() const { return resuming_; }

  /// Moves the given top-level entries (output::IsPublishableEntry names only) from staging
  /// into the output, replacing what was there (with kOverwrite: replacing every contract
  /// entry, never another name), writes _SUCCESS, and removes staging. Crash-safe: see the
  /// top of this file.
  Status Publish(const std::vector<std::string>& entries);

 private:
  /// Steps 1-5 of Publish, from the journal's entries; idempotent, so that Begin can run
  /// them again after a crash.
  Status FinishPublish(const std::vector<std::string>& entries, bool overwrite);
  /// Rolls forward the publish whose journal is in staging, if any.
  Status RecoverPublish();

  io::Location output_;
  io::Location staging_;
  ExistingOutput policy_ = ExistingOutput::kRefuse;
  bool resuming_ = false;
};

}  // namespace orchard::output
