// jobs::PredictDriver, the `predict` job as steps: what a distributed front end does, in one
// process (shards featurized apart, prediction groups apart, answers merged), must give the
// output PredictJob gives; and it refuses before it writes.
#include <filesystem>
#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/classify/predict_parts.h"
#include "orchard/jobs/jobs.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/jobs/predict_driver.h"
#include "orchard/jobs/predict_job.h"
#include "orchard/jobs/train_job.h"
#include "orchard/output/layout.h"
#include "orchard/pipeline/shard.h"
#include "small_job.h"

namespace orchard::jobs {
namespace {

namespace fs = std::filesystem;

// A classifier trained on the features of the small input (`orchard run` then `train`).
PredictJobOptions TrainedPredictJob(const orchard::testing::TempDir& dir,
                                    const std::string& output) {
  MakeInput(dir.path() / "in", 3);
  EXPECT_TRUE(RunJob(SmallJob(dir, "train_out")).ok());
  TrainJobOptions train;
  train.input = dir.str() + "/train_out";
  train.model_dir = dir.str() + "/model";
  EXPECT_TRUE(TrainJob(train).ok());
  PredictJobOptions predict;
  predict.job = SmallJob(dir, output);
  predict.model_dir = dir.str() + "/model";
  return predict;
}

// Every step of the driver with `num_shards` featurize shards and `num_groups` prediction
// groups, each run on its own and their answers merged last to first.
Result<PredictSummary> RunPredictSteps(const PredictJobOptions& options, int64_t num_shards,
                                       int64_t num_groups) {
  ORCHARD_ASSIGN_OR_RAISE(auto driver,
                          PredictDriver::Begin(options, "spark predict", num_shards, 1));
  if (driver->featurizes()) {
    const FeaturizeInputs& inputs = driver->inputs();
    std::vector<std::string> answers;
    for (const auto& shard : inputs.shards) {
      ORCHARD_ASSIGN_OR_RAISE(auto embedder, MakeEmbedder(inputs.model_bytes, driver->options(),
                                                          orchard::testing::TestOrtThreads()));
      ORCHARD_ASSIGN_OR_RAISE(
          auto outcome,
          pipeline::FeaturizeShard(inputs.RangeOf(shard), driver->locations().input, *embedder,
                                   driver->staging(), driver->ShardOptions(shard), 1));
      answers.push_back(pipeline::SerializeOutcome(outcome));
    }
    pipeline::ShardOutcome merged;
    for (auto answer = answers.rbegin(); answer != answers.rend(); ++answer) {
      ORCHARD_ASSIGN_OR_RAISE(auto outcome, pipeline::DeserializeOutcome(*answer));
      ORCHARD_RETURN_NOT_OK(pipeline::MergeOutcome(outcome, &merged));
    }
    ORCHARD_RETURN_NOT_OK(driver->FinishFeaturize(merged.stats, 1.0));
  }
  auto counts = classify::PredictionCounts::Zero(driver->classifier().num_classes());
  const auto groups = driver->PlanPredict(num_groups);
  for (auto group = groups.rbegin(); group != groups.rend(); ++group) {
    const auto first = driver->feature_parts().begin() + group->first;
    const std::vector<io::Location> parts(first, first + group->second);
    ORCHARD_ASSIGN_OR_RAISE(
        auto group_counts,
        classify::PredictParts(driver->classifier(), parts, driver->predictions_dir(), 1));
    ORCHARD_RETURN_NOT_OK(counts.Merge(group_counts));
  }
  ORCHARD_RETURN_NOT_OK(driver->FinishPredict(counts, 0.5));
  return driver->Finish([](PredictSummary* amended) {
    amended->engine = output::EngineSummary();
    amended->engine->shards = 3;
  });
}

void ExpectSameFiles(const fs::path& left, const fs::path& right, const char* table,
                     size_t expected) {
  size_t compared = 0;
  for (const auto& entry : fs::directory_iterator(left / table)) {
    EXPECT_EQ(Bytes(entry.path()), Bytes(right / table / entry.path().filename())) << entry.path();
    ++compared;
  }
  EXPECT_EQ(compared, expected) << table;
}

TEST(PredictDriverTest, ShardedStepsGiveTheOutputOfPredictJob) {
  orchard::testing::TempDir dir;
  PredictJobOptions cli = TrainedPredictJob(dir, "cli");
  PredictSummary expected;
  ASSERT_OK_AND_ASSIGN(expected, PredictJob(cli));
  ASSERT_TRUE(expected.images.has_value());
  EXPECT_EQ(expected.images->failed, 1);

  PredictJobOptions sharded = cli;
  sharded.job.output = dir.str() + "/sharded";
  PredictSummary summary;
  ASSERT_OK_AND_ASSIGN(summary, RunPredictSteps(sharded, 3, 2));
  EXPECT_EQ(summary.command, "spark predict");
  EXPECT_EQ(ToJson(summary)["engine"]["shards"], 3);
  EXPECT_EQ(summary.rows, expected.rows);
  EXPECT_EQ(summary.images->ok, expected.images->ok);
  ASSERT_TRUE(summary.accuracy.has_value());
  EXPECT_EQ(summary.accuracy->accuracy, expected.accuracy->accuracy);

  // 10 files, 5 parts of 2: the same parts byte for byte, and the same metrics.
  const fs::path cli_dir = dir.path() / "cli";
  const fs::path sharded_dir = dir.path() / "sharded";
  ASSERT_TRUE(fs::exists(sharded_dir / output::kSuccessFile));
  ExpectSameFiles(cli_dir, sharded_dir, output::kFeaturesDir, 5);
  ExpectSameFiles(cli_dir, sharded_dir, output::kErrorsDir, 1);
  ExpectSameFiles(cli_dir, sharded_dir, output::kPredictionsDir, 5);
  EXPECT_EQ(Bytes(cli_dir / output::kPredictMetricsJson),
            Bytes(sharded_dir / output::kPredictMetricsJson));
  EXPECT_TRUE(fs::exists(sharded_dir / output::kReportDir / "index.html"));
  EXPECT_FALSE(fs::exists(sharded_dir / output::kStagingFolder));

  // From the earlier output: its features parts, in groups, nothing featurized.
  PredictJobOptions from_output = cli;
  from_output.job.input = dir.str() + "/cli";
  from_output.job.output = dir.str() + "/again";
  ASSERT_OK_AND_ASSIGN(summary, RunPredictSteps(from_output, 3, 4));
  EXPECT_FALSE(summary.images.has_value());
  EXPECT_EQ(summary.features_from, from_output.job.input);
  ExpectSameFiles(cli_dir, dir.path() / "again", output::kPredictionsDir, 5);
  EXPECT_FALSE(fs::exists(dir.path() / "again" / output::kFeaturesDir));

  // Steps out of order are refused, never half-done.
  PredictJobOptions early = cli;
  early.job.output = dir.str() + "/early";
  std::unique_ptr<PredictDriver> driver;
  ASSERT_OK_AND_ASSIGN(driver, PredictDriver::Begin(early, "predict", 2, 1));
  ASSERT_TRUE(driver->featurizes());
  EXPECT_EQ(driver->inputs().shards.size(), 2u);
  EXPECT_FALSE(driver->FinishPredict(classify::PredictionCounts::Zero(3), 0).ok());
  EXPECT_FALSE(driver->Finish().ok());
  EXPECT_FALSE(fs::exists(dir.path() / "early" / output::kSuccessFile));
}

TEST(PredictDriverTest, RefusesBeforeWriting) {
  orchard::testing::TempDir dir;
  MakeInput(dir.path() / "in", 1);
  PredictJobOptions options;
  options.job = SmallJob(dir, "in/pred");
  options.model_dir = dir.str() + "/nowhere";
  auto refused = PredictDriver::Begin(options, "predict", 1, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsUsageError(refused.status()));  // the output inside the input
  EXPECT_FALSE(fs::exists(dir.path() / "in" / "pred"));

  options.job = SmallJob(dir, "pred");
  refused = PredictDriver::Begin(options, "predict", 1, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("nowhere"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir.path() / "pred"));
}

}  // namespace
}  // namespace orchard::jobs
