// The steps the CLI jobs are made of: locating input and output, the featurize options with
// their reporting, and featurizing into a commit's staging folder.
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>

#include "../test_util.h"
#include "orchard/output/layout.h"
#include "orchard/pipeline/job_locations.h"
#include "orchard/pipeline/staged_featurize.h"
#include "orchard/table/tables.h"

namespace orchard::pipeline {
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

TEST(StagedFeaturizeTest, FeaturizesIntoStagingAndSummarizes) {
  orchard::testing::TempDir dir;
  for (int idx = 0; idx < 3; ++idx) {
    fs::create_directories(dir.path() / "in" / "kiwi");
    cv::Mat image(30 + idx, 40, CV_8UC3, cv::Scalar(idx * 60, 90, 200));
    const std::string name = std::string("k").append(std::to_string(idx)).append(".png");
    cv::imwrite((dir.path() / "in" / "kiwi" / name).string(), image);
  }
  std::ofstream(dir.path() / "in" / "kiwi" / "broken.jpg") << "not an image";
  JobOptions options;
  options.model = orchard::testing::ModelPath();
  options.threads = orchard::testing::TestOrtThreads();  // the job's core count sets ORT's
  options.batch_size = 2;
  options.rows_per_part = 2;
  JobLocations where;
  ASSERT_OK_AND_ASSIGN(where, ResolveJobLocations(dir.str() + "/in", dir.str() + "/out",
                                                  io::StorageOptions{}, true));
  std::optional<table::OutputCommitter> committer;
  StagedFeaturize staged;
  ASSERT_OK_AND_ASSIGN(staged, FeaturizeIntoStaging(options, where, &committer));
  ASSERT_TRUE(committer.has_value());
  EXPECT_EQ(staged.listed, 4);
  EXPECT_EQ(staged.stats.ok, 3);
  EXPECT_EQ(staged.stats.failed, 1);
  EXPECT_EQ(staged.pca.count(), 3);
  EXPECT_EQ(staged.dim, 1280);
  const output::FeaturizeSummary summary = SummaryOf(staged);
  EXPECT_EQ(summary.listed, 4);
  EXPECT_EQ(summary.ok, 3);
  EXPECT_EQ(summary.model_sha256, staged.model_sha256);
  std::vector<io::Location> parts;
  ASSERT_OK_AND_ASSIGN(parts, table::ListParts(committer->staging().Child(output::kFeaturesDir)));
  EXPECT_EQ(parts.size(), 2u);  // 4 listed images, 2 rows per part
  ASSERT_OK_AND_ASSIGN(parts, table::ListParts(committer->staging().Child(output::kErrorsDir)));
  EXPECT_EQ(parts.size(), 1u);
  // Nothing is published by this step.
  EXPECT_FALSE(fs::exists(dir.path() / "out" / "_SUCCESS"));
}

}  // namespace
}  // namespace orchard::pipeline
