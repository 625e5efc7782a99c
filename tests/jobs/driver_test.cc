// The jobs layer: locating input and output, the featurize options with their reporting,
// and the driver API a distributed front end calls (Begin -> shards -> Finish), which must
// give the output RunJob gives.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "../test_util.h"
#include "orchard/jobs/jobs.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/table/tables.h"
#include "small_job.h"

namespace orchard::jobs {
namespace {

namespace fs = std::filesystem;

TEST(JobLocationsTest, RefusesMissingFlagsAndResolvesLocalPaths) {
  orchard::testing::TempDir dir;
  const io::StorageOptions storage;
  auto no_input = ResolveJobLocations("", dir.str(), storage, /*need_input=*/true);
  ASSERT_FALSE(no_input.ok());
  EXPECT_NE(no_input.status().message().find("--input"), std::string::npos);
  auto no_output = ResolveJobLocations(dir.str(), "", storage, /*need_input=*/true);
  ASSERT_FALSE(no_output.ok());
  EXPECT_NE(no_output.status().message().find("--output"), std::string::npos);

  JobLocations where;
  ASSERT_OK_AND_ASSIGN(where, ResolveJobLocations("", dir.str() + "/out", storage, false));
  EXPECT_FALSE(where.output.is_object_store);
  EXPECT_EQ(where.output.display, dir.str() + "/out");
  ASSERT_OK(CheckBucket(where.output));  // local: nothing to check
}

TEST(ReportedFeaturizeOptionsTest, ShowsTheFirstWarningsThenPointsAtTheErrorsTable) {
  JobOptions options;
  options.threads = 4;
  options.batch_size = 8;
  options.rows_per_part = 64;
  std::vector<std::string> shown;
  options.warn = [&](const std::string& message) { shown.push_back(message); };
  ReportedFeaturizeOptions featurize(options, /*images_to_do=*/100);
  EXPECT_EQ(featurize.get().prep_threads, 2);
  EXPECT_EQ(featurize.get().batch_size, 8);
  EXPECT_EQ(featurize.get().rows_per_part, 64);
  for (int idx = 0; idx < 30; ++idx) {
    // (std::string + to_string + literal trips GCC 12's -Wrestrict false positive.)
    const std::string name = std::string("f").append(std::to_string(idx)).append(".jpg");
    featurize.get().on_error({name, "decode", "bad"});
    featurize.get().on_progress(idx, idx);
  }
  featurize.Finish();
  ASSERT_EQ(shown.size(), 21u);
  EXPECT_EQ(shown.front(), "f0.jpg: decode: bad");
  EXPECT_EQ(shown[19], "f19.jpg: decode: bad");
  EXPECT_EQ(shown.back(), "more failed images: see the errors table");

  options.threads = 1;
  EXPECT_EQ(FeaturizeOptionsOf(options).prep_threads, 1);
}

TEST(PlanShardsTest, WholePartsAsEvenAsPossible) {
  const auto shards = PlanShards(/*num_items=*/11, /*rows_per_part=*/2, /*num_shards=*/3);
  ASSERT_EQ(shards.size(), 3u);  // 6 parts
  int64_t next_part = 0;
  int64_t next_item = 0;
  for (const auto& shard : shards) {
    EXPECT_EQ(shard.first_part, next_part);
    EXPECT_EQ(shard.num_parts, 2);
    EXPECT_EQ(shard.first_item, next_item);
    next_part += shard.num_parts;
    next_item += shard.num_items;
  }
  EXPECT_EQ(next_item, 11);
  EXPECT_EQ(shards.back().num_items, 3);
  EXPECT_EQ(PlanShards(3, 2, 10).size(), 2u);  // never more shards than parts
  EXPECT_EQ(PlanShards(3, 2, 0).size(), 1u);
}

// What a distributed front end does, in one process: Begin plans shards, each shard is
// featurized and projected on its own, outcomes travel serialized and merge in any order.
TEST(FeaturizeDriverTest, ShardedStepsGiveTheOutputOfRunJob) {
  orchard::testing::TempDir dir;
  MakeInput(dir.path() / "in", 3);
  ASSERT_OK(RunJob(SmallJob(dir, "cli")).status());

  std::unique_ptr<FeaturizeDriver> driver;
  ASSERT_OK_AND_ASSIGN(driver, FeaturizeDriver::Begin(SmallJob(dir, "sharded"),
                                                      FeaturizeJobKind::kRun, "spark", 3, 1));
  ASSERT_EQ(driver->shards().size(), 3u);  // 10 images, 5 parts of 2
  EXPECT_FALSE(fs::exists(dir.path() / "sharded" / "_SUCCESS"));
  std::vector<std::string> answers;
  for (const auto& shard : driver->shards()) {
    // What a task receives: its byte range of the staged listing, nothing else.
    const pipeline::ListingRange range = driver->RangeOf(shard);
    std::unique_ptr<model::Embedder> embedder;
    ASSERT_OK_AND_ASSIGN(embedder, MakeEmbedder(driver->model_bytes(), driver->options(),
                                                orchard::testing::TestOrtThreads()));
    pipeline::ShardOutcome outcome;
    ASSERT_OK_AND_ASSIGN(
        outcome, pipeline::FeaturizeShard(range, driver->locations().input, *embedder,
                                          driver->staging(), driver->ShardOptions(shard), 1));
    answers.push_back(pipeline::SerializeOutcome(outcome));
  }
  // Merged last-to-first: the merge is associative and commutative in what it sums.
  pipeline::ShardOutcome merged;
  for (auto answer = answers.rbegin(); answer != answers.rend(); ++answer) {
    pipeline::ShardOutcome outcome;
    ASSERT_OK_AND_ASSIGN(outcome, pipeline::DeserializeOutcome(*answer));
    ASSERT_OK(pipeline::MergeOutcome(outcome, &merged));
  }
  EXPECT_EQ(merged.stats.ok, 9);
  EXPECT_EQ(merged.stats.failed, 1);
  ASSERT_OK(driver->FinishFeaturize(merged, 1.0));
  pca::PcaModel model;
  ASSERT_OK_AND_ASSIGN(model, driver->FitPca());
  for (const auto& shard : driver->shards()) {
    std::vector<io::Location> parts;
    for (int64_t part = shard.first_part; part < shard.first_part + shard.num_parts; ++part) {
      parts.push_back(driver->staging().Child(output::kFeaturesDir).Child(table::PartName(part)));
    }
    ASSERT_OK(pipeline::ProjectParts(parts, model, driver->staging().Child(output::kPcaDir), 1));
  }
  driver->FinishProject(0.5);
  output::JobSummary summary;
  ASSERT_OK_AND_ASSIGN(summary, driver->Finish([](output::JobSummary* amended) {
    amended->seconds["spark_extra"] = 1;
  }));
  EXPECT_EQ(summary.command, "spark");
  EXPECT_EQ(summary.featurize->listed, 10);

  // The same rows byte for byte; the PCA up to float rounding (the statistics are summed
  // in another order).
  const fs::path cli = dir.path() / "cli";
  const fs::path sharded = dir.path() / "sharded";
  ASSERT_TRUE(fs::exists(sharded / "_SUCCESS"));
  size_t compared = 0;
  for (const char* table : {output::kFeaturesDir, output::kErrorsDir}) {
    for (const auto& entry : fs::directory_iterator(cli / table)) {
      EXPECT_EQ(Bytes(entry.path()), Bytes(sharded / table / entry.path().filename()))
          << entry.path();
      ++compared;
    }
  }
  EXPECT_EQ(compared, 5u + 1u);
  io::Location cli_out;
  io::Location sharded_out;
  ASSERT_OK_AND_ASSIGN(cli_out, io::ResolveLocation(cli.string(), {}));
  ASSERT_OK_AND_ASSIGN(sharded_out, io::ResolveLocation(sharded.string(), {}));
  pca::PcaModel cli_model;
  pca::PcaModel sharded_model;
  ASSERT_OK_AND_ASSIGN(cli_model, output::ReadPcaModel(cli_out));
  ASSERT_OK_AND_ASSIGN(sharded_model, output::ReadPcaModel(sharded_out));
  EXPECT_EQ(sharded_model.k, cli_model.k);
  EXPECT_EQ(sharded_model.count, cli_model.count);
  for (size_t idx = 0; idx < cli_model.mean.size(); ++idx) {
    ASSERT_NEAR(sharded_model.mean[idx], cli_model.mean[idx], 1e-9);
  }
  for (size_t part = 0; part < 5; ++part) {
    table::VectorRows cli_rows;
    table::VectorRows sharded_rows;
    const std::string name = table::PartName(static_cast<int64_t>(part));
    ASSERT_OK_AND_ASSIGN(cli_rows, table::ReadVectorFile(cli_out.Child("pca").Child(name), "pca"));
    ASSERT_OK_AND_ASSIGN(sharded_rows,
                         table::ReadVectorFile(sharded_out.Child("pca").Child(name), "pca"));
    ASSERT_EQ(sharded_rows.paths, cli_rows.paths);
    ASSERT_EQ(sharded_rows.values.size(), cli_rows.values.size());
    for (size_t idx = 0; idx < cli_rows.values.size(); ++idx) {
      ASSERT_NEAR(sharded_rows.values[idx], cli_rows.values[idx], 1e-3) << name << " " << idx;
    }
  }
  EXPECT_FALSE(fs::exists(sharded / output::kStagingFolder));
}

TEST(FeaturizeDriverTest, BeginRefusesBeforeWritingAndPublishesNothingUntilFinish) {
  orchard::testing::TempDir dir;
  MakeInput(dir.path() / "in", 1);
  JobOptions inside = SmallJob(dir, "in/out");
  auto refused = FeaturizeDriver::Begin(inside, FeaturizeJobKind::kRun, "run", 1, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(IsUsageError(refused.status()));
  EXPECT_FALSE(fs::exists(dir.path() / "in" / "out"));

  std::unique_ptr<FeaturizeDriver> driver;
  ASSERT_OK_AND_ASSIGN(driver,
                       FeaturizeDriver::Begin(SmallJob(dir, "out"), FeaturizeJobKind::kFeaturize,
                                              "featurize", 4, 1));
  EXPECT_EQ(driver->inputs().num_items(), 4);
  EXPECT_EQ(driver->shards().size(), 2u);
  EXPECT_EQ(driver->model_info().output_dim, 1280);
  EXPECT_FALSE(driver->FitPca().ok());  // a featurize job has no PCA step
  ASSERT_OK(driver->FinishFeaturize(pipeline::ShardOutcome(), 0));
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "_SUCCESS"));
  ASSERT_OK(driver->Finish().status());
  EXPECT_TRUE(fs::exists(dir.path() / "out" / "_SUCCESS"));
  EXPECT_TRUE(fs::exists(dir.path() / "out" / output::kErrorsDir));
  EXPECT_FALSE(fs::exists(dir.path() / "out" / output::kPcaDir));
}

TEST(ResolveJobOptionsTest, WorksOutThreadsAndTheShippedModelOnce) {
  JobOptions options;
  options.shipped_model = "/opt/orchard/mobilenet.onnx";
  ::unsetenv(kModelEnv);
  JobOptions resolved;
  ASSERT_OK_AND_ASSIGN(resolved, ResolveJobOptions(options));
  EXPECT_GE(resolved.threads, 1);
  EXPECT_EQ(resolved.model, options.shipped_model);
  EXPECT_EQ(resolved.model_sha256, model::kDefaultModelSha256);
  options.model = "mine.onnx";
  ASSERT_OK_AND_ASSIGN(resolved, ResolveJobOptions(options));
  EXPECT_EQ(resolved.model, "mine.onnx");
  EXPECT_TRUE(resolved.model_sha256.empty());
  options.model.clear();
  ::setenv(kModelEnv, "/models/env.onnx", 1);
  ASSERT_OK_AND_ASSIGN(resolved, ResolveJobOptions(options));
  ::unsetenv(kModelEnv);
  EXPECT_EQ(resolved.model, "/models/env.onnx");
  EXPECT_TRUE(resolved.model_sha256.empty());
  options.threads = MaxThreads() + 1;
  EXPECT_FALSE(ResolveJobOptions(options).ok());
}

}  // namespace
}  // namespace orchard::jobs
