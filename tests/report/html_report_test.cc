#include "orchard/report/html_report.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/mockfs.h>

#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "orchard/classify/metrics.h"
#include "orchard/output/summary.h"
#include "orchard/pca/pca_json.h"
#include "orchard/table/tables.h"
#include "xml_check.h"

namespace orchard::report {
namespace {

using orchard::testing::CountOf;
using orchard::testing::XmlError;

const std::string kScriptLabel = "<script>alert('label')</script>";

pca::PcaModel SmallModel(int64_t k) {
  pca::PcaModel model;
  model.dim = 4;
  model.k = k;
  model.count = 300;
  model.variance_threshold = 0.9;
  model.mean.assign(4, 0);
  model.components.assign(static_cast<size_t>(k * 4), 0);
  // Unit-length components, as a fit gives (the model file's reader checks them).
  for (int64_t row = 0; row < k; ++row) model.components[static_cast<size_t>(row * 4 + row)] = 1;
  model.explained_variance = {7, 2.5, 0.4, 0.1};
  model.explained_variance_ratio = {0.7, 0.25, 0.04, 0.01};
  return model;
}

// A synthetic output folder: what a run writes, with hostile names in it.
class HtmlReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_OK_AND_ASSIGN(root_, io::ResolveLocation(dir_.str(), io::StorageOptions{}));
  }

  // A summary as the CLI's `run` writes it (output::ToJson).
  static output::JobSummary RunSummary(const std::string& output) {
    output::JobSummary summary;
    summary.orchard_version = "9.9.9";
    summary.command = "run";
    summary.input = "data/<img src=x onerror=alert(1)>";
    summary.output = output;
    summary.model_path = "models/m.onnx";
    summary.model_output = "features";
    summary.threads = 2;
    summary.batch_size = 32;
    output::FeaturizeSummary featurize;
    featurize.model_sha256 = std::string(64, 'a');
    featurize.model_dim = 4;
    featurize.listed = 310;
    featurize.ok = 300;
    featurize.failed = 10;
    featurize.images_per_second = 123.4;
    summary.featurize = featurize;
    summary.seconds = {{"list", 0.1}, {"featurize", 2.5}, {"total", 3.0}};
    summary.peak_rss_mib = 512.3;
    return summary;
  }

  void WriteSummary() {
    ASSERT_OK(io::WriteAll(root_.Child("report/summary.json"),
                           output::ToJson(RunSummary(dir_.str())).dump()));
  }

  void WriteModel(const io::Location& root, int64_t k) {
    ASSERT_OK(
        io::WriteAll(root.Child("pca_model/model.json"), pca::ModelToJson(SmallModel(k)).dump()));
  }

  // `rows` rows over `classes` labels; rows of class 0 are 10x as many as the others'.
  void WriteTable(const io::Location& root, const std::string& table, const std::string& column,
                  int64_t dim, int rows, int classes, int parts) {
    std::vector<table::VectorRows> split(static_cast<size_t>(parts));
    for (int row_idx = 0; row_idx < rows; ++row_idx) {
      auto& part = split[static_cast<size_t>(row_idx % parts)];
      part.dim = dim;
      const int label_idx = row_idx % (classes + 9) < 10 ? 0 : row_idx % classes;
      part.labels.push_back(label_idx == 1 ? kScriptLabel : "class " + std::to_string(label_idx));
      part.paths.push_back("in/" + part.labels.back() + "/" + std::to_string(row_idx) + ".jpg");
      for (int64_t comp = 0; comp < dim; ++comp) part.values.push_back(row_idx * 0.1f - comp);
    }
    for (int part_idx = 0; part_idx < parts; ++part_idx) {
      std::shared_ptr<arrow::RecordBatch> batch;
      ASSERT_OK_AND_ASSIGN(batch,
                           table::MakeVectorBatch(column, split[static_cast<size_t>(part_idx)]));
      ASSERT_OK(table::WriteParquet(root.Child(table).Child(table::PartName(part_idx)), *batch));
    }
  }

