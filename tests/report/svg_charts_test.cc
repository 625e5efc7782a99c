#include "orchard/report/svg_charts.h"

#include <gtest/gtest.h>

#include "orchard/pca/pca.h"
#include "orchard/report/report.h"
#include "xml_check.h"

namespace orchard::report {
namespace {

using orchard::testing::CountOf;
using orchard::testing::XmlError;

const std::string kHostile = "<script>alert('x')</script> & \"q\" \xFF\xFE bad\x01 utf-8";

TEST(EscapeXmlTest, EscapesMarkupAndRepairsUtf8) {
  EXPECT_EQ(EscapeXml("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
  EXPECT_EQ(EscapeXml("caf\xC3\xA9"), "caf\xC3\xA9");                            // valid UTF-8 kept
  EXPECT_EQ(EscapeXml("x\xFFy"), "x\xEF\xBF\xBDy");                              // stray byte
  EXPECT_EQ(EscapeXml("\xC3"), "\xEF\xBF\xBD");                                  // cut sequence
  EXPECT_EQ(EscapeXml("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(EscapeXml("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(EscapeXml(std::string("a\0b\x1b", 4)), "ab");  // forbidden controls
  EXPECT_EQ(EscapeXml("a\tb\nc"), "a\tb\nc");
  EXPECT_EQ(XmlError("<t>" + EscapeXml(kHostile) + "</t>"), "");
}

TEST(EscapeXmlTest, ShowsBidiControlsAsEscapes) {
  // A right-to-left override would show "gpj.\u202Eexe" as "gpj.exe" reversed on the page.
  EXPECT_EQ(EscapeXml("gpj.\xE2\x80\xAE"
                      "exe"),
            "gpj.%E2%80%AEexe");
  EXPECT_EQ(EscapeXml("\xE2\x81\xA6x\xE2\x81\xA9\xE2\x80\x8F"), "%E2%81%A6x%E2%81%A9%E2%80%8F");
  EXPECT_EQ(EscapeXml("\xE2\x80\x94 \xE2\x80\xA6"),
            "\xE2\x80\x94 \xE2\x80\xA6");  // other U+20xx kept
}

TEST(EscapeXmlTest, TruncatesAtCharacterBoundaries) {
  EXPECT_EQ(TruncateUtf8("short", 10), "short");
  EXPECT_EQ(TruncateUtf8("abcdef", 3), "abc\xE2\x80\xA6");
  // "é" is two bytes: cutting inside it drops it whole.
  EXPECT_EQ(TruncateUtf8("a\xC3\xA9z", 2), "a\xE2\x80\xA6");
}

TEST(NiceTicksTest, RoundStepsCoveringTheRange) {
  EXPECT_EQ(NiceTicks(0, 1, 4), (std::vector<double>{0, 0.25, 0.5, 0.75, 1}));
  EXPECT_EQ(NiceTicks(0, 1240, 10), (std::vector<double>{0, 200, 400, 600, 800, 1000, 1200}));
  EXPECT_EQ(NiceTicks(-3.2, 4.9, 4), (std::vector<double>{-2.5, 0, 2.5}));
  EXPECT_GE(NiceTicks(5, 5, 4).size(), 2u);  // an empty range still gets an axis
}

TEST(ScatterSvgTest, WellFormedWithAxesLegendAndEscapedTitles) {
  ScatterChart chart;
  chart.title = "PCA " + kHostile;
  chart.x_label = "PC 1";
  chart.y_label = "PC 2";
  chart.groups = {{"Apple <b>", "#4e79a7", 3}, {"12 other classes", "#b0b0b0", 40}};
  for (int idx = 0; idx < 50; ++idx) {
    chart.points.push_back({idx * 0.5 - 3, idx * idx * 0.01, idx % 2, kHostile});
  }
  const std::string svg = ScatterSvg(chart);
  EXPECT_EQ(XmlError(svg), "") << svg;
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(CountOf(svg, "<circle"), 50u + 2u);  // points + legend swatches
  EXPECT_EQ(CountOf(svg, "<title>"), 50u + 2u);  // hover text of points and legend
  EXPECT_NE(svg.find(">PC 1</text>"), std::string::npos);
  EXPECT_NE(svg.find("rotate(-90)\" text-anchor=\"middle\">PC 2</text>"), std::string::npos);
  EXPECT_NE(svg.find("Apple &lt;b&gt; (3)"), std::string::npos);
  EXPECT_NE(svg.find("12 other classes (40)"), std::string::npos);
  EXPECT_GT(CountOf(svg, "stroke=\"#e6e6e6\""), 6u);  // grid lines with tick labels
}

TEST(ScatterSvgTest, EmptyAndDegenerateInputs) {
  ScatterChart chart;
  chart.title = "empty";
  EXPECT_EQ(XmlError(ScatterSvg(chart)), "");
  chart.groups = {{"only", "#4e79a7", 1}};
  chart.points = {{1, 1, 0, "one"}, {1, 1, 0, "same"}};  // zero range on both axes
  const std::string svg = ScatterSvg(chart);
  EXPECT_EQ(XmlError(svg), "");
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_EQ(svg.find("inf"), std::string::npos);
}

TEST(HorizontalBarSvgTest, WellFormedSortedBarsWithReferenceAndHighlights) {
  BarChart chart;
  chart.title = "classes";
  chart.value_label = "images";
  chart.reference = 40;
  chart.reference_label = "median 40";
  chart.bars = {{"Apple", 50, false, ""}, {kHostile, 40, false, ""}, {"Kiwi", 3, true, ""}};
  const std::string svg = HorizontalBarSvg(chart);
  EXPECT_EQ(XmlError(svg), "") << svg;
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(CountOf(svg, "<title>"), 3u);
  EXPECT_NE(svg.find(">0</text>"), std::string::npos);  // axis ticks
  EXPECT_NE(svg.find(">50</text>"), std::string::npos);
  EXPECT_NE(svg.find("<title>Apple: 50</title>"), std::string::npos);
  EXPECT_NE(svg.find(">images</text>"), std::string::npos);
  EXPECT_NE(svg.find("median 40"), std::string::npos);
  EXPECT_EQ(CountOf(svg, "fill=\"#e6550d\""), 2u);  // the highlighted bar and its label
  // Bars are drawn in the given order, top to bottom.
  EXPECT_LT(svg.find("Apple: 50"), svg.find("Kiwi: 3"));
}

TEST(HorizontalBarSvgTest, ManyBarsAndNoBars) {
  BarChart chart;
  chart.title = "131 classes";
  for (int idx = 0; idx < 131; ++idx) {
    chart.bars.push_back({"class " + std::to_string(idx), 131.0 - idx, false, ""});
  }
  const std::string svg = HorizontalBarSvg(chart);
  EXPECT_EQ(XmlError(svg), "");
  EXPECT_EQ(CountOf(svg, "<title>"), 131u);
  chart.bars.clear();
  EXPECT_EQ(XmlError(HorizontalBarSvg(chart)), "");
}

TEST(HeatmapSvgTest, WellFormedRowNormalisedCellsWithLabels) {
  Heatmap map;
  map.title = "confusion";
  map.row_axis = "true class";
  map.column_axis = "predicted class";
  map.labels = {"a", kHostile, "c"};
  map.counts = {8, 2, 0,  //
                0, 5, 0,  //
                1, 0, 0};
  const std::string svg = HeatmapSvg(map);
  EXPECT_EQ(XmlError(svg), "") << svg;
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(CountOf(svg, "<title>"), 4u);  // non-zero cells only
  EXPECT_NE(svg.find("a \xE2\x86\x92 a: 8 (80.0 % of a)"), std::string::npos);
  EXPECT_NE(svg.find("fill=\"#d6604d\""), std::string::npos);  // off-diagonal
  EXPECT_NE(svg.find("fill=\"#2166ac\""), std::string::npos);  // diagonal
  EXPECT_NE(svg.find("true class"), std::string::npos);
  EXPECT_NE(svg.find("predicted class"), std::string::npos);
  EXPECT_EQ(CountOf(svg, "rotate(-90)"), 3u + 1u);  // column labels + row axis
}

TEST(HeatmapSvgTest, LargeMatricesDropLabelsButKeepTitles) {
  Heatmap map;
  map.title = "131";
  const size_t n = 131;
  for (size_t idx = 0; idx < n; ++idx) map.labels.push_back("class " + std::to_string(idx));
  map.counts.assign(n * n, 0);
  for (size_t idx = 0; idx < n; ++idx) map.counts[idx * n + idx] = 10;
  map.counts[5 * n + 7] = 3;
  const std::string svg = HeatmapSvg(map);
  EXPECT_EQ(XmlError(svg), "");
  EXPECT_EQ(CountOf(svg, "<title>"), n + 1);
  EXPECT_EQ(svg.find(">class 0</text>"), std::string::npos);
}

TEST(ScreePlotSvgTest, WellFormedWithThresholdAndK) {
  pca::PcaModel model;
  model.dim = 4;
  model.k = 2;
  model.count = 10;
  model.variance_threshold = 0.9;
  model.explained_variance_ratio = {0.7, 0.25, 0.04, 0.01};
  model.explained_variance = {7, 2.5, 0.4, 0.1};
  const std::string svg = ScreePlotSvg(model, "scree " + kHostile);
  EXPECT_EQ(XmlError(svg), "") << svg;
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_NE(svg.find("threshold 90.0 %"), std::string::npos);
  EXPECT_NE(svg.find("k = 2 (95.00 %)"), std::string::npos);
  EXPECT_NE(svg.find("number of principal components"), std::string::npos);
}

}  // namespace
}  // namespace orchard::report
