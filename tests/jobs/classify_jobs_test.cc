// jobs/train_job.h and jobs/predict_job.h on outputs made here: train on one, predict
// another from its features, refuse features of another embedding model.
#include <filesystem>
#include <nlohmann/json.hpp>

#include "../classify/blobs.h"
#include "../test_util.h"
#include "orchard/classify/classifier.h"
#include "orchard/classify/classifier_file.h"
#include "orchard/jobs/predict_job.h"
#include "orchard/jobs/train_job.h"
#include "orchard/table/tables.h"

namespace orchard::jobs {
namespace {

using orchard::testing::Blobs;

// Writes a finished output as `orchard run` would: features, summary with the model's
// sha256, _SUCCESS.
void WriteFakeOutput(const io::Location& root, const table::VectorRows& rows,
                     const std::string& sha256) {
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_OK_AND_ASSIGN(batch, table::MakeVectorBatch(table::kFeaturesColumn, rows));
  ASSERT_OK(table::WriteParquet(root.Child("features").Child(table::PartName(0)), *batch));
  nlohmann::json summary = {{"model", {{"sha256", sha256}}}};
  ASSERT_OK(io::WriteAll(root.Child("report").Child("summary.json"), summary.dump()));
  ASSERT_OK(io::WriteAll(root.Child("_SUCCESS"), ""));
}

TEST(ClassifyJobsTest, TrainAndPredictFromOutputsAndRefuseAnotherBackbone) {
  orchard::testing::TempDir dir;
  io::Location root;
  ASSERT_OK_AND_ASSIGN(root, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  WriteFakeOutput(root.Child("train_out"), Blobs(3, 30, 5, 5), "sha-of-backbone-a");
  WriteFakeOutput(root.Child("test_out"), Blobs(3, 10, 5, 6), "sha-of-backbone-a");
  WriteFakeOutput(root.Child("other_out"), Blobs(3, 10, 5, 7), "sha-of-backbone-b");

  TrainJobOptions train;
  train.input = dir.str() + "/train_out";
  train.model_dir = dir.str() + "/model";
  TrainSummary trained;
  ASSERT_OK_AND_ASSIGN(trained, TrainJob(train));
  EXPECT_EQ(trained.feature_model_sha256, "sha-of-backbone-a");
  EXPECT_DOUBLE_EQ(trained.training.validation_accuracy.value_or(0), 1.0);
  const nlohmann::json metrics = ToJson(trained, /*with_output=*/false);
  EXPECT_EQ(metrics["feature_model_sha256"], "sha-of-backbone-a");
  EXPECT_FALSE(metrics.contains("output"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "model" / "metrics.json"));
  EXPECT_FALSE(TrainJob(train).ok());  // refuses to replace without --overwrite
  train.overwrite = true;
  ASSERT_OK(TrainJob(train).status());

  PredictJobOptions predict;
  predict.model_dir = dir.str() + "/model";
  predict.job.input = dir.str() + "/test_out";
  predict.job.output = dir.str() + "/pred";
  PredictSummary summary;
  ASSERT_OK_AND_ASSIGN(summary, PredictJob(predict));
  ASSERT_TRUE(summary.accuracy.has_value());
  EXPECT_DOUBLE_EQ(summary.accuracy->accuracy, 1.0);
  EXPECT_FALSE(summary.images.has_value());  // predicted from the earlier output's features
  EXPECT_EQ(ToJson(summary)["features_from"], predict.job.input);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "pred" / "_SUCCESS"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "pred" / "report" / "metrics.json"));
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "pred" / "predictions" / "part-00000.parquet"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "pred" / "_temporary"));

  predict.job.input = dir.str() + "/other_out";
  predict.job.output = dir.str() + "/pred_other";
  auto refused = PredictJob(predict);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("sha-of-backbone-a"), std::string::npos);
  EXPECT_NE(refused.status().message().find("sha-of-backbone-b"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "pred_other" / "_SUCCESS"));

  classify::Classifier classifier;
  ASSERT_OK_AND_ASSIGN(classifier, classify::LoadClassifier(root.Child("model")));
  EXPECT_TRUE(classify::CheckBackbone(classifier, "sha-of-backbone-a", "x").ok());
  EXPECT_FALSE(classify::CheckBackbone(classifier, "sha-of-backbone-b", "x").ok());
}

}  // namespace
}  // namespace orchard::jobs