  void WriteErrors(int count) {
    std::vector<table::ErrorRecord> errors;
    for (int idx = 0; idx < count; ++idx) {
      errors.push_back({"in/bad/" + std::to_string(idx) + "\xFF.jpg", idx % 3 ? "decode" : "read",
                        idx == 0 ? std::string(1 << 20, 'm') + "<b>" : "broken <i>file</i>"});
    }
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_OK_AND_ASSIGN(batch, table::MakeErrorsBatch(errors));
    ASSERT_OK(table::WriteParquet(root_.Child("errors").Child(table::PartName(0)), *batch));
  }

  std::string Render(const HtmlReportOptions& options = {}) {
    const io::Location target = root_.Child("report/index.html");
    EXPECT_TRUE(WriteHtmlReport(root_, target, options).ok());
    auto bytes = io::ReadAll(target);
    EXPECT_TRUE(bytes.ok());
    const std::string html = bytes.ok() ? (*bytes)->ToString() : "";
    EXPECT_EQ(XmlError(html), "") << html.substr(0, 2000);
    // Nothing in the page runs: no script element, no event handler attribute.
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<img"), std::string::npos);
    EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
    return html;
  }

  orchard::testing::TempDir dir_;
  io::Location root_;
};

TEST_F(HtmlReportTest, FullRunHasEveryFigureAndEscapesEverything) {
  WriteSummary();
  WriteModel(root_, 2);
  WriteTable(root_, "features", table::kFeaturesColumn, 4, 300, 5, 3);
  WriteTable(root_, "pca", table::kPcaColumn, 2, 300, 5, 3);
  WriteErrors(150);
  const std::string html = Render();
  for (const char* id : {"id=\"run\"", "id=\"pca\"", "id=\"classes\"", "id=\"errors\""}) {
    EXPECT_NE(html.find(id), std::string::npos) << id;
  }
  EXPECT_EQ(html.find("id=\"predict\""), std::string::npos);
  EXPECT_EQ(CountOf(html, "<svg"), 3u);  // scree, scatter, images per class
  EXPECT_NE(html.find("&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;"), std::string::npos);
  EXPECT_NE(html.find("data/&lt;img src=x onerror=alert(1)&gt;"), std::string::npos);
  EXPECT_NE(html.find("9.9.9"), std::string::npos);
  EXPECT_NE(html.find(std::string(64, 'a')), std::string::npos);
  EXPECT_NE(html.find("123.4"), std::string::npos);
  EXPECT_NE(html.find("featurize 2.50 s"), std::string::npos);
  EXPECT_NE(html.find("512 MiB"), std::string::npos);
  EXPECT_NE(html.find(">CLI, 2 threads<"), std::string::npos);
  // Errors: all counted, 100 listed, the megabyte message cut, the bad byte replaced.
  EXPECT_NE(html.find("150 images failed"), std::string::npos);
  EXPECT_NE(html.find("<td>decode</td><td class=\"num\">100</td>"), std::string::npos);
  EXPECT_NE(html.find("<td>read</td><td class=\"num\">50</td>"), std::string::npos);
  EXPECT_EQ(CountOf(html, "<tr><td class=\"mono\">in/bad/"), 100u);
  // The errors table itself holds only valid UTF-8 (table::MakeErrorsBatch escapes the byte).
  EXPECT_NE(html.find("in/bad/0%FF.jpg"), std::string::npos);
  EXPECT_NE(html.find("broken &lt;i&gt;file&lt;/i&gt;"), std::string::npos);
  EXPECT_LT(html.size(), 400u * 1024);
  // All 300 points with hover titles; the large class 0 is highlighted in the class chart.
  EXPECT_NE(html.find("All 300 images shown"), std::string::npos);
  EXPECT_NE(html.find("<title>class 0: "), std::string::npos);
}

TEST_F(HtmlReportTest, SparkSummaryNamesTheMaster) {
  // The summary python/orchard/spark.py writes: an engine, no threads, no peak RSS.
  output::JobSummary spark = RunSummary("s3://bucket/out");
  spark.command = "spark";
  spark.engine =
      output::EngineSummary{"4.1.1", "spark://head:7077", 8, 1, 3, "--partitions", 0, 2, 0};
  spark.seconds = {{"total", 9}, {"project", 1}, {"fit_pca", 2}, {"featurize", 6}};
  nlohmann::json summary = output::ToJson(spark);
  summary.erase("threads");
  summary.erase("peak_rss_mib");
  ASSERT_OK(io::WriteAll(root_.Child("report/summary.json"), summary.dump()));
  const std::string html = Render();
  EXPECT_NE(html.find(">Spark, master spark://head:7077 (Spark 4.1.1)<"), std::string::npos);
  // Stages in pipeline order, the total last.
  EXPECT_NE(
      html.find("featurize 6.00 s \xC2\xB7 fit_pca 2.00 s \xC2\xB7 project 1.00 s \xC2\xB7 total "
                "9.00 s"),
      std::string::npos);
  EXPECT_EQ(html.find("peak memory"), std::string::npos);
  EXPECT_EQ(html.find(" threads<"), std::string::npos);
}

