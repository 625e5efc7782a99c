// The featurizing jobs (`run`, `featurize`) as steps, so that one sequence serves every
// front end. The CLI runs them in one process (jobs.h: RunJob, FeaturizeJob); a distributed
// front end (the Spark job) calls Begin on its driver, runs FeaturizeShard (and, for `run`,
// ProjectParts) for each planned shard in its tasks, and hands the merged outcomes back:
//
//   Begin     resolve options and locations, list, read + check the model, fingerprint,
//             begin the commit (placement, policy, crash recovery, resume clean-up), plan
//   shards    pipeline::FeaturizeShard per ShardPlan          (tasks, anywhere)
//   FinishFeaturize(merged outcome)   errors table, counts
//   FitPca    run: fit on the merged statistics, stage pca_model/
//   shards    pipeline::ProjectParts per ShardPlan            (tasks, anywhere)
//   FinishProject, Finish            summary.json, index.html, publish (_SUCCESS last)
//
// Nothing of a job's sequence lives in a front end.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchard/jobs/locations.h"
#include "orchard/jobs/options.h"
#include "orchard/model/embedder.h"
#include "orchard/output/commit.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/listing_file.h"
#include "orchard/pipeline/progress.h"
#include "orchard/pipeline/shard.h"
#include "orchard/pipeline/update.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// The featurize options of a job, with its progress line and its first warnings wired in;
/// later warnings are only in the errors table. Not copyable: the callbacks point into it.
class ReportedFeaturizeOptions {
 public:
  ReportedFeaturizeOptions(const JobOptions& options, int64_t images_to_do);
  ReportedFeaturizeOptions(const ReportedFeaturizeOptions&) = delete;
  ReportedFeaturizeOptions& operator=(const ReportedFeaturizeOptions&) = delete;

  const pipeline::FeaturizeOptions& get() const { return featurize_; }
  /// Draws the final progress line.
  void Finish() { progress_.Finish(); }

 private:
  void Warn(const table::ErrorRecord& error);

  std::function<void(const std::string&)> warn_;
  pipeline::ProgressLine progress_;
  std::atomic<int64_t> warnings_{0};
  pipeline::FeaturizeOptions featurize_;
};

/// Which featurizing job.
enum class FeaturizeJobKind {
  kRun,        ///< featurize, fit PCA, project, report, publish everything
  kFeaturize,  ///< features and errors (plus the report) only
};

/// A contiguous range of whole parts of the listing: what one task featurizes. Part p holds
/// the images p*rows_per_part .. of the listing, whatever the shards.
struct ShardPlan {
  int64_t first_part = 0;
  int64_t num_parts = 0;
  int64_t first_item = 0;  ///< index in the listing of the shard's first image
  int64_t num_items = 0;
  /// The shard's bytes [begin_byte, end_byte) of the job's listing file (FeaturizeInputs::Plan).
  int64_t begin_byte = 0;
  int64_t end_byte = 0;
};

/// At most `num_shards` (>= 1) shards of whole parts covering `num_items` images, as even
/// as whole parts allow.
std::vector<ShardPlan> PlanShards(int64_t num_items, int64_t rows_per_part, int64_t num_shards);

/// What a featurizing step holds before its first image is read: the listing, the model
/// (read and checked once: every embedder is made of these bytes), the part size and the
/// planned shards. The featurizing jobs and predict's featurize step share it.
struct FeaturizeInputs {
  /// The sorted listing, in a local temporary file until StageListing copies it to staging.
  pipeline::ListingFile listing;
  /// Where the shards read the listing: staging/listing/listing.bin (after StageListing).
  io::Location listing_location;
  /// `run --update`: the images to featurize (pipeline::PlanUpdate), what the shards read
  /// instead of the whole listing, and where they read it (staging/update/listing/).
  std::unique_ptr<pipeline::ListingFile> update_work;
  io::Location update_work_location;
  std::string model_bytes;
  std::unique_ptr<model::Embedder> embedder;  ///< the driver's own (embedder_threads)
  int64_t rows_per_part = 0;
  std::vector<ShardPlan> shards;
  double list_seconds = 0;

  int64_t num_items() const { return listing.num_items(); }
  /// What the shards featurize: the update's work, else the whole listing.
  const pipeline::ListingFile& shard_listing() const {
    return update_work ? *update_work : listing;
  }
  int64_t num_parts() const;
  /// Plans `num_shards` (>= 1) shards of whole parts anew.
  void Plan(int64_t num_shards);
  /// Copies the listing into the job's `staging` (output::kListingDir), where every shard,
  /// on any machine, reads its range of it.
  Status StageListing(const io::Location& staging);
  /// The bytes of the staged listing that hold `shard`'s images.
  pipeline::ListingRange RangeOf(const ShardPlan& shard) const;
  /// The featurize options a shard runs with: the job's, at the shard's part offset.
  pipeline::FeaturizeOptions ShardOptions(const JobOptions& options, const ShardPlan& shard) const;
};

