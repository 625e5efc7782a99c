#include "orchard/report/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

std::string Fixed(double value, int digits) {
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

}  // namespace

std::string ScreePlotSvg(const pca::PcaModel& model, const std::string& title) {
  constexpr double kWidth = 800, kHeight = 480;
  constexpr double kLeft = 70, kRight = 30, kTop = 50, kBottom = 60;
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  // Show the interesting part of the spectrum: a bit past k, at least 10 components.
  const auto available = static_cast<int64_t>(model.explained_variance_ratio.size());
  const int64_t shown = std::min<int64_t>(available, std::max<int64_t>(10, model.k * 3 / 2 + 5));
  auto x_of = [&](double component) { return kLeft + plot_w * (component - 0.5) / shown; };
  auto y_of = [&](double ratio) { return kTop + plot_h * (1.0 - ratio); };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      << "<text x=\"" << kWidth / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">"
      << EscapeXml(title) << "</text>\n";
  // Grid and y axis labels.
  for (int tick = 0; tick <= 10; ++tick) {
    const double ratio = tick / 10.0;
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_w << "\" y1=\"" << y_of(ratio)
        << "\" y2=\"" << y_of(ratio) << "\" stroke=\"#e5e5e5\"/>\n"
        << "<text x=\"" << kLeft - 8 << "\" y=\"" << y_of(ratio) + 4 << "\" text-anchor=\"end\">"
        << Fixed(ratio, 1) << "</text>\n";
  }
  // X axis ticks: about ten round numbers of components.
  for (double tick : NiceTicks(0, static_cast<double>(shown), 10)) {
    const auto component = static_cast<int64_t>(std::llround(tick));
    if (component < 1 || component > shown) continue;
    svg << "<text x=\"" << x_of(static_cast<double>(component)) << "\" y=\"" << kTop + plot_h + 18
        << "\" text-anchor=\"middle\">" << component << "</text>\n";
  }
  svg << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << kHeight - 15
      << "\" text-anchor=\"middle\">number of principal components</text>\n"
      << "<text transform=\"translate(18," << kTop + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">explained variance ratio</text>\n";
  // Individual ratios as bars.
  const double bar_w = std::max(1.0, plot_w / shown * 0.7);
  for (int64_t idx = 0; idx < shown; ++idx) {
    const double ratio = model.explained_variance_ratio[static_cast<size_t>(idx)];
    svg << "<rect x=\"" << x_of(static_cast<double>(idx + 1)) - bar_w / 2 << "\" y=\""
        << y_of(ratio) << "\" width=\"" << bar_w << "\" height=\"" << plot_h * ratio
        << "\" fill=\"#9ecae1\"/>\n";
  }
  // Cumulative ratio as a line with points.
  svg << "<polyline fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\" points=\"";
  double cumulative = 0;
  for (int64_t idx = 0; idx < shown; ++idx) {
    cumulative += model.explained_variance_ratio[static_cast<size_t>(idx)];
    svg << x_of(static_cast<double>(idx + 1)) << ',' << y_of(std::min(1.0, cumulative)) << ' ';
  }
  svg << "\"/>\n";
  // Threshold and chosen k.
  if (model.variance_threshold > 0) {
    svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_w << "\" y1=\""
        << y_of(model.variance_threshold) << "\" y2=\"" << y_of(model.variance_threshold)
        << "\" stroke=\"#d62728\" stroke-dasharray=\"6,4\"/>\n"
        << "<text x=\"" << kLeft + plot_w - 4 << "\" y=\"" << y_of(model.variance_threshold) + 16
        << "\" text-anchor=\"end\" fill=\"#d62728\">threshold "
        << Fixed(model.variance_threshold * 100, 1) << " %</text>\n";
  }
  const double k_x = x_of(static_cast<double>(model.k));
  svg << "<line x1=\"" << k_x << "\" x2=\"" << k_x << "\" y1=\"" << kTop << "\" y2=\""
      << kTop + plot_h << "\" stroke=\"#2ca02c\" stroke-dasharray=\"4,3\"/>\n"
      << "<text x=\"" << k_x + 6 << "\" y=\"" << kTop + plot_h - 10
      << "\" fill=\"#2ca02c\">k = " << model.k << " ("
      << Fixed(model.CumulativeRatio(model.k) * 100, 2) << " %)</text>\n";
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_w << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"#333\"/>\n</svg>\n";
  return svg.str();
}

}  // namespace orchard::report