TEST_F(HtmlReportTest, PredictSummaryIsReadToo) {
  // What `orchard predict -i IMAGES` writes (classify::PredictSummary's ToJson).
  const nlohmann::json summary = {
      {"orchard_version", "9.9.9"},
      {"command", "predict"},
      {"input", "in/"},
      {"output", "pred/"},
      {"classifier", "clf/"},
      {"threads", 3},
      {"rows", 26},
      {"peak_rss_mib", 40.2},
      {"model", {{"path", "models/m.onnx"}, {"sha256", std::string(64, 'b')}}},
      {"images", {{"listed", 27}, {"ok", 26}, {"failed", 1}}},
      {"images_per_second", 12.5},
      {"seconds", {{"featurize", 2.0}, {"predict", 0.5}, {"total", 2.6}}}};
  ASSERT_OK(io::WriteAll(root_.Child("report/summary.json"), summary.dump()));
  const std::string html = Render();
  EXPECT_EQ(html.find("could not read"), std::string::npos);
  EXPECT_NE(html.find(">CLI, 3 threads<"), std::string::npos);
  EXPECT_NE(html.find(std::string(64, 'b')), std::string::npos);
  EXPECT_NE(html.find("featurize 2.00 s \xC2\xB7 predict 0.50 s \xC2\xB7 total 2.60 s"),
            std::string::npos);
  EXPECT_NE(html.find("<b>27</b><span>images listed"), std::string::npos);
}

TEST_F(HtmlReportTest, SummaryAndMetricsOfTheWrongShapeBecomeNotesNamingTheKey) {
  nlohmann::json summary = output::ToJson(RunSummary(dir_.str()));
  summary["images"]["ok"] = "three hundred";
  ASSERT_OK(io::WriteAll(root_.Child("report/summary.json"), summary.dump()));
  ASSERT_OK(io::WriteAll(root_.Child("report/metrics.json"),
                         nlohmann::json{{"accuracy", "high"}}.dump()));
  const std::string html = Render();
  EXPECT_NE(html.find("report/summary.json: &#39;images.ok&#39; is not an integer"),
            std::string::npos);
  EXPECT_NE(html.find("report/metrics.json: prediction metrics: no &#39;rows&#39;"),
            std::string::npos);
  EXPECT_NE(html.find("No report/summary.json"), std::string::npos);
  EXPECT_EQ(html.find("id=\"predict\""), std::string::npos);
}

TEST_F(HtmlReportTest, EmptyFolderStillRenders) {
  const std::string html = Render();
  EXPECT_NE(html.find("No report/summary.json"), std::string::npos);
  EXPECT_NE(html.find("No image failed"), std::string::npos);
  EXPECT_EQ(CountOf(html, "<svg"), 0u);
}

TEST_F(HtmlReportTest, FeaturizeOnlyRunHasNoPcaSection) {
  WriteSummary();
  WriteTable(root_, "features", table::kFeaturesColumn, 4, 40, 1, 1);
  const std::string html = Render();
  EXPECT_EQ(html.find("id=\"pca\""), std::string::npos);
  EXPECT_NE(html.find("id=\"classes\""), std::string::npos);
  EXPECT_NE(html.find("1 class, 40 featurized images"), std::string::npos);
  EXPECT_EQ(CountOf(html, "<svg"), 1u);
}

