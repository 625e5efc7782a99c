// jobs/job_steps.h: the PCA files with their scree plot (WritePcaFiles), and the embedding
// model's sha256 read back from an earlier output's summary (RecordedModelSha256), which
// is "" for every summary it cannot use, never a failure or a crash.
#include "orchard/jobs/job_steps.h"

#include <filesystem>
#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/pca/pca.h"
#include "orchard/report/report.h"

namespace orchard::jobs {
namespace {

namespace fs = std::filesystem;

io::Location LocalRoot(const orchard::testing::TempDir& dir) {
  auto root = io::ResolveLocation(dir.str(), io::StorageOptions{});
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  return *root;
}

// Rows on a tilted line plus a small wobble: k = 1 explains most of the variance.
pca::PcaModel SmallModel() {
  constexpr int64_t kDim = 3, kRows = 12;
  std::vector<float> values;
  for (int64_t row = 0; row < kRows; ++row) {
    const auto t = static_cast<float>(row);
    values.insert(values.end(), {t, 2 * t + (row % 2 ? 0.5f : -0.5f), -t + (row % 3) * 0.25f});
  }
  pca::PcaStats stats(kDim);
  stats.Add(values.data(), kRows);
  auto model = pca::FitPca(stats, pca::PcaFitOptions{});
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : pca::PcaModel{};
}

TEST(JobStepsTest, WritePcaFilesWritesTheModelFilesAndTheScreePlot) {
  orchard::testing::TempDir dir;
  const pca::PcaModel model = SmallModel();
  ASSERT_GT(model.k, 0);
  ASSERT_OK(WritePcaFiles(model, LocalRoot(dir)));
  pca::PcaModel read;
  ASSERT_OK_AND_ASSIGN(read, output::ReadPcaModel(LocalRoot(dir)));
  EXPECT_EQ(read.k, model.k);
  EXPECT_EQ(read.components, model.components);
  EXPECT_TRUE(fs::is_regular_file(dir.path() / output::kComponentsParquet));
  // The chart the CLI and the Spark job have always written, byte for byte.
  const std::string title = "PCA of " + std::to_string(model.count) +
                            " feature vectors: " + std::to_string(model.k) +
                            " components explain the threshold";
  EXPECT_EQ(orchard::testing::ReadFile((dir.path() / output::kScreeSvg).string()),
            report::ScreePlotSvg(model, title));
}

TEST(JobStepsTest, RecordedModelSha256ReadsTheSummaryOrGivesEmpty) {
  orchard::testing::TempDir dir;
  const io::Location root = LocalRoot(dir);
  EXPECT_EQ(RecordedModelSha256(root), "");  // no summary at all
  const auto write_summary = [&](const std::string& text) {
    ASSERT_OK(io::WriteAll(root.Child(output::kSummaryJson), text));
  };
  write_summary(R"({"model": {"path": "m.onnx", "sha256": "abc123"}})");
  EXPECT_EQ(RecordedModelSha256(root), "abc123");
  // Summaries it cannot use: damaged, another shape, a sha256 that is not text.
  for (const std::string damaged :
       {"{\"model\": {\"sha256\": ", "[1, 2]", "{\"model\": \"m.onnx\"}", "{\"model\": {}}",
        "{\"model\": {\"sha256\": 7}}", "{\"model\": {\"sha256\": null}}", ""}) {
    write_summary(damaged);
    EXPECT_EQ(RecordedModelSha256(root), "") << damaged;
  }
  // A folder where the summary should be.
  ASSERT_OK(io::DeleteTreeIfExists(root.Child(output::kSummaryJson)));
  fs::create_directories(dir.path() / output::kSummaryJson);
  EXPECT_EQ(RecordedModelSha256(root), "");
}

}  // namespace
}  // namespace orchard::jobs
