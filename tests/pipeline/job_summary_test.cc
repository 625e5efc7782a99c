#include "orchard/pipeline/job_summary.h"

#include "../test_util.h"

namespace orchard::pipeline {
namespace {

TEST(JobSummaryTest, FitPcaHasNoImagesSection) {
  JobSummary summary;
  summary.command = "fit-pca";
  summary.model_path = "m.onnx";
  summary.model_output = "features";
  summary.pca = PcaSummary{3, 60, 1280, 0.99, 0.5};
  summary.seconds["total"] = 1.5;
  const nlohmann::json json = ToJson(summary);
  EXPECT_EQ(json["command"], "fit-pca");
  EXPECT_EQ(json["model"], (nlohmann::json{{"path", "m.onnx"}, {"output", "features"}}));
  EXPECT_EQ(json["pca"]["k"], 3);
  EXPECT_EQ(json["pca"]["n"], 60);
  EXPECT_EQ(json["pca"]["cumulative_explained_variance_ratio"], 0.5);
  EXPECT_EQ(json["seconds"]["total"], 1.5);
  EXPECT_FALSE(json.contains("images"));
  EXPECT_FALSE(json.contains("busy_seconds"));
}

TEST(JobSummaryTest, FeaturizeAddsImagesModelAndBusySeconds) {
  JobSummary summary;
  summary.command = "featurize";
  FeaturizeSummary featurize;
  featurize.model_sha256 = "abc";
  featurize.model_dim = 1280;
  featurize.listed = 10;
  featurize.ok = 8;
  featurize.failed = 2;
  featurize.embed_seconds = 0.25;
  summary.featurize = featurize;
  const nlohmann::json json = ToJson(summary);
  EXPECT_EQ(json["model"]["sha256"], "abc");
  EXPECT_EQ(json["model"]["dim"], 1280);
  EXPECT_EQ(json["images"],
            (nlohmann::json{
                {"listed", 10}, {"ok", 8}, {"failed", 2}, {"reused_from_interrupted_run", 0}}));
  EXPECT_EQ(json["busy_seconds"]["embed"], 0.25);
  EXPECT_FALSE(json.contains("pca"));
}

}  // namespace
}  // namespace orchard::pipeline
