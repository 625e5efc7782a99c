// The `predict` job as steps, like the featurizing jobs' driver (run_driver.h): the CLI
// runs them in one process (PredictJob), a distributed front end (the Spark job) calls
// Begin on its driver and runs each step's shards in its tasks:
//
//   Begin     resolve options and locations, load the classifier; for images: list, read
//             and check the model against the classifier; for an earlier output: check its
//             recorded model; begin the commit (placement, policy); plan
//   shards    pipeline::FeaturizeShard per ShardPlan        (images only; tasks, anywhere)
//   FinishFeaturize(merged stats)  errors table, counts, the features parts to predict
//   groups    classify::PredictParts per PartGroup          (tasks, anywhere)
//   FinishPredict(merged counts)   report/metrics.json when rows are labelled
//   Finish                         summary.json, index.html, publish (_SUCCESS last)
//
// Nothing of the job's sequence lives in a front end.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/classify/metrics.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/options.h"
#include "orchard/jobs/predict_job.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/output/commit.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

class PredictDriver {
 public:
  /// Everything that can refuse the job, checked before the output is touched (see the top
  /// of this file). `command` names the job in summary.json ("predict", "spark predict").
  static Result<std::unique_ptr<PredictDriver>> Begin(const PredictJobOptions& options,
                                                      const std::string& command,
                                                      int64_t num_shards, int embedder_threads);

  const JobOptions& options() const { return options_; }
  const JobLocations& locations() const { return where_; }
  const io::Location& staging() const { return committer_->staging(); }
  const classify::Classifier& classifier() const { return classifier_; }
  /// The classifier's folder, resolved (tasks load the classifier from it).
  const io::Location& model_dir() const { return model_dir_; }

  /// False when the input is an earlier output: its features parts are predicted and
  /// nothing is featurized (no featurize step, inputs() empty).
  bool featurizes() const { return featurizes_; }
  /// The featurize step's listing, model, part size and shards (featurizes() only).
  const FeaturizeInputs& inputs() const { return inputs_; }
  void PlanShards(int64_t num_shards) { inputs_.Plan(num_shards); }
  pipeline::FeaturizeOptions ShardOptions(const ShardPlan& shard) const {
    return inputs_.ShardOptions(options_, shard);
  }
  /// After every shard is featurized: their statistics merged, the step's wall time.
  Status FinishFeaturize(const pipeline::FeaturizeStats& merged, double featurize_seconds);

  /// The features parts to predict: the earlier output's, or (after FinishFeaturize) the
  /// staged ones.
  const std::vector<io::Location>& feature_parts() const { return feature_parts_; }
  /// Where each predictions part goes, under its features part's name.
  io::Location predictions_dir() const;
  /// At most `num_groups` (>= 1) contiguous runs of feature_parts(), as even as possible:
  /// what each prediction task predicts. [(first index, count)]
  std::vector<std::pair<int64_t, int64_t>> PlanPredict(int64_t num_groups) const;
  /// After every group is predicted: their counts merged, the step's wall time. Writes
  /// report/metrics.json when rows carry labels the classifier knows.
  Status FinishPredict(const classify::PredictionCounts& merged, double predict_seconds);

  /// Writes summary.json (with `amend` applied: a front end's own fields) and index.html,
  /// then publishes. The driver is done after it.
  Result<PredictSummary> Finish(const std::function<void(PredictSummary*)>& amend = nullptr);

 private:
  PredictDriver() = default;

  JobOptions options_;
  JobLocations where_;
  io::Location model_dir_;
  classify::Classifier classifier_;
  std::optional<output::OutputCommitter> committer_;
  bool featurizes_ = false;
  FeaturizeInputs inputs_;
  std::vector<io::Location> feature_parts_;
  std::vector<std::string> publish_;
  PredictSummary summary_;
  std::chrono::steady_clock::time_point start_;
  bool featurized_ = false;
  bool predicted_ = false;
};

}  // namespace orchard::jobs