TEST_F(HtmlReportTest, ScatterSampleIsBoundedAndIndependentOfParts) {
  WriteModel(root_, 2);
  WriteTable(root_, "pca", table::kPcaColumn, 2, 1000, 131, 1);
  HtmlReportOptions options;
  options.max_scatter_points = 200;
  const std::string one_part = Render(options);
  EXPECT_NE(one_part.find("200 of 1,000 images shown"), std::string::npos);
  const auto scatter_of = [](const std::string& html) {
    const size_t begin = html.find("First two principal components");
    return html.substr(begin, html.find("</svg>", begin) - begin);
  };
  const std::string scatter = scatter_of(one_part);
  // 200 points + one swatch per legend entry: 10 named classes and the grey rest.
  EXPECT_EQ(CountOf(scatter, "<circle"), 200u + 11u);
  EXPECT_NE(scatter.find(" other classes ("), std::string::npos);
  ASSERT_OK(io::DeleteTreeIfExists(root_.Child("pca")));
  WriteTable(root_, "pca", table::kPcaColumn, 2, 1000, 131, 7);
  EXPECT_EQ(scatter_of(Render(options)), scatter);
}

TEST_F(HtmlReportTest, ReadsWhatTheStagingLacksFromTheFallbackAndFlagsAStalePcaTable) {
  orchard::testing::TempDir published_dir;
  io::Location published;
  ASSERT_OK_AND_ASSIGN(published, io::ResolveLocation(published_dir.str(), io::StorageOptions{}));
  WriteTable(published, "features", table::kFeaturesColumn, 4, 30, 3, 1);
  WriteTable(published, "pca", table::kPcaColumn, 3, 30, 3, 1);
  WriteModel(root_, 2);  // a refit: k changed from 3 to 2, the pca table is stale
  HtmlReportOptions options;
  options.fallback_root = published;
  const std::string html = Render(options);
  EXPECT_NE(html.find("id=\"classes\""), std::string::npos);
  EXPECT_NE(html.find("the pca table has 3 components but the PCA model has k = 2"),
            std::string::npos);
}

TEST_F(HtmlReportTest, PredictMetricsShowAccuracyRecallAndConfusions) {
  nlohmann::json metrics = {
      {"accuracy", 0.8},
      {"top5_accuracy", 0.95},
      {"n", 30},
      {"classes", {"Apple", kScriptLabel, "Kiwi"}},
      {"per_class",
       {{{"class", "Apple"}, {"precision", 0.9}, {"recall", 1.0}, {"f1", 0.95}, {"support", 10}},
        {{"class", kScriptLabel},
         {"precision", 0.7},
         {"recall", 0.5},
         {"f1", 0.6},
         {"support", 10}},
        {{"class", "Kiwi"}, {"precision", 0.8}, {"recall", 0.9}, {"f1", 0.85}, {"support", 10}}}},
      {"confusion_matrix", {{10, 0, 0}, {4, 5, 1}, {0, 1, 9}}}};
  orchard::testing::TempDir other;
  io::Location metrics_at;
  ASSERT_OK_AND_ASSIGN(metrics_at, io::ResolveLocation(other.str() + "/metrics.json", {}));
  ASSERT_OK(io::WriteAll(metrics_at, metrics.dump()));
  HtmlReportOptions options;
  options.metrics = metrics_at;
  const std::string html = Render(options);
  EXPECT_NE(html.find("id=\"predict\""), std::string::npos);
  EXPECT_NE(html.find("80.00 %"), std::string::npos);
  EXPECT_NE(html.find("95.00 %"), std::string::npos);
  EXPECT_EQ(CountOf(html, "<svg"), 2u);  // recall bars, confusion heat map
  // Worst confusion first: 4 images of the script-named class predicted as Apple.
  const size_t worst = html.find("<h3>Worst confusions</h3>");
  ASSERT_NE(worst, std::string::npos);
  EXPECT_NE(html.find("<tr><td>&lt;script&gt;alert(&#39;label&#39;)&lt;/script&gt;</td><td>Apple"
                      "</td><td class=\"num\">4</td><td class=\"num\">40.0 %</td></tr>",
                      worst),
            std::string::npos);
  // Recall bars worst first.
  EXPECT_LT(html.find("recall 0.500"), html.find("recall 0.900"));

  // The predict output's own report/metrics.json is found by default and read as orchard
  // predict writes it (classify::PredictMetrics); another shape there is a note.
  ASSERT_OK(io::WriteAll(root_.Child("report/metrics.json"), metrics.dump()));
  EXPECT_EQ(Render().find("id=\"predict\""), std::string::npos);
  auto counts = classify::PredictionCounts::Zero(3);
  for (int row = 0; row < 10; ++row) counts.Add("Apple", 0, {0, 1}, 3);
  for (int row = 0; row < 4; ++row) counts.Add(kScriptLabel, 1, {0, 1}, 3);
  for (int row = 0; row < 6; ++row) counts.Add(kScriptLabel, 1, {1, 0}, 3);
  const classify::PredictMetrics own =
      classify::ComputePredictMetrics({"Apple", kScriptLabel, "Kiwi"}, counts);
  ASSERT_OK(io::WriteAll(root_.Child("report/metrics.json"), own.ToJson().dump()));
  const std::string own_html = Render();
  EXPECT_NE(own_html.find("id=\"predict\""), std::string::npos);
  EXPECT_NE(own_html.find("80.00 %"), std::string::npos);  // 16 of 20
  EXPECT_NE(own_html.find("<b>20</b><span>labelled images"), std::string::npos);
  EXPECT_NE(own_html.find("recall 0.600"), std::string::npos);
}

