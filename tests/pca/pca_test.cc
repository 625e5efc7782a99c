// PCA from statistics against an independent computation: the SVD of the centred data.
#include "orchard/pca/pca.h"

#include <Eigen/Dense>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <vector>

#include "../test_util.h"
#include "orchard/pca/pca_json.h"

namespace orchard::pca {
namespace {

using RowMatrixF = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Correlated data of known low-ish rank plus noise, with a non-zero mean.
RowMatrixF MakeData(int64_t rows, int64_t dim, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const int64_t latent = std::min<int64_t>(dim, 6);
  Eigen::MatrixXf mixing(latent, dim);
  for (int64_t idx = 0; idx < mixing.size(); ++idx) mixing.data()[idx] = normal(rng);
  RowMatrixF data(rows, dim);
  for (int64_t row = 0; row < rows; ++row) {
    Eigen::RowVectorXf z(latent);
    for (int64_t col = 0; col < latent; ++col)
      z(col) = normal(rng) * static_cast<float>(latent - col);
    data.row(row) = z * mixing;
    for (int64_t col = 0; col < dim; ++col) data(row, col) += 0.05f * normal(rng) + 3.0f;
  }
  return data;
}

PcaStats StatsOf(const RowMatrixF& data) {
  PcaStats stats(data.cols());
  stats.Add(data.data(), data.rows());
  return stats;
}

TEST(PcaTest, MatchesSvdOfTheCentredMatrix) {
  const RowMatrixF data = MakeData(500, 40, 1);
  PcaModel model;
  ASSERT_OK_AND_ASSIGN(model, FitPca(StatsOf(data), PcaFitOptions{0.99, 10}));
  ASSERT_EQ(model.k, 10);

  const Eigen::MatrixXd centred =
      data.cast<double>().rowwise() - data.cast<double>().colwise().mean();
  Eigen::BDCSVD<Eigen::MatrixXd> svd(centred, Eigen::ComputeThinV);
  const Eigen::VectorXd variance = svd.singularValues().array().square() / (data.rows() - 1);
  const double total = variance.sum();
  for (int64_t idx = 0; idx < 10; ++idx) {
    const double expected = variance(idx);
    EXPECT_NEAR(model.explained_variance[static_cast<size_t>(idx)], expected, 1e-6 * expected);
    EXPECT_NEAR(model.explained_variance_ratio[static_cast<size_t>(idx)], expected / total,
                1e-6 * expected / total);
    // Same direction up to sign, and our sign convention holds.
    Eigen::Map<const Eigen::VectorXd> component(model.components.data() + idx * model.dim,
                                                model.dim);
    const Eigen::VectorXd reference = svd.matrixV().col(idx);
    EXPECT_NEAR(std::abs(component.dot(reference)), 1.0, 1e-6);
    Eigen::Index largest = 0;
    component.cwiseAbs().maxCoeff(&largest);
    EXPECT_GT(component(largest), 0);
  }
  // Projection equals (x - mean) . V up to float rounding.
  std::vector<float> projected(static_cast<size_t>(data.rows() * model.k));
  model.Project(data.data(), data.rows(), projected.data());
  for (int64_t row = 0; row < data.rows(); row += 37) {
    for (int64_t comp = 0; comp < model.k; ++comp) {
      Eigen::Map<const Eigen::VectorXd> component(model.components.data() + comp * model.dim,
                                                  model.dim);
      const double expected = centred.row(row).dot(component);
      EXPECT_NEAR(projected[static_cast<size_t>(row * model.k + comp)], expected,
                  1e-4 * (1 + std::abs(expected)));
    }
  }
}

TEST(PcaTest, MergedStatisticsEqualStatisticsOfTheWhole) {
  const RowMatrixF data = MakeData(300, 16, 2);
  PcaStats left(16), right(16);
  left.Add(data.data(), 100);
  right.Add(data.data() + 100 * 16, 200);
  ASSERT_OK(left.Merge(right));
  const PcaStats whole = StatsOf(data);
  EXPECT_EQ(left.count(), whole.count());
  for (size_t idx = 0; idx < whole.sum().size(); ++idx) {
    EXPECT_NEAR(left.sum()[idx], whole.sum()[idx], 1e-9 * (1 + std::abs(whole.sum()[idx])));
  }
  for (int64_t row = 0; row < 16; ++row) {
    for (int64_t col = 0; col <= row; ++col) {
      const double expected = whole.cross()[static_cast<size_t>(row * 16 + col)];
      EXPECT_NEAR(left.cross()[static_cast<size_t>(row * 16 + col)], expected,
                  1e-9 * (1 + std::abs(expected)));
    }
  }
  PcaStats other_dim(3);
  other_dim.Add(data.data(), 1);
  EXPECT_FALSE(left.Merge(other_dim).ok());
}

TEST(PcaTest, SerializationRoundTripsExactly) {
  const PcaStats stats = StatsOf(MakeData(50, 8, 3));
  PcaStats back;
  ASSERT_OK_AND_ASSIGN(back, PcaStats::Deserialize(stats.Serialize()));
  EXPECT_EQ(back.count(), stats.count());
  EXPECT_EQ(back.sum(), stats.sum());
  EXPECT_EQ(back.cross(), stats.cross());
  // Header, sums, and the lower triangle only (what Add writes): 8 + 8*9/2 doubles.
  EXPECT_EQ(stats.Serialize().size(), 24u + 8u * (8u + 36u));
  EXPECT_FALSE(PcaStats::Deserialize("garbage").ok());
  std::string truncated = stats.Serialize();
  truncated.pop_back();
  EXPECT_FALSE(PcaStats::Deserialize(truncated).ok());
}

TEST(PcaTest, ChoosesTheFewestComponentsReachingTheThreshold) {
  PcaModel model;
  ASSERT_OK_AND_ASSIGN(model, FitPca(StatsOf(MakeData(400, 30, 4)), PcaFitOptions{0.9, 0}));
  EXPECT_GE(model.CumulativeRatio(model.k), 0.9);
  EXPECT_LT(model.CumulativeRatio(model.k - 1), 0.9);
  for (size_t idx = 1; idx < model.explained_variance.size(); ++idx) {
    EXPECT_LE(model.explained_variance[idx], model.explained_variance[idx - 1]);
  }
  PcaModel all;
  ASSERT_OK_AND_ASSIGN(all, FitPca(StatsOf(MakeData(400, 30, 4)), PcaFitOptions{1.0, 0}));
  EXPECT_LE(all.k, 30);
  EXPECT_NEAR(all.CumulativeRatio(all.k), 1.0, 1e-9);
}

TEST(PcaTest, RejectsTooFewRowsAndBadOptions) {
  const RowMatrixF data = MakeData(10, 4, 5);
  PcaStats one(4);
  one.Add(data.data(), 1);
  EXPECT_FALSE(FitPca(one, PcaFitOptions{}).ok());
  EXPECT_FALSE(FitPca(StatsOf(data), PcaFitOptions{1.5, 0}).ok());
  EXPECT_FALSE(FitPca(StatsOf(data), PcaFitOptions{0.99, 5}).ok());
}

TEST(PcaTest, JsonRoundTripsTheModelExactly) {
  PcaModel model;
  ASSERT_OK_AND_ASSIGN(model, FitPca(StatsOf(MakeData(100, 12, 6)), PcaFitOptions{0.95, 0}));
  PcaModel back;
  ASSERT_OK_AND_ASSIGN(back, ModelFromJson(nlohmann::json::parse(ModelToJson(model).dump())));
  EXPECT_EQ(back.k, model.k);
  EXPECT_EQ(back.mean, model.mean);
  EXPECT_EQ(back.components, model.components);
  EXPECT_EQ(back.explained_variance_ratio, model.explained_variance_ratio);
}

TEST(PcaTest, RefusesNonFiniteStatisticsByName) {
  RowMatrixF data = MakeData(20, 4, 7);
  data(3, 2) = std::numeric_limits<float>::quiet_NaN();
  auto fit = FitPca(StatsOf(data), PcaFitOptions{});
  ASSERT_FALSE(fit.ok());
  EXPECT_NE(fit.status().message().find("not finite"), std::string::npos) << fit.status();
  EXPECT_EQ(fit.status().message().find("dsyevd"), std::string::npos) << fit.status();
  data(3, 2) = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(FitPca(StatsOf(data), PcaFitOptions{}).ok());
}

// Every field of a fitted model's JSON, tampered one at a time: each is refused with a
// message naming the source and the field; the untouched JSON loads.
TEST(PcaTest, JsonValidationNamesTheFileAndTheField) {
  PcaModel model;
  ASSERT_OK_AND_ASSIGN(model, FitPca(StatsOf(MakeData(100, 6, 8)), PcaFitOptions{0.99, 3}));
  const nlohmann::json good = ModelToJson(model);
  ASSERT_TRUE(ModelFromJson(good, "m.json").ok());
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](auto& j) { j["k"] = 0; }, "'k'"},
      {[](auto& j) { j["k"] = 7; }, "'k'"},
      {[](auto& j) { j["k"] = 2.5; }, "'k'"},
      {[](auto& j) { j["dim"] = 1 << 20; }, "'dim'"},
      {[](auto& j) { j["n"] = 1; }, "'n'"},
      {[](auto& j) { j["variance_threshold"] = 2.0; }, "'variance_threshold'"},
      {[&](auto& j) { j["mean"][0] = nan; }, "'mean'[0]"},
      {[](auto& j) { j["mean"].erase(0); }, "'mean'"},
      {[](auto& j) { j["mean"][2] = 1e300; }, "'mean'[2]"},
      {[](auto& j) { j["mean"][1] = -1e39; }, "'mean'[1]"},
      {[](auto& j) { j["explained_variance"][1] = -1.0; }, "'explained_variance'[1]"},
      {[](auto& j) { j["explained_variance_ratio"][0] = 1.5; }, "'explained_variance_ratio'[0]"},
      {[](auto& j) { j["components"][1][0] = 1e300; }, "'components'[1]"},
      {[](auto& j) { j["components"][0][0] = "x"; }, "'components'[0][0]"},
      {[](auto& j) { j["components"].erase(0); }, "'components'"},
      {[](auto& j) { j["format"] = 1; }, "format"},
      {[](auto& j) { j = nlohmann::json::array(); }, "not a JSON object"},
  };
  for (const auto& [tamper, field] : cases) {
    nlohmann::json bad = good;
    tamper(bad);
    auto loaded = ModelFromJson(bad, "m.json");
    ASSERT_FALSE(loaded.ok()) << field;
    EXPECT_NE(loaded.status().message().find("m.json"), std::string::npos) << loaded.status();
    EXPECT_NE(loaded.status().message().find(field), std::string::npos) << loaded.status();
  }
  EXPECT_FALSE(ModelFromJsonText("{not json", "m.json").ok());
}

