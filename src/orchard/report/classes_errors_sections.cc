#include <algorithm>
#include <cmath>
#include <vector>

#include "orchard/report/html_text.h"
#include "orchard/report/sections.h"
#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

// Past this, a chart of every class is no longer readable: the bar chart keeps both ends
// of the sorted list.
constexpr size_t kMaxBars = 240;

}  // namespace

void WriteClassesSection(const ReportData& data, std::string* out) {
  if (!data.have_features) return;
  *out += "<section id=\"classes\"><h2>Images per class</h2>\n";
  if (data.class_counts.empty()) {
    *out += "<p class=\"muted\">The features table has no rows.</p></section>\n";
    return;
  }
  std::vector<std::pair<std::string, int64_t>> sorted(data.class_counts.begin(),
                                                      data.class_counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<int64_t> values;
  int64_t total = 0;
  for (const auto& entry : sorted) {
    values.push_back(entry.second);
    total += entry.second;
  }
  const double median =
      static_cast<double>(values[values.size() / 2] + values[(values.size() - 1) / 2]) / 2;
  // A class with less than half the median count is worth a look.
  const double few = median / 2;
  BarChart chart;
  chart.title = std::to_string(sorted.size()) + (sorted.size() == 1 ? " class, " : " classes, ") +
                Thousands(total) + " featurized images";
  chart.value_label = "images";
  chart.columns = sorted.size() > 40 ? 2 : 1;
  chart.reference = median;
  chart.reference_label = "median " + FormatFixed(median, median == std::floor(median) ? 0 : 1);
  std::vector<std::string> small;
  for (size_t idx = 0; idx < sorted.size(); ++idx) {
    const auto& [label, count] = sorted[idx];
    const bool highlight = sorted.size() > 1 && static_cast<double>(count) < few;
    if (highlight) small.push_back(label);
    // The largest and the smallest classes; the middle of a very long list is left out.
    if (sorted.size() > kMaxBars && idx >= kMaxBars / 2 && idx < sorted.size() - kMaxBars / 2) {
      continue;
    }
    chart.bars.push_back({label, static_cast<double>(count), highlight,
                          label + ": " + Thousands(count) + " images"});
  }
  if (sorted.size() > kMaxBars) {
    chart.title += " (the " + std::to_string(kMaxBars / 2) + " largest and the " +
                   std::to_string(kMaxBars / 2) + " smallest)";
  }
  *out +=
      "<p>" +
      (sorted.front().second == sorted.back().second
           ? (sorted.size() == 1 ? "The class has " : "Every class has ") +
                 Thousands(sorted.front().second) + " images."
           : "From " + Thousands(sorted.back().second) + " to " + Thousands(sorted.front().second) +
                 " images per class (median " + chart.reference_label.substr(7) + ").") +
      "</p>\n";
  if (!small.empty()) {
    *out += "<p class=\"note\">" + std::to_string(small.size()) +
            (small.size() == 1 ? " class has" : " classes have") +
            " fewer than half the median number of images (" +
            FormatFixed(few, few == std::floor(few) ? 0 : 1) + "), shown in orange: ";
    for (size_t idx = 0; idx < small.size() && idx < 20; ++idx) {
      *out += (idx ? ", " : "") + Html(small[idx]);
    }
    if (small.size() > 20) *out += ", \xE2\x80\xA6";
    *out += "</p>\n";
  }
  *out += "<div class=\"chart\">" + HorizontalBarSvg(chart) + "</div>\n</section>\n";
}

void WriteErrorsSection(const ReportData& data, std::string* out) {
  *out += "<section id=\"errors\"><h2>Errors</h2>\n";
  if (data.error_count == 0) {
    *out += "<p>No image failed.</p></section>\n";
    return;
  }
  *out += "<p>" + Thousands(data.error_count) + (data.error_count == 1 ? " image" : " images") +
          " failed.</p>\n";
  *out += "<table class=\"stages\"><tr><th>stage</th><th class=\"num\">images</th></tr>\n";
  for (const auto& [stage, count] : data.errors_per_stage) {
    *out +=
        "<tr><td>" + Html(stage) + "</td><td class=\"num\">" + Thousands(count) + "</td></tr>\n";
  }
  *out += "</table>\n";
  *out += "<h3>" +
          (static_cast<int64_t>(data.first_errors.size()) < data.error_count
               ? "The first " + std::to_string(data.first_errors.size()) + " rows"
               : std::string("All rows")) +
          " of the errors table</h3>\n";
  *out += "<table class=\"errors\"><tr><th>path</th><th>stage</th><th>message</th></tr>\n";
  for (const auto& error : data.first_errors) {
    *out += "<tr><td class=\"mono\">" + Html(TruncateUtf8(error.path, kMaxPathBytes)) +
            "</td><td>" + Html(error.stage) + "</td><td>" + Html(error.message) + "</td></tr>\n";
  }
  *out += "</table>\n</section>\n";
}

}  // namespace orchard::report
