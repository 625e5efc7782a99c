#include "orchard/jobs/predict_driver.h"

#include <algorithm>
#include <utility>

#include "orchard/classify/classifier_file.h"
#include "orchard/classify/predict_parts.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/output/layout.h"
#include "orchard/table/tables.h"
#include "orchard/util/memory.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::jobs {
namespace {

using util::Clock;
using util::SecondsSince;

// A predict output has no resume: each run starts afresh, so one fingerprint serves all.
constexpr const char* kPredictFingerprint = "orchard-predict";

}  // namespace

Result<std::unique_ptr<PredictDriver>> PredictDriver::Begin(const PredictJobOptions& requested,
                                                            const std::string& command,
                                                            int64_t num_shards,
                                                            int embedder_threads) {
  std::unique_ptr<PredictDriver> driver(new PredictDriver());
  driver->start_ = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(driver->options_, ResolveJobOptions(requested.job));
  const JobOptions& options = driver->options_;
  ORCHARD_ASSIGN_OR_RAISE(driver->where_,
                          ResolveJobLocations(options.input, options.output, options.storage,
                                              /*need_input=*/true));
  ORCHARD_ASSIGN_OR_RAISE(driver->model_dir_,
                          io::ResolveLocation(requested.model_dir, options.storage));
  ORCHARD_ASSIGN_OR_RAISE(driver->classifier_, classify::LoadClassifier(driver->model_dir_));
  const io::Location& input = driver->where_.input;
  const classify::Classifier& classifier = driver->classifier_;
  PredictSummary& summary = driver->summary_;
  summary.orchard_version = kVersion;
  summary.command = command;
  summary.input = options.input;
  summary.output = options.output;
  summary.classifier = requested.model_dir;
  summary.threads = options.threads;

  // An earlier output (features table + _SUCCESS) is predicted from its features.
  ORCHARD_ASSIGN_OR_RAISE(auto earlier_parts, table::ListParts(input.Child(output::kFeaturesDir)));
  ORCHARD_ASSIGN_OR_RAISE(bool earlier_complete, io::FileExists(input.Child(output::kSuccessFile)));
  driver->featurizes_ = earlier_parts.empty() || !earlier_complete;
  if (!driver->featurizes_) {
    summary.features_from = options.input;
    summary.model_sha256 = RecordedModelSha256(input);
    ORCHARD_RETURN_NOT_OK(classify::CheckBackbone(classifier, summary.model_sha256,
                                                  "the features of " + input.display));
    driver->feature_parts_ = std::move(earlier_parts);
    driver->publish_ = {output::kPredictionsDir, output::kReportDir};
  } else {
    ORCHARD_ASSIGN_OR_RAISE(
        driver->inputs_,
        PrepareFeaturize(input, options,
                         "image files (one sub-folder per label) or an earlier output",
                         embedder_threads));
    const model::ModelInfo& model = driver->inputs_.embedder->info();
    summary.model_path = options.model;
    summary.model_sha256 = model.sha256;
    ORCHARD_RETURN_NOT_OK(classify::CheckBackbone(classifier, model.sha256,
                                                  "the features of model '" + options.model + "'"));
    ORCHARD_RETURN_NOT_OK(
        classify::CheckEmbeddingDim(classifier, model.output_dim, "model '" + options.model + "'"));
    driver->inputs_.Plan(num_shards);
    driver->publish_ = {output::kPredictionsDir, output::kReportDir, output::kFeaturesDir,
                        output::kErrorsDir, output::kListingDir};
  }
  ORCHARD_ASSIGN_OR_RAISE(auto committer,
                          output::OutputCommitter::Begin(driver->where_.output, options.existing,
                                                         kPredictFingerprint, &input));
  driver->committer_.emplace(std::move(committer));
  if (driver->featurizes_) {
    ORCHARD_RETURN_NOT_OK(driver->inputs_.StageListing(driver->staging()));
  }
  return driver;
}

Status PredictDriver::FinishFeaturize(const pipeline::FeaturizeStats& merged,
                                      double featurize_seconds) {
  if (!featurizes_ || featurized_) {
    return Status::Invalid("internal: FinishFeaturize called twice, or for an earlier output");
  }
  featurized_ = true;
  // An errors table even without errors, as `orchard run` writes it.
  const io::Location staging_dir = staging();
  ORCHARD_RETURN_NOT_OK(table::EnsureErrorsTable(staging_dir.Child(output::kErrorsDir)));
  ORCHARD_ASSIGN_OR_RAISE(feature_parts_,
                          table::ListParts(staging_dir.Child(output::kFeaturesDir)));
  summary_.images = PredictSummary::Images{
      inputs_.num_items(), merged.ok, merged.failed,
      featurize_seconds > 0 ? static_cast<double>(merged.images) / featurize_seconds : 0.0};
  summary_.seconds["featurize"] = featurize_seconds;
  return Status::OK();
}

io::Location PredictDriver::predictions_dir() const {
  return staging().Child(output::kPredictionsDir);
}

std::vector<std::pair<int64_t, int64_t>> PredictDriver::PlanPredict(int64_t num_groups) const {
  const auto num_parts = static_cast<int64_t>(feature_parts_.size());
  num_groups = std::max<int64_t>(1, std::min(num_groups, num_parts));
  std::vector<std::pair<int64_t, int64_t>> groups;
  for (int64_t index = 0; index < num_groups && num_parts > 0; ++index) {
    const int64_t first = index * num_parts / num_groups;
    groups.emplace_back(first, (index + 1) * num_parts / num_groups - first);
  }
  return groups;
}

Status PredictDriver::FinishPredict(const classify::PredictionCounts& merged,
                                    double predict_seconds) {
  if (featurizes_ != featurized_ || predicted_) {
    return Status::Invalid("internal: FinishPredict called twice, or before FinishFeaturize");
  }
  predicted_ = true;
  summary_.seconds["predict"] = predict_seconds;
  summary_.rows = merged.rows;
  const classify::PredictMetrics metrics =
      classify::ComputePredictMetrics(classifier_.classes, merged);
  if (metrics.labelled_rows > 0) {
    ORCHARD_RETURN_NOT_OK(io::WriteAll(staging().Child(output::kPredictMetricsJson),
                                       util::DumpJson(metrics.ToJson(), 2)));
    summary_.accuracy =
        PredictSummary::Accuracy{metrics.accuracy, metrics.top5_accuracy, metrics.labelled_rows};
  }
  return Status::OK();
}

Result<PredictSummary> PredictDriver::Finish(const std::function<void(PredictSummary*)>& amend) {
  if (!predicted_) return Status::Invalid("internal: a predict job finished without predicting");
  if (amend) amend(&summary_);
  const io::Location staging_dir = staging();
  summary_.seconds["total"] = SecondsSince(start_);
  summary_.peak_rss_mib = util::PeakRssMiB();
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(staging_dir.Child(output::kSummaryJson), util::DumpJson(ToJson(summary_), 2)));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(staging_dir));  // reads metrics.json
  ORCHARD_RETURN_NOT_OK(committer_->Publish(publish_));
  return summary_;
}

}  // namespace orchard::jobs
