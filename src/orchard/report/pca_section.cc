#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <vector>

#include "orchard/report/html_text.h"
#include "orchard/report/report.h"
#include "orchard/report/sections.h"
#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

// Which classes of `by_size` (largest first) the scatter names: the `named` largest. Where
// classes of equal size compete for the last places (a balanced data set: every class
// ties), the places go to the classes whose sample centroids lie farthest from those
// already chosen, so the coloured classes spread over the plane instead of being, say,
// the first ten names in alphabetical order. Sets *spread when that tie-break was used.
std::vector<size_t> ChooseNamedClasses(const std::vector<ReportData::Sampled>& sample,
                                       const std::vector<std::pair<std::string, int64_t>>& by_size,
                                       size_t named, bool* spread) {
  std::vector<size_t> chosen;
  if (named == 0) return chosen;
  if (named >= by_size.size() || by_size[named - 1].second > by_size[named].second) {
    for (size_t idx = 0; idx < named && idx < by_size.size(); ++idx) chosen.push_back(idx);
    return chosen;
  }
  *spread = true;
  const int64_t tied = by_size[named - 1].second;
  // Centroids in units of the sample's standard deviation along each axis.
  double sum_x = 0, sum_y = 0, sum_xx = 0, sum_yy = 0;
  std::map<std::string, std::array<double, 3>> sums;  // x, y, count
  for (const auto& point : sample) {
    auto& entry = sums[point.label];
    entry[0] += point.x, entry[1] += point.y, entry[2] += 1;
    sum_x += point.x, sum_y += point.y;
    sum_xx += point.x * point.x, sum_yy += point.y * point.y;
  }
  const double n = std::max<double>(1, static_cast<double>(sample.size()));
  const double mean_x = sum_x / n, mean_y = sum_y / n;
  const double sd_x = std::sqrt(std::max(1e-12, sum_xx / n - mean_x * mean_x));
  const double sd_y = std::sqrt(std::max(1e-12, sum_yy / n - mean_y * mean_y));
  auto centroid = [&](size_t idx) {
    const auto& entry = sums[by_size[idx].first];
    return std::pair<double, double>{(entry[0] / entry[2] - mean_x) / sd_x,
                                     (entry[1] / entry[2] - mean_y) / sd_y};
  };
  std::vector<size_t> candidates;
  for (size_t idx = 0; idx < by_size.size(); ++idx) {
    if (by_size[idx].second > tied) chosen.push_back(idx);
    if (by_size[idx].second == tied) candidates.push_back(idx);
  }
  std::vector<bool> taken(by_size.size(), false);
  while (chosen.size() < named) {
    size_t best = candidates.front();
    double best_distance = -1;
    for (size_t idx : candidates) {
      if (taken[idx]) continue;
      const auto [x, y] = centroid(idx);
      // Distance to the nearest chosen centroid (to the centre of the plot at first).
      double nearest = Distance(x, y);
      if (!chosen.empty()) nearest = std::numeric_limits<double>::infinity();
      for (size_t other : chosen) {
        const auto [ox, oy] = centroid(other);
        nearest = std::min(nearest, Distance(x - ox, y - oy));
      }
      if (nearest > best_distance) best = idx, best_distance = nearest;
    }
    taken[best] = true;
    chosen.push_back(best);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

}  // namespace

void WritePcaSection(const ReportData& data, const HtmlReportOptions& options, std::string* out) {
  if (!data.model && !data.have_pca) return;
  *out += "<section id=\"pca\"><h2>PCA</h2>\n";
  if (data.model) {
    const auto& model = *data.model;
    *out += "<p>" + Thousands(model.count) + " feature vectors of " + std::to_string(model.dim) +
            " dimensions; k = " + std::to_string(model.k) + " components explain " +
            FormatFixed(model.CumulativeRatio(model.k) * 100, 2) + " % of the variance" +
            (model.variance_threshold > 0
                 ? " (threshold " + FormatFixed(model.variance_threshold * 100, 1) + " %)"
                 : std::string()) +
            ".</p>\n";
    const std::string title = "Cumulative explained variance (k = " + std::to_string(model.k) + ")";
    *out += "<div class=\"chart\">" + ScreePlotSvg(model, title) + "</div>\n";
  }
  if (data.have_pca && !data.sample.empty()) {
    // Colour the largest classes; the rest are grey (131 colours cannot be told apart).
    std::map<std::string, int64_t> sample_counts;
    for (const auto& point : data.sample) ++sample_counts[point.label];
    const auto& counts = data.class_counts.empty() ? sample_counts : data.class_counts;
    std::vector<std::pair<std::string, int64_t>> by_size(sample_counts.begin(),
                                                         sample_counts.end());
    for (auto& entry : by_size) {
      auto it = counts.find(entry.first);
      entry.second = it == counts.end() ? entry.second : it->second;
    }
    std::stable_sort(by_size.begin(), by_size.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    const auto& colors = CategoricalColors();
    const size_t named = std::min({by_size.size(), colors.size(),
                                   static_cast<size_t>(std::max(0, options.max_named_classes))});
    bool spread = false;
    const std::vector<size_t> chosen = ChooseNamedClasses(data.sample, by_size, named, &spread);
    ScatterChart chart;
    chart.title = "First two principal components, coloured by label";
    chart.x_label = "PC 1";
    chart.y_label = "PC 2";
    std::map<std::string, int> group_of;
    std::vector<bool> is_named(by_size.size(), false);
    for (size_t idx : chosen) {
      is_named[idx] = true;
      group_of[by_size[idx].first] = static_cast<int>(chart.groups.size());
      chart.groups.push_back(
          {by_size[idx].first, colors[chart.groups.size()], by_size[idx].second, 3.5, 0.85});
    }
    int64_t other_images = 0;
    for (size_t idx = 0; idx < by_size.size(); ++idx) {
      if (!is_named[idx]) other_images += by_size[idx].second;
    }
    const size_t others = by_size.size() - named;
    if (others > 0) {
      // The unnamed rest: smaller and lighter, so the named classes stand out above them.
      chart.groups.push_back(
          {std::to_string(others) + (others == 1 ? " other class" : " other classes"), "#a8a8a8",
           other_images, 2.2, 0.45});
    }
    for (const auto& point : data.sample) {
      auto it = group_of.find(point.label);
      const int group = it == group_of.end() ? static_cast<int>(chosen.size()) : it->second;
      chart.points.push_back(
          {point.x, point.y, group, point.label + "\n" + TruncateUtf8(point.path, kMaxPathBytes)});
    }
    *out += "<div class=\"chart\">" + ScatterSvg(chart) + "</div>\n";
    *out += "<p class=\"muted\">" +
            (static_cast<int64_t>(data.sample.size()) < data.pca_rows
                 ? Thousands(static_cast<int64_t>(data.sample.size())) + " of " +
                       Thousands(data.pca_rows) +
                       " images shown (a fixed sample chosen by a hash of the path)"
                 : "All " + Thousands(data.pca_rows) + " images shown") +
            (others > 0 && spread ? "; the " + std::to_string(named) +
                                        " largest classes are coloured (among classes of "
                                        "equal size, those far apart in this plane), the "
                                        "others grey"
             : others > 0 ? "; the " + std::to_string(named) +
                                " largest classes are coloured, the others grey"
                          : std::string()) +
            ". Hover over a point for its label and path.</p>\n";
  } else if (data.have_pca) {
    *out += "<p class=\"muted\">The pca table has no rows to plot.</p>\n";
  }
  *out += "</section>\n";
}

}  // namespace orchard::report
