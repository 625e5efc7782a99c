// The shipped model against the reference outputs of ../shared/models (copied to
// tests/data/model): ImageNet top-1 through `logits`, and the 1280-d features.
#include "orchard/model/embedder.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <fstream>
#include <sstream>

#include "../test_util.h"
#include "orchard/image/decode.h"

namespace orchard::model {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

class EmbedderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    EmbedderOptions options;
    options.expected_sha256 = kDefaultModelSha256;
    options.intra_op_threads = 2;
    auto made = Embedder::Make(ReadFile(orchard::testing::ModelPath()), options);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    embedder_ = std::move(made).ValueOrDie().release();
    reference_ = nlohmann::json::parse(
        ReadFile(orchard::testing::SourceDir() + "/tests/data/model/reference_outputs.json"));
  }
  static void TearDownTestSuite() { delete embedder_; }

  static std::vector<float> Preprocess(const std::string& name) {
    const std::string bytes = ReadFile(orchard::testing::SourceDir() + "/tests/data/model/" + name);
    image::PreprocessOptions options;
    std::vector<float> input(static_cast<size_t>(image::InputSize(options)));
    const Status status = image::DecodeAndPreprocess(reinterpret_cast<const uint8_t*>(bytes.data()),
                                                     bytes.size(), options, input.data());
    EXPECT_TRUE(status.ok()) << name << ": " << status.ToString();
    return input;
  }

  static inline Embedder* embedder_ = nullptr;
  static inline nlohmann::json reference_;
};

TEST_F(EmbedderTest, ReadsTheModelContract) {
  const auto& info = embedder_->info();
  EXPECT_EQ(info.input_name, "images");
  EXPECT_EQ(info.height, 224);
  EXPECT_EQ(info.width, 224);
  EXPECT_EQ(info.output_dim, 1280);
  EXPECT_EQ(info.sha256, kDefaultModelSha256);
}

TEST_F(EmbedderTest, MatchesReferenceTop1AndFeatures) {
  for (const auto& [name, expected] : reference_["outputs"].items()) {
    SCOPED_TRACE(name);
    const auto input = Preprocess(name);
    int64_t logits_dim = 0;
    std::vector<float> logits;
    ASSERT_OK_AND_ASSIGN(logits, embedder_->RunOutput(input.data(), 1, "logits", &logits_dim));
    ASSERT_EQ(logits_dim, 1001);
    const auto top1 = std::max_element(logits.begin(), logits.end()) - logits.begin();
    EXPECT_EQ(top1, expected["top5"][0]["index"].get<int64_t>());

    std::vector<float> features(1280);
    ASSERT_OK(embedder_->Embed(input.data(), 1, features.data()));
    const auto reference = expected["features"].get<std::vector<double>>();
    ASSERT_EQ(reference.size(), features.size());
    double dot = 0, norm_a = 0, norm_b = 0, max_abs = 0;
    for (size_t idx = 0; idx < features.size(); ++idx) {
      dot += features[idx] * reference[idx];
      norm_a += features[idx] * static_cast<double>(features[idx]);
      norm_b += reference[idx] * reference[idx];
      max_abs = std::max(max_abs, std::abs(features[idx] - reference[idx]));
    }
    const double cosine = dot / std::sqrt(norm_a * norm_b);
    EXPECT_GT(cosine, 0.9999);
    // Same decoder (OpenCV) and resize as the reference: equal up to float rounding.
    EXPECT_LT(max_abs, 1e-4);
  }
}

TEST_F(EmbedderTest, BatchesGiveTheSameRowsAsSingleImages) {
  const auto first = Preprocess("cat.bmp");
  const auto second = Preprocess("owl.jpg");
  std::vector<float> batch(first);
  batch.insert(batch.end(), second.begin(), second.end());
  std::vector<float> batched(2 * 1280), single(1280);
  ASSERT_OK(embedder_->Embed(batch.data(), 2, batched.data()));
  ASSERT_OK(embedder_->Embed(second.data(), 1, single.data()));
  for (size_t idx = 0; idx < 1280; ++idx) ASSERT_NEAR(batched[1280 + idx], single[idx], 1e-5);
}

TEST(EmbedderErrorsTest, RejectsABadChecksumWithAFix) {
  EmbedderOptions options;
  options.expected_sha256 = std::string(64, '0');
  auto made = Embedder::Make(ReadFile(orchard::testing::ModelPath()), options);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("sha256"), std::string::npos);
}

TEST(EmbedderErrorsTest, RejectsBytesThatAreNotAModel) {
  EmbedderOptions options;
  options.model_name = "'junk.onnx'";
  auto made = Embedder::Make("this is not an onnx model", options);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("junk.onnx"), std::string::npos);
}

TEST(EmbedderErrorsTest, NamesTheOutputsWhenTheChosenOneIsMissing) {
  EmbedderOptions options;
  options.output_name = "embedding";
  auto made = Embedder::Make(ReadFile(orchard::testing::ModelPath()), options);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.status().message().find("logits"), std::string::npos) << made.status().ToString();
}

}  // namespace
}  // namespace orchard::model