// Found by tests/fuzz/loaders_fuzzer: a finite double mean beyond float32 was accepted and
// projected every embedding to -inf. The float32 extremes are still accepted, and the
// embedding at the mean projects to a finite vector.
TEST(PcaTest, JsonMeanStaysWithinFloat32) {
  PcaModel model;
  ASSERT_OK_AND_ASSIGN(model, FitPca(StatsOf(MakeData(50, 4, 3)), PcaFitOptions{0.99, 2}));
  nlohmann::json json = ModelToJson(model);
  json["mean"][0] = std::numeric_limits<float>::max();
  json["mean"][3] = -std::numeric_limits<float>::max();
  PcaModel extreme;
  ASSERT_OK_AND_ASSIGN(extreme, ModelFromJson(json, "m.json"));
  std::vector<float> at_mean(extreme.mean.begin(), extreme.mean.end());
  std::vector<float> projected(2);
  extreme.Project(at_mean.data(), 1, projected.data());
  for (float value : projected) EXPECT_TRUE(std::isfinite(value)) << value;
  json["mean"][0] = 1e300;
  auto refused = ModelFromJson(json, "m.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'mean'[0]"), std::string::npos) << refused.status();
}

TEST(PcaTest, DeserializeRefusesANegativeCount) {
  PcaStats stats(2);
  std::string bytes = stats.Serialize();
  const int64_t negative = -5;
  std::memcpy(bytes.data() + 16, &negative, 8);
  EXPECT_FALSE(PcaStats::Deserialize(bytes).ok());
}

}  // namespace
}  // namespace orchard::pca