TEST_F(HtmlReportTest, ThousandsOfClassesStayBounded) {
  WriteTable(root_, "features", table::kFeaturesColumn, 2, 3000, 2999, 1);
  nlohmann::json metrics = {{"accuracy", 0.5}, {"per_class", nlohmann::json::array()}};
  for (int idx = 0; idx < 1000; ++idx) {
    metrics["per_class"].push_back({{"class", std::to_string(idx)}, {"recall", idx / 1000.0}});
  }
  metrics["confusion_matrix"] = nlohmann::json::array();
  for (int row = 0; row < 1000; ++row) metrics["confusion_matrix"].push_back({row});
  ASSERT_OK(io::WriteAll(root_.Child("metrics.json"), metrics.dump()));
  HtmlReportOptions options;
  options.metrics = root_.Child("metrics.json");
  const std::string html = Render(options);
  EXPECT_NE(html.find("(the 120 largest and the 120 smallest)"), std::string::npos);
  EXPECT_NE(html.find("Recall per class: the 240 worst of 1000"), std::string::npos);
  EXPECT_NE(html.find("too many to draw"), std::string::npos);
  EXPECT_LT(html.size(), 400u * 1024);
}

TEST_F(HtmlReportTest, UnreadableInputsBecomeNotes) {
  ASSERT_OK(io::WriteAll(root_.Child("report/summary.json"), "{not json"));
  ASSERT_OK(io::WriteAll(root_.Child("pca/part-00000.parquet"), "not parquet"));
  ASSERT_OK(io::WriteAll(root_.Child("report/metrics.json"), "[1, 2"));
  const std::string html = Render();
  EXPECT_NE(html.find("report/summary.json is not valid JSON"), std::string::npos);
  EXPECT_NE(html.find("could not read the pca table"), std::string::npos);
  EXPECT_NE(html.find("the predict metrics are not valid JSON"), std::string::npos);
}

TEST_F(HtmlReportTest, RendersFromAnObjectStoreLikeFilesystem) {
  // Arrow's in-memory filesystem stands in for S3: no local paths, no atomic renames.
  root_.fs = std::make_shared<arrow::fs::internal::MockFileSystem>(arrow::fs::TimePoint{});
  root_.path = "bucket/out";
  root_.display = "s3://bucket/out";
  root_.is_object_store = true;
  // Unlike S3, the mock needs folders before files.
  for (const char* folder : {"report", "pca_model", "features", "pca"}) {
    ASSERT_OK(root_.fs->CreateDir(root_.Child(folder).path));
  }
  WriteSummary();
  WriteModel(root_, 2);
  WriteTable(root_, "features", table::kFeaturesColumn, 4, 50, 3, 2);
  WriteTable(root_, "pca", table::kPcaColumn, 2, 50, 3, 2);
  const std::string html = Render();
  EXPECT_EQ(CountOf(html, "<svg"), 3u);
  EXPECT_NE(html.find("All 50 images shown"), std::string::npos);
  EXPECT_EQ(html.find("could not read"), std::string::npos);
}

}  // namespace
}  // namespace orchard::report
