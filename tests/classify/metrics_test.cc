#include "orchard/classify/metrics.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "../test_util.h"

namespace orchard::classify {
namespace {

const std::vector<std::string> kClasses = {"a", "b", "c", "d"};

// Adds `rows` rows of true class `true_class` (-1: the label `label`, unknown) whose best
// class is `best`; the true class is in the top 2 when `in_top`.
void AddRows(PredictionCounts* counts, int rows, const std::string& label, int64_t true_class,
             int64_t best, bool in_top) {
  const int64_t other = (best + 1) % 4 == true_class ? (best + 2) % 4 : (best + 1) % 4;
  const std::vector<int64_t> top = {best, in_top && true_class != best ? true_class : other};
  for (int row = 0; row < rows; ++row) counts->Add(label, true_class, top, 4);
}

// By hand: true a: 3 -> a, 1 -> b; true b: 2 -> b, 2 -> c; true c: 1 -> a, 1 -> c; no d;
// 2 rows of the unknown label "z". 10 labelled rows, 6 right; the true class is in the
// top 2 of 9 of them (all but one of the b -> c rows).
PredictionCounts HandMadeCounts() {
  PredictionCounts counts = PredictionCounts::Zero(4);
  AddRows(&counts, 3, "a", 0, 0, true);
  AddRows(&counts, 1, "a", 0, 1, true);
  AddRows(&counts, 2, "b", 1, 1, true);
  AddRows(&counts, 1, "b", 1, 2, true);
  AddRows(&counts, 1, "b", 1, 2, false);
  AddRows(&counts, 1, "c", 2, 0, true);
  AddRows(&counts, 1, "c", 2, 2, true);
  AddRows(&counts, 2, "z", -1, 3, false);
  return counts;
}

TEST(PredictionCountsTest, AddCountsTheConfusionTopAndUnknownLabels) {
  const PredictionCounts counts = HandMadeCounts();
  EXPECT_EQ(counts.rows, 12);
  EXPECT_EQ(counts.confusion,
            (std::vector<int64_t>{3, 1, 0, 0, 0, 2, 2, 0, 1, 0, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(counts.top_correct, 9);
  EXPECT_EQ(counts.unknown_labels, (std::map<std::string, int64_t>{{"z", 2}}));
}

TEST(PredictMetricsTest, ExactMetricsOfAHandMadeConfusion) {
  const PredictMetrics metrics = ComputePredictMetrics(kClasses, HandMadeCounts());
  EXPECT_EQ(metrics.rows, 12);
  EXPECT_EQ(metrics.labelled_rows, 10);
  EXPECT_EQ(metrics.unknown_label_rows, 2);
  EXPECT_DOUBLE_EQ(metrics.accuracy, 0.6);
  EXPECT_DOUBLE_EQ(metrics.top5_accuracy, 0.9);
  ASSERT_EQ(metrics.per_class.size(), 4u);
  // a: 3 of the 4 predicted a are a, 3 of the 4 a found.
  EXPECT_DOUBLE_EQ(metrics.per_class[0].precision, 0.75);
  EXPECT_DOUBLE_EQ(metrics.per_class[0].recall, 0.75);
  EXPECT_DOUBLE_EQ(metrics.per_class[0].f1, 0.75);
  EXPECT_EQ(metrics.per_class[0].support, 4);
  // b: 2 of 3 predicted, 2 of 4 found: F1 = 2 (2/3)(1/2) / (2/3 + 1/2) = 4/7.
  EXPECT_DOUBLE_EQ(metrics.per_class[1].precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics.per_class[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(metrics.per_class[1].f1, 4.0 / 7.0);
  // c: 1 of 3 predicted, 1 of 2 found: F1 = 2/5.
  EXPECT_DOUBLE_EQ(metrics.per_class[2].precision, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics.per_class[2].recall, 0.5);
  EXPECT_DOUBLE_EQ(metrics.per_class[2].f1, 0.4);
  EXPECT_EQ(metrics.per_class[2].support, 2);
  // d: never true, never predicted: zeros, not NaN.
  EXPECT_EQ(metrics.per_class[3].precision, 0.0);
  EXPECT_EQ(metrics.per_class[3].recall, 0.0);
  EXPECT_EQ(metrics.per_class[3].f1, 0.0);
  EXPECT_EQ(metrics.per_class[3].support, 0);
  EXPECT_DOUBLE_EQ(metrics.macro_f1, (0.75 + 4.0 / 7.0 + 0.4 + 0.0) / 4.0);
  EXPECT_EQ(metrics.confusion[1], (std::vector<int64_t>{0, 2, 2, 0}));
  EXPECT_EQ(metrics.unknown_labels.at("z"), 2);

  // The document's layout, as report/metrics.json has it.
  const nlohmann::json json = metrics.ToJson();
  EXPECT_EQ(json["per_class"]["b"]["support"], 4);
  EXPECT_EQ(json["confusion_matrix"]["labels"], nlohmann::json(kClasses));
  EXPECT_EQ(json["confusion_matrix"]["rows_true_columns_predicted"][2],
            nlohmann::json({1, 0, 1, 0}));
}

TEST(PredictMetricsTest, NoLabelledRowsAndAForeignConfusionGiveZeros) {
  PredictionCounts unlabelled = PredictionCounts::Zero(4);
  AddRows(&unlabelled, 3, "z", -1, 0, false);
  PredictMetrics metrics = ComputePredictMetrics(kClasses, unlabelled);
  EXPECT_EQ(metrics.rows, 3);
  EXPECT_EQ(metrics.labelled_rows, 0);
  EXPECT_EQ(metrics.accuracy, 0.0);
  EXPECT_EQ(metrics.macro_f1, 0.0);
  // Counts of a classifier with other classes are not read as this one's.
  metrics = ComputePredictMetrics({"a", "b"}, HandMadeCounts());
  EXPECT_EQ(metrics.labelled_rows, 0);
  EXPECT_EQ(metrics.confusion, (std::vector<std::vector<int64_t>>{{0, 0}, {0, 0}}));
}

TEST(PredictionCountsTest, MergeIsAssociativeAndCommutative) {
  PredictionCounts first = PredictionCounts::Zero(4), second = first, third = first;
  AddRows(&first, 2, "a", 0, 0, true);
  AddRows(&first, 1, "x", -1, 1, false);
  AddRows(&second, 3, "b", 1, 2, true);
  AddRows(&second, 2, "x", -1, 0, false);
  AddRows(&third, 1, "d", 3, 3, true);
  AddRows(&third, 4, "y", -1, 0, false);

  PredictionCounts left;  // empty: takes the size of the first merged
  ASSERT_OK(left.Merge(first));
  ASSERT_OK(left.Merge(second));
  ASSERT_OK(left.Merge(third));
  PredictionCounts right = second;
  ASSERT_OK(right.Merge(third));
  PredictionCounts right_total = first;
  ASSERT_OK(right_total.Merge(right));
  PredictionCounts shuffled = third;
  ASSERT_OK(shuffled.Merge(first));
  ASSERT_OK(shuffled.Merge(second));
  EXPECT_EQ(left.ToJson(), right_total.ToJson());
  EXPECT_EQ(left.ToJson(), shuffled.ToJson());
  EXPECT_EQ(left.rows, 13);
  EXPECT_EQ(left.unknown_labels, (std::map<std::string, int64_t>{{"x", 3}, {"y", 4}}));

  const auto refused = left.Merge(PredictionCounts::Zero(3));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find("16 and 9"), std::string::npos) << refused.message();
}

TEST(MetricsJsonTest, CountsAndMetricsRoundTrip) {
  const PredictionCounts counts = HandMadeCounts();
  PredictionCounts counts_back;
  ASSERT_OK_AND_ASSIGN(counts_back, PredictionCounts::FromJson(counts.ToJson()));
  EXPECT_EQ(counts_back.rows, counts.rows);
  EXPECT_EQ(counts_back.confusion, counts.confusion);
  EXPECT_EQ(counts_back.top_correct, counts.top_correct);
  EXPECT_EQ(counts_back.unknown_labels, counts.unknown_labels);

  const PredictMetrics metrics = ComputePredictMetrics(kClasses, counts);
  PredictMetrics back;
  // Through text, as the file is read back.
  ASSERT_OK_AND_ASSIGN(back,
                       PredictMetrics::FromJson(nlohmann::json::parse(metrics.ToJson().dump(2))));
  EXPECT_EQ(back.classes, metrics.classes);
  EXPECT_EQ(back.confusion, metrics.confusion);
  EXPECT_EQ(back.accuracy, metrics.accuracy);
  EXPECT_EQ(back.per_class[1].f1, metrics.per_class[1].f1);
  EXPECT_EQ(back.unknown_labels, metrics.unknown_labels);
  EXPECT_EQ(back.ToJson().dump(2), metrics.ToJson().dump(2));
}

// Each damaged document is refused with a message naming the field.
TEST(MetricsJsonTest, FromJsonRefusesWrongTypesNamingTheKey) {
  const nlohmann::json good = ComputePredictMetrics(kClasses, HandMadeCounts()).ToJson();
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](auto& j) { j["accuracy"] = "0.6"; }, "'accuracy' is not a number"},
      {[](auto& j) { j.erase("macro_f1"); }, "no 'macro_f1'"},
      {[](auto& j) { j["rows"] = 1.5; }, "'rows' is not an integer"},
      {[](auto& j) { j["labelled_rows"] = -1; }, "'labelled_rows' is negative"},
      {[](auto& j) { j["unknown_labels"]["z"] = "two"; }, "'unknown_labels.z'"},
      {[](auto& j) { j["per_class"]["b"]["recall"] = nullptr; }, "'per_class.b.recall'"},
      {[](auto& j) { j["per_class"].erase("c"); }, "'per_class'"},
      {[](auto& j) { j["per_class"]["d"] = 0; }, "'per_class.d'"},
      {[](auto& j) { j["confusion_matrix"]["labels"][1] = 7; }, "'confusion_matrix.labels[1]'"},
      {[](auto& j) { j["confusion_matrix"]["rows_true_columns_predicted"][2][3] = "1"; },
       "'confusion_matrix.rows_true_columns_predicted[2][3]'"},
      {[](auto& j) { j["confusion_matrix"]["rows_true_columns_predicted"][0].erase(0); },
       "'confusion_matrix.rows_true_columns_predicted[0]' has 3 counts"},
      {[](auto& j) { j["confusion_matrix"] = "none"; }, "'confusion_matrix' is not an object"},
  };
  for (const auto& [damage, expected] : cases) {
    nlohmann::json damaged = good;
    damage(damaged);
    const auto parsed = PredictMetrics::FromJson(damaged);
    ASSERT_FALSE(parsed.ok()) << expected;
    EXPECT_NE(parsed.status().message().find(expected), std::string::npos)
        << "expected '" << expected << "' in: " << parsed.status().message();
  }
  EXPECT_FALSE(PredictMetrics::FromJson(nlohmann::json::array()).ok());

  const nlohmann::json counts = HandMadeCounts().ToJson();
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> count_cases = {
      {[](auto& j) { j["confusion"][2] = "2"; }, "'confusion[2]' is not an integer"},
      {[](auto& j) { j["top_correct"] = -3; }, "'top_correct' is negative"},
      {[](auto& j) { j["rows"] = 18446744073709551615ull; }, "'rows' is out of range"},
      {[](auto& j) { j.erase("unknown_labels"); }, "no 'unknown_labels'"},
      {[](auto& j) { j["unknown_labels"] = nlohmann::json::array(); }, "'unknown_labels'"},
  };
  for (const auto& [damage, expected] : count_cases) {
    nlohmann::json damaged = counts;
    damage(damaged);
    const auto parsed = PredictionCounts::FromJson(damaged);
    ASSERT_FALSE(parsed.ok()) << expected;
    EXPECT_NE(parsed.status().message().find(expected), std::string::npos)
        << "expected '" << expected << "' in: " << parsed.status().message();
  }
}

}  // namespace
}  // namespace orchard::classify
