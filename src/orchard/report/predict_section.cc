#include <algorithm>
#include <cmath>
#include <vector>

#include "orchard/report/html_text.h"
#include "orchard/report/sections.h"
#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

constexpr int kWorstConfusions = 15;
// Past these, a chart of every class is no longer readable (or small): the recall bars
// keep the worst, the heat map gives way to the worst-confusions table.
constexpr size_t kMaxBars = 240;
constexpr size_t kMaxHeatmapClasses = 300;

}  // namespace

void WritePredictSection(const ReportData& data, std::string* out) {
  if (!data.metrics) return;
  const ReportMetrics& metrics = *data.metrics;
  *out += "<section id=\"predict\"><h2>Predictions</h2>\n<div class=\"cards\">";
  if (metrics.accuracy) Card(out, FormatFixed(*metrics.accuracy * 100, 2) + " %", "accuracy");
  if (metrics.top5_accuracy)
    Card(out, FormatFixed(*metrics.top5_accuracy * 100, 2) + " %", "top-5 accuracy");
  if (metrics.labelled) Card(out, Thousands(*metrics.labelled), "labelled images");
  *out += "</div>\n";
  const std::vector<std::string>& classes = metrics.classes;

  // Per-class recall, worst first.
  std::vector<ReportMetrics::ClassScore> scores = metrics.per_class;
  if (!scores.empty()) {
    std::stable_sort(scores.begin(), scores.end(), [](const auto& a, const auto& b) {
      const double ra = std::isfinite(a.recall) ? a.recall : 2,
                   rb = std::isfinite(b.recall) ? b.recall : 2;
      return ra < rb;
    });
    const double accuracy = metrics.accuracy.value_or(std::nan(""));
    BarChart chart;
    chart.title = "Recall per class, worst first";
    chart.value_label = "recall";
    chart.value_digits = 3;
    chart.max_value = 1;
    chart.columns = scores.size() > 40 ? 2 : 1;
    if (std::isfinite(accuracy)) {
      chart.reference = accuracy;
      chart.reference_label = "accuracy " + FormatFixed(accuracy, 3);
    }
    if (scores.size() > kMaxBars) {
      chart.title = "Recall per class: the " + std::to_string(kMaxBars) + " worst of " +
                    std::to_string(scores.size());
      scores.resize(kMaxBars);
    }
    for (const auto& score : scores) {
      const double recall = std::isfinite(score.recall) ? score.recall : 0;
      chart.bars.push_back({score.name, recall, std::isfinite(accuracy) && recall < accuracy - 0.1,
                            score.name + ": recall " + FormatFixed(score.recall, 3) +
                                ", precision " + FormatFixed(score.precision, 3) + ", F1 " +
                                FormatFixed(score.f1, 3) + ", support " +
                                FormatFixed(score.support, 0)});
    }
    *out += "<div class=\"chart\">" + HorizontalBarSvg(chart) + "</div>\n";
  }

  const auto& matrix = metrics.confusion;
  if (matrix && matrix->size() > kMaxHeatmapClasses) {
    *out += "<p class=\"muted\">The confusion matrix has " + std::to_string(matrix->size()) +
            " classes: too many to draw (the per-class metrics above still cover them).</p>\n";
  } else if (matrix && !matrix->empty()) {
    const size_t n = matrix->size();
    Heatmap map;
    map.title = "Confusion matrix (rows: true class, normalised per row)";
    map.row_axis = "true class";
    map.column_axis = "predicted class";
    map.counts.assign(n * n, 0);
    bool square = true;
    for (size_t row = 0; row < n; ++row) {
      const std::vector<double>& cells = (*matrix)[row];
      if (cells.size() != n) {
        square = false;
        break;
      }
      for (size_t col = 0; col < n; ++col) map.counts[row * n + col] = cells[col];
    }
    if (!square) {
      *out += "<p class=\"note\">The confusion matrix in the metrics is not square.</p>\n";
    } else {
      for (size_t idx = 0; idx < n; ++idx) {
        map.labels.push_back(idx < classes.size() ? classes[idx] : "class " + std::to_string(idx));
      }
      // Worst confusions: the largest off-diagonal cells.
      struct Confusion {
        size_t row, col;
        double count, share;
      };
      std::vector<Confusion> confusions;
      for (size_t row = 0; row < n; ++row) {
        double row_sum = 0;
        for (size_t col = 0; col < n; ++col) row_sum += map.counts[row * n + col];
        for (size_t col = 0; col < n; ++col) {
          const double count = map.counts[row * n + col];
          if (row != col && count > 0) confusions.push_back({row, col, count, count / row_sum});
        }
      }
      std::sort(confusions.begin(), confusions.end(), [](const auto& a, const auto& b) {
        return a.count != b.count ? a.count > b.count : a.share > b.share;
      });
      *out += "<div class=\"chart\">" + HeatmapSvg(map) + "</div>\n";
      if (confusions.empty()) {
        *out += "<p>No confusions: every labelled image was predicted as its class.</p>\n";
      } else {
        *out +=
            "<h3>Worst confusions</h3>\n<table><tr><th>true class</th><th>predicted as"
            "</th><th class=\"num\">images</th><th class=\"num\">share of the true class"
            "</th></tr>\n";
        for (size_t idx = 0; idx < confusions.size() && idx < kWorstConfusions; ++idx) {
          const auto& confusion = confusions[idx];
          *out += "<tr><td>" + Html(map.labels[confusion.row]) + "</td><td>" +
                  Html(map.labels[confusion.col]) + "</td><td class=\"num\">" +
                  FormatFixed(confusion.count, 0) + "</td><td class=\"num\">" +
                  FormatFixed(confusion.share * 100, 1) + " %</td></tr>\n";
        }
        *out += "</table>\n";
      }
    }
  }
  *out += "</section>\n";
}

}  // namespace orchard::report
