#include "orchard/classify/classifier.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "../test_util.h"
#include "blobs.h"
#include "orchard/classify/classifier_file.h"
#include "orchard/classify/trainer.h"

namespace orchard::classify {
namespace {

using orchard::testing::Blobs;

int64_t Argmax(const std::vector<float>& probabilities, int64_t row_idx, int64_t num_classes) {
  auto begin = probabilities.begin() + row_idx * num_classes;
  return std::max_element(begin, begin + num_classes) - begin;
}

TEST(StratifiedSplitTest, HoldsOutTheShareOfEveryLabelDeterministically) {
  std::vector<std::string> labels;
  for (int idx = 0; idx < 40; ++idx) labels.push_back("a");
  for (int idx = 0; idx < 20; ++idx) labels.push_back("b");
  labels.push_back("c");  // a single row always stays in training
  for (int idx = 0; idx < 5; ++idx) labels.push_back("d");
  std::shuffle(labels.begin(), labels.end(), std::mt19937_64(7));

  const Split split = StratifiedSplit(labels, 0.1, 42);
  std::map<std::string, int> held;
  for (int64_t row_idx : split.validation) ++held[labels[static_cast<size_t>(row_idx)]];
  EXPECT_EQ(held["a"], 4);
  EXPECT_EQ(held["b"], 2);
  EXPECT_EQ(held["c"], 0);
  EXPECT_EQ(held["d"], 1);  // round(0.5) -> at least one held out for labels with >= 2 rows
  std::set<int64_t> all(split.train.begin(), split.train.end());
  for (int64_t row_idx : split.validation) EXPECT_TRUE(all.insert(row_idx).second);
  EXPECT_EQ(all.size(), labels.size());
  EXPECT_TRUE(std::is_sorted(split.train.begin(), split.train.end()));

  const Split again = StratifiedSplit(labels, 0.1, 42);
  EXPECT_EQ(again.validation, split.validation);
  EXPECT_EQ(again.train, split.train);
  EXPECT_NE(StratifiedSplit(labels, 0.1, 43).validation, split.validation);
  EXPECT_TRUE(StratifiedSplit(labels, 0.0, 42).validation.empty());
}

TEST(ClassifierTest, LearnsSeparableDataExactly) {
  const table::VectorRows train = Blobs(5, 40, 8, 1);
  TrainReport report;
  Classifier classifier;
  ASSERT_OK_AND_ASSIGN(classifier, Train(train, TrainOptions{}, &report));
  EXPECT_EQ(classifier.classes,
            (std::vector<std::string>{"class_0", "class_1", "class_2", "class_3", "class_4"}));
  EXPECT_EQ(report.validation_rows, 20);  // 10 % of 40, per class
  EXPECT_EQ(report.candidates.size(), 5u);
  ASSERT_TRUE(report.validation_accuracy.has_value());
  EXPECT_DOUBLE_EQ(*report.validation_accuracy, 1.0);
  EXPECT_DOUBLE_EQ(report.training_accuracy, 1.0);
  // The JSON of metrics.json keeps every field.
  const nlohmann::json json = ToJson(report);
  EXPECT_EQ(json["validation_rows"], 20);
  EXPECT_EQ(json["candidates"].size(), 5u);
  EXPECT_DOUBLE_EQ(json["validation_accuracy"].get<double>(), 1.0);
  EXPECT_TRUE(json["final_fit"].contains("loss"));
  // Standardization is kept: the mean of the offset axis is about 1000.
  EXPECT_NEAR(classifier.mean[7], 1000.0, 0.5);

  // Fresh points from the same distributions: every one right, probabilities sum to 1.
  const table::VectorRows test = Blobs(5, 20, 8, 2);
  std::vector<float> probabilities(static_cast<size_t>(test.num_rows() * 5));
  classifier.Probabilities(test.values.data(), test.num_rows(), probabilities.data());
  for (int64_t row_idx = 0; row_idx < test.num_rows(); ++row_idx) {
    const int64_t predicted = Argmax(probabilities, row_idx, 5);
    EXPECT_EQ(classifier.classes[static_cast<size_t>(predicted)],
              test.labels[static_cast<size_t>(row_idx)]);
    double sum = 0;
    for (int64_t class_idx = 0; class_idx < 5; ++class_idx)
      sum += probabilities[static_cast<size_t>(row_idx * 5 + class_idx)];
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(ClassifierTest, FixedCAndBadInputs) {
  const table::VectorRows train = Blobs(3, 10, 4, 3);
  TrainOptions options;
  options.c = 0.5;
  TrainReport report;
  Classifier classifier;
  ASSERT_OK_AND_ASSIGN(classifier, Train(train, options, &report));
  EXPECT_DOUBLE_EQ(classifier.c, 0.5);
  EXPECT_FALSE(report.c_chosen);

  table::VectorRows one_label = train;
  std::fill(one_label.labels.begin(), one_label.labels.end(), "same");
  EXPECT_FALSE(Train(one_label, TrainOptions{}, nullptr).ok());
  TrainOptions no_validation;
  no_validation.validation_split = 0;
  EXPECT_FALSE(Train(train, no_validation, nullptr).ok());  // needs --c
  table::VectorRows not_finite = train;
  not_finite.values[3] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_FALSE(Train(not_finite, TrainOptions{}, nullptr).ok());
}

TEST(ClassifierTest, TopKIsSortedAndBounded) {
  const std::vector<float> probabilities = {0.1f, 0.4f, 0.2f, 0.3f};
  EXPECT_EQ(TopK(probabilities.data(), 4, 2), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(TopK(probabilities.data(), 4, 10), (std::vector<int64_t>{1, 3, 2, 0}));
}

TEST(ClassifierTest, RoundTripsThroughTheModelFolder) {
  orchard::testing::TempDir dir;
  io::Location model_dir;
  ASSERT_OK_AND_ASSIGN(model_dir, io::ResolveLocation(dir.str() + "/model", io::StorageOptions{}));
  const table::VectorRows train = Blobs(4, 20, 6, 4);
  Classifier classifier;
  ASSERT_OK_AND_ASSIGN(classifier, Train(train, TrainOptions{}, nullptr));
  classifier.feature_model_sha256 = "abc123";
  ASSERT_OK(SaveClassifier(classifier, model_dir));
  Classifier loaded;
  ASSERT_OK_AND_ASSIGN(loaded, LoadClassifier(model_dir));
  EXPECT_EQ(loaded.classes, classifier.classes);
  EXPECT_EQ(loaded.weights, classifier.weights);
  EXPECT_EQ(loaded.bias, classifier.bias);
  EXPECT_EQ(loaded.mean, classifier.mean);
  EXPECT_EQ(loaded.scale, classifier.scale);
  EXPECT_EQ(loaded.feature_model_sha256, "abc123");
  EXPECT_DOUBLE_EQ(loaded.c, classifier.c);
  std::vector<float> before(static_cast<size_t>(train.num_rows() * 4)), after(before.size());
  classifier.Probabilities(train.values.data(), train.num_rows(), before.data());
  loaded.Probabilities(train.values.data(), train.num_rows(), after.data());
  EXPECT_EQ(before, after);

  io::Location empty;
  ASSERT_OK_AND_ASSIGN(empty, io::ResolveLocation(dir.str() + "/nothing", io::StorageOptions{}));
  auto missing = LoadClassifier(empty);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("orchard train"), std::string::npos);
  ASSERT_OK(io::WriteAll(empty.Child("classifier.json"), "{not json"));
  EXPECT_FALSE(LoadClassifier(empty).ok());
}

// A trained classifier's classifier.json, tampered one field at a time: each is refused
// with a message naming the file and the field.
TEST(ClassifierTest, ParseClassifierValidatesEveryField) {
  Classifier classifier;
  ASSERT_OK_AND_ASSIGN(classifier, Train(Blobs(3, 10, 4, 5), TrainOptions{0, 1, 1.0}, nullptr));
  orchard::testing::TempDir dir;
  ASSERT_OK_AND_ASSIGN(auto root, io::ResolveLocation(dir.str(), {}));
  ASSERT_OK(SaveClassifier(classifier, root));
  const auto good =
      nlohmann::json::parse(orchard::testing::ReadFile(dir.str() + "/classifier.json"));
  ASSERT_TRUE(ParseClassifier(good.dump(), "c.json", nullptr, "p.json").ok());
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](auto& j) { j["scale"][0] = 0.0; }, "'scale'[0]"},
      {[](auto& j) { j["scale"][1] = -2.0; }, "scale[1]"},
      {[](auto& j) { j["mean"][0] = nullptr; }, "'mean'[0]"},
      {[](auto& j) { j["weights"][0][0] = 1e300; }, "'weights[0]'[0]"},
      {[](auto& j) { j["weights"][2].erase(0); }, "'weights[2]'"},
      {[](auto& j) { j["weights"].erase(0); }, "'weights'"},
      {[](auto& j) { j["bias"][0] = "1"; }, "'bias'[0]"},
      {[](auto& j) { j["classes"][2] = j["classes"][0]; }, "classes[2]"},
      {[](auto& j) { j["classes"][1] = ""; }, "classes[1]"},
      {[](auto& j) { j["classes"] = {"one"}; }, "'classes'"},
      {[](auto& j) { j["dim"] = 0; }, "'dim'"},
      {[](auto& j) { j["dim"] = 5; }, "'mean'"},
      {[](auto& j) { j["c"] = -1.0; }, "'c'"},
      {[](auto& j) { j["input"] = "pixels"; }, "'input'"},
      {[](auto& j) { j["feature_model_sha256"] = std::string(200, 'a'); },
       "'feature_model_sha256'"},
      {[](auto& j) { j["input"] = "pca"; }, "p.json"},
  };
  for (const auto& [tamper, field] : cases) {
    nlohmann::json bad = good;
    tamper(bad);
    auto parsed = ParseClassifier(bad.dump(), "c.json", nullptr, "p.json");
    ASSERT_FALSE(parsed.ok()) << field;
    EXPECT_NE(parsed.status().message().find("c.json"), std::string::npos) << parsed.status();
    EXPECT_NE(parsed.status().message().find(field), std::string::npos) << parsed.status();
  }
  EXPECT_FALSE(ParseClassifier("{\"format\": [", "c.json", nullptr, "p.json").ok());
}

// Logits far beyond float range (weights near FLT_MAX, inputs near FLT_MAX) and
// non-finite inputs: probabilities stay finite, in [0, 1], and sum to 1.
TEST(ClassifierTest, ProbabilitiesAreFiniteForExtremeWeightsAndInputs) {
  Classifier classifier;
  classifier.classes = {"a", "b", "c"};
  classifier.dim = 2;
  classifier.mean = {0, 0};
  classifier.scale = {1e-12, 1};
  const float big = std::numeric_limits<float>::max();
  classifier.weights = {big, -big, -big, big, big, big};
  classifier.bias = {big, 0, -big};
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> rows = {big, big, -big, 1, 0, 0, std::nanf(""), 1, inf, -inf};
  std::vector<float> probabilities(5 * 3);
  classifier.Probabilities(rows.data(), 5, probabilities.data());
  for (int row = 0; row < 5; ++row) {
    double sum = 0;
    for (int col = 0; col < 3; ++col) {
      const float value = probabilities[static_cast<size_t>(row * 3 + col)];
      EXPECT_TRUE(std::isfinite(value) && value >= 0 && value <= 1) << row << "," << col;
      sum += value;
    }
    EXPECT_NEAR(sum, 1.0, 1e-6) << row;
  }
  // The first row: class c's logit is 2*big*1e12*big - big, far above the others.
  EXPECT_NEAR(probabilities[2], 1.0, 1e-6);
}

}  // namespace
}  // namespace orchard::classify