/// Lists `input` (--path-glob applied), refusing an empty listing (`expected`: what the
/// input should hold), reads and checks the model and makes the driver's embedder with
/// `embedder_threads` threads. Plans one shard.
Result<FeaturizeInputs> PrepareFeaturize(const io::Location& input, const JobOptions& options,
                                         const std::string& expected, int embedder_threads);

class FeaturizeDriver {
 public:
  /// Everything before the first image is read (see the top of this file). `command` names
  /// the job in summary.json ("run", "featurize", "spark"); `num_shards` how many shards
  /// to plan (the CLI: 1); `embedder_threads` the threads of the driver's own embedder
  /// (the CLI embeds with it; a distributed driver only probes the model: 1).
  static Result<std::unique_ptr<FeaturizeDriver>> Begin(const JobOptions& options,
                                                        FeaturizeJobKind kind,
                                                        const std::string& command,
                                                        int64_t num_shards, int embedder_threads);

  /// The resolved options (ResolveJobOptions): threads a core count, the model chosen.
  const JobOptions& options() const { return options_; }
  const JobLocations& locations() const { return where_; }
  /// OUT/_temporary: where every shard writes.
  const io::Location& staging() const { return committer_->staging(); }
  /// The listing, the model, the part size and the shards (FeaturizeInputs).
  const FeaturizeInputs& inputs() const { return inputs_; }
  /// The staged listing's range of `shard` (what FeaturizeShard reads).
  pipeline::ListingRange RangeOf(const ShardPlan& shard) const { return inputs_.RangeOf(shard); }
  const std::vector<ShardPlan>& shards() const { return inputs_.shards; }
  int64_t rows_per_part() const { return inputs_.rows_per_part; }
  /// The model, read once and checked: tasks make their embedders of these bytes.
  const std::string& model_bytes() const { return inputs_.model_bytes; }
  const model::ModelInfo& model_info() const { return inputs_.embedder->info(); }
  /// The driver's embedder of the model (embedder_threads threads).
  const model::Embedder& embedder() const { return *inputs_.embedder; }
  /// Images not already in parts an interrupted run left (an estimate, for progress).
  int64_t images_to_do() const { return images_to_do_; }
  /// Where the shards write their parts: staging, or staging/update for `run --update`
  /// (whose parts are then assembled with the output's own rows into staging).
  io::Location featurize_staging() const;
  /// The summary so far (its featurize counts after FinishFeaturize).
  const output::JobSummary& summary() const { return summary_; }
  /// `run --update`: what it found (set by Begin).
  const std::optional<pipeline::UpdateCounts>& update_counts() const { return update_counts_; }
  /// Plans `num_shards` (>= 1) shards anew: a front end that sizes its shards from the
  /// listing (the Spark job: from the cluster's capacity and the parts) plans after Begin.
  void PlanShards(int64_t num_shards) { inputs_.Plan(num_shards); }
  /// The featurize options every shard runs with (the shard's part offset aside).
  pipeline::FeaturizeOptions ShardOptions(const ShardPlan& shard) const {
    return inputs_.ShardOptions(options_, shard);
  }

  /// After every shard is featurized: `merged` is their outcomes merged (counts added,
  /// statistics merged), `featurize_seconds` the wall time of the step. `run --update`
  /// then writes the new parts from the output's rows and the featurized ones
  /// (pipeline::AssembleUpdate) and plans the shards anew over the whole listing (the
  /// projection's).
  Status FinishFeaturize(pipeline::ShardOutcome merged, double featurize_seconds);
  /// `run`: fits PCA on the merged statistics and stages pca_model/ and the scree plot.
  Result<pca::PcaModel> FitPca();
  /// `run`: after every shard's features parts are projected into staging/pca.
  void FinishProject(double project_seconds);
  /// Writes summary.json (with `amend` applied: a front end's own fields) and index.html,
  /// then publishes. The driver is done after it.
  Result<output::JobSummary> Finish(
      const std::function<void(output::JobSummary*)>& amend = nullptr);

 private:
  FeaturizeDriver() = default;
  Status PlanUpdate();
  Status AssembleUpdate(pipeline::ShardOutcome* merged);

  JobOptions options_;
  FeaturizeJobKind kind_ = FeaturizeJobKind::kRun;
  JobLocations where_;
  std::optional<output::OutputCommitter> committer_;
  FeaturizeInputs inputs_;
  int64_t images_to_do_ = 0;
  std::optional<pipeline::UpdateCounts> update_counts_;
  pca::PcaStats pca_stats_;
  output::JobSummary summary_;
  std::chrono::steady_clock::time_point start_;
  bool fitted_ = false;
};

}  // namespace orchard::jobs
