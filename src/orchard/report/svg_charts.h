// Small SVG chart writer for the run report: a scatter plot, a horizontal bar chart and a
// heat map, each a standalone <svg> element that is also valid inline in HTML. Every piece
// of data text (labels, paths, titles) goes through EscapeXml; nothing here runs script or
// loads a resource.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace orchard::report {

/// Escapes text for XML and HTML (text and attribute values): & < > " '. Bytes that are
/// not valid UTF-8 become U+FFFD and control characters that XML 1.0 forbids are
/// dropped, so the result is always well-formed UTF-8 whatever the input.
std::string EscapeXml(std::string_view text);

/// At most `max_bytes` bytes of `text`, cut at a UTF-8 character boundary, with "…"
/// appended when something was cut.
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

/// `value` with `digits` digits after the point ("%.*f").
std::string FormatFixed(double value, int digits);

/// About `target` round tick values (1, 2, 2.5 or 5 times a power of ten apart) covering
/// [low, high].
std::vector<double> NiceTicks(double low, double high, int target);

/// A categorical palette of distinct colours (Tableau 10), for the classes a chart names.
const std::vector<std::string>& CategoricalColors();

/// Builds one <svg> element. Text passed as `text` is escaped; `attrs` are trusted markup
/// written by our own code (never data).
class SvgWriter {
 public:
  SvgWriter(double width, double height, std::string_view aria_label);
  void Text(double x, double y, std::string_view text, std::string_view attrs = "");
  void Line(double x1, double y1, double x2, double y2, std::string_view attrs);
  void Rect(double x, double y, double width, double height, std::string_view attrs,
            std::string_view title = "");
  void Circle(double cx, double cy, double radius, std::string_view attrs,
              std::string_view title = "");
  /// Trusted markup, written as is.
  void Raw(std::string_view markup);
  /// Closes the element and returns the document.
  std::string Finish();

 private:
  std::string out_;
};

/// A point of a scatter plot; `group` indexes ScatterChart::groups.
struct ScatterPoint {
  double x = 0;
  double y = 0;
  int group = 0;
  std::string title;  // hover text
};

struct ScatterGroup {
  std::string name;
  std::string color;
  int64_t count = 0;  // shown in the legend
  double radius = 3;
  double opacity = 0.75;
};

struct ScatterChart {
  std::string title;
  std::string x_label;
  std::string y_label;
  /// Legend order; groups are drawn last-to-first so that the first ones end on top.
  std::vector<ScatterGroup> groups;
  std::vector<ScatterPoint> points;
};

/// A scatter plot with axes, grid and a legend on the right.
std::string ScatterSvg(const ScatterChart& chart);

struct Bar {
  std::string label;
  double value = 0;
  bool highlight = false;  // drawn in the warning colour
  std::string title;       // hover text; label and value when empty
};

struct BarChart {
  std::string title;
  std::string value_label;
  std::vector<Bar> bars;  // drawn in this order, top to bottom
  /// Digits of the values written at the end of the bars.
  int value_digits = 0;
  /// A dashed vertical reference line (e.g. the median) when reference_label is not empty.
  double reference = 0;
  std::string reference_label;
  /// Fixed axis maximum (e.g. 1 for ratios); 0: the largest value.
  double max_value = 0;
  /// Side-by-side columns of bars (for long lists); the bars run down each column in turn.
  int columns = 1;
};

/// A horizontal bar chart: one row per bar, the label on the left, the value on the right.
std::string HorizontalBarSvg(const BarChart& chart);

struct Heatmap {
  std::string title;
  std::string row_axis;             // e.g. "true class"
  std::string column_axis;          // e.g. "predicted class"
  std::vector<std::string> labels;  // n labels, for rows and columns alike
  std::vector<double> counts;       // n x n, row-major
};

/// A square heat map of counts, each row normalised by its sum: the diagonal in blue,
/// other cells in red. Zero cells are not drawn; every drawn cell has a hover title.
/// Labels are written beside the rows and columns while they fit.
std::string HeatmapSvg(const Heatmap& map);

}  // namespace orchard::report
