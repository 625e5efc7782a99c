#include "orchard/report/svg_charts.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "orchard/util/text.h"

namespace orchard::report {
namespace {

// Length of the valid UTF-8 sequence at text[pos], or 0 when it is not valid.
size_t Utf8SequenceLength(std::string_view text, size_t pos) {
  const auto lead = static_cast<unsigned char>(text[pos]);
  size_t length = 0;
  uint32_t min_code = 0;
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    min_code = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    min_code = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    min_code = 0x10000;
  } else {
    return 0;
  }
  if (pos + length > text.size()) return 0;
  uint32_t code = lead & (0x7F >> length);
  for (size_t idx = 1; idx < length; ++idx) {
    const auto next = static_cast<unsigned char>(text[pos + idx]);
    if ((next & 0xC0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3F);
  }
  // Overlong forms, surrogates and code points past Unicode are not valid UTF-8; U+FFFE
  // and U+FFFF are not valid XML characters.
  if (code < min_code || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF) || code == 0xFFFE ||
      code == 0xFFFF) {
    return 0;
  }
  return length;
}

// Just enough digits to tell the ticks apart (0.25 needs two, 0.2 one).
std::string TickText(double value, const std::vector<double>& ticks) {
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1;
  int digits = 0;
  while (digits < 6) {
    const double scaled = step * std::pow(10.0, digits);
    if (std::abs(scaled - std::round(scaled)) < 1e-6 * std::max(1.0, scaled)) break;
    ++digits;
  }
  return FormatFixed(value, digits);
}

std::string Num(double value) { return FormatFixed(value, 1); }

constexpr const char* kGrid = "stroke=\"#e6e6e6\"";
constexpr const char* kFrame = "fill=\"none\" stroke=\"#555\"";
constexpr const char* kTitleAttrs = "font-size=\"15\" font-weight=\"bold\"";
constexpr const char* kWarnColor = "#e6550d";
constexpr const char* kBarColor = "#6baed6";

}  // namespace

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t pos = 0;
  while (pos < text.size()) {
    const char ch = text[pos];
    const auto byte = static_cast<unsigned char>(ch);
    if (byte < 0x80) {
      switch (ch) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&#39;";
          break;
        default:
          // XML 1.0 allows only tab, newline and carriage return below 0x20.
          if (byte >= 0x20 || ch == '\t' || ch == '\n' || ch == '\r') out += ch;
      }
      ++pos;
      continue;
    }
    const size_t length = Utf8SequenceLength(text, pos);
    char32_t code_point = 0;
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      ++pos;
    } else if (util::DecodeUtf8(text, pos, &code_point) == length &&
               util::IsBidiControl(code_point)) {
      // A bidi override in a file name would reorder the page's text around it (and show
      // "gpj.exe" as "exe.jpg"): it is shown as its escape, as on the terminal.
      out += util::ForTerminal(text.substr(pos, length));
      pos += length;
    } else {
      out.append(text.substr(pos, length));
      pos += length;
    }
  }
  return out;
}

std::string TruncateUtf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t cut = max_bytes;
  // Step back over continuation bytes to the start of a character.
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return std::string(text.substr(0, cut)) + "\xE2\x80\xA6";  // U+2026 HORIZONTAL ELLIPSIS
}

std::string FormatFixed(double value, int digits) {
  if (!std::isfinite(value)) return "n/a";
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.*f", digits, value);
  return buffer;
}

std::vector<double> NiceTicks(double low, double high, int target) {
  if (!(high > low)) high = low + 1;
  const double raw = (high - low) / std::max(1, target);
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double factor : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    step = factor * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  for (double tick = std::ceil(low / step) * step; tick <= high + step * 1e-9; tick += step) {
    ticks.push_back(std::abs(tick) < step * 1e-9 ? 0.0 : tick);
  }
  return ticks;
}

const std::vector<std::string>& CategoricalColors() {
  static const std::vector<std::string> kColors = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2",
                                                   "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                                                   "#9c755f", "#17becf"};
  return kColors;
}

SvgWriter::SvgWriter(double width, double height, std::string_view aria_label) {
  out_ = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + Num(width) + "\" height=\"" +
         Num(height) + "\" viewBox=\"0 0 " + Num(width) + ' ' + Num(height) +
         "\" role=\"img\" aria-label=\"" + EscapeXml(aria_label) +
         "\" font-family=\"sans-serif\" font-size=\"12\">\n"
         "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
}

void SvgWriter::Text(double x, double y, std::string_view text, std::string_view attrs) {
  out_ += "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + '"';
  if (!attrs.empty()) out_ += ' ' + std::string(attrs);
  out_ += '>' + EscapeXml(text) + "</text>\n";
}

void SvgWriter::Line(double x1, double y1, double x2, double y2, std::string_view attrs) {
  out_ += "<line x1=\"" + Num(x1) + "\" y1=\"" + Num(y1) + "\" x2=\"" + Num(x2) + "\" y2=\"" +
          Num(y2) + "\" " + std::string(attrs) + "/>\n";
}

void SvgWriter::Rect(double x, double y, double width, double height, std::string_view attrs,
                     std::string_view title) {
  out_ += "<rect x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(width) + "\" height=\"" +
          Num(height) + "\" " + std::string(attrs);
  if (title.empty()) {
    out_ += "/>\n";
  } else {
    out_ += "><title>" + EscapeXml(title) + "</title></rect>\n";
  }
}

void SvgWriter::Circle(double cx, double cy, double radius, std::string_view attrs,
                       std::string_view title) {
  out_ += "<circle cx=\"" + Num(cx) + "\" cy=\"" + Num(cy) + "\" r=\"" + Num(radius) + "\" " +
          std::string(attrs);
  if (title.empty()) {
    out_ += "/>\n";
  } else {
    out_ += "><title>" + EscapeXml(title) + "</title></circle>\n";
  }
}

void SvgWriter::Raw(std::string_view markup) { out_.append(markup); }

std::string SvgWriter::Finish() {
  out_ += "</svg>\n";
  return std::move(out_);
}

std::string ScatterSvg(const ScatterChart& chart) {
  constexpr double kPlotW = 620, kPlotH = 520;
  constexpr double kLeft = 70, kTop = 40, kLegendW = 300;
  constexpr double kWidth = kLeft + kPlotW + 20 + kLegendW, kHeight = kTop + kPlotH + 60;
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  for (const auto& point : chart.points) {
    x_min = std::min(x_min, point.x);
    x_max = std::max(x_max, point.x);
    y_min = std::min(y_min, point.y);
    y_max = std::max(y_max, point.y);
  }
  if (chart.points.empty()) x_min = y_min = -1, x_max = y_max = 1;
  // A margin so that points do not sit on the frame.
  const double x_pad = std::max(1e-9, (x_max - x_min) * 0.04);
  const double y_pad = std::max(1e-9, (y_max - y_min) * 0.04);
  x_min -= x_pad, x_max += x_pad, y_min -= y_pad, y_max += y_pad;
  auto x_of = [&](double x) { return kLeft + kPlotW * (x - x_min) / (x_max - x_min); };
  auto y_of = [&](double y) { return kTop + kPlotH * (1 - (y - y_min) / (y_max - y_min)); };

  SvgWriter svg(kWidth, kHeight, chart.title);
  svg.Text(kLeft, 22, chart.title, kTitleAttrs);
  const auto x_ticks = NiceTicks(x_min, x_max, 8);
  const auto y_ticks = NiceTicks(y_min, y_max, 8);
  for (double tick : x_ticks) {
    svg.Line(x_of(tick), kTop, x_of(tick), kTop + kPlotH, kGrid);
    svg.Text(x_of(tick), kTop + kPlotH + 16, TickText(tick, x_ticks), "text-anchor=\"middle\"");
  }
  for (double tick : y_ticks) {
    svg.Line(kLeft, y_of(tick), kLeft + kPlotW, y_of(tick), kGrid);
    svg.Text(kLeft - 6, y_of(tick) + 4, TickText(tick, y_ticks), "text-anchor=\"end\"");
  }
  svg.Text(kLeft + kPlotW / 2, kTop + kPlotH + 40, chart.x_label, "text-anchor=\"middle\"");
  svg.Raw("<text transform=\"translate(18," + Num(kTop + kPlotH / 2) +
          ") rotate(-90)\" text-anchor=\"middle\">" + EscapeXml(chart.y_label) + "</text>\n");
  // Last groups first, so that the named classes are drawn over the grey rest.
  for (size_t group_idx = chart.groups.size(); group_idx-- > 0;) {
    const auto& group = chart.groups[group_idx];
    svg.Raw("<g fill=\"" + EscapeXml(group.color) + "\" fill-opacity=\"" +
            FormatFixed(group.opacity, 2) + "\">\n");
    for (const auto& point : chart.points) {
      if (point.group != static_cast<int>(group_idx)) continue;
      svg.Circle(x_of(point.x), y_of(point.y), group.radius, "", point.title);
    }
    svg.Raw("</g>\n");
  }
  svg.Rect(kLeft, kTop, kPlotW, kPlotH, kFrame);
  // Legend.
  const double legend_x = kLeft + kPlotW + 24;
  double legend_y = kTop + 8;
  for (const auto& group : chart.groups) {
    if (legend_y > kTop + kPlotH) break;
    svg.Circle(legend_x + 5, legend_y - 4, 5, "fill=\"" + EscapeXml(group.color) + "\"");
    const std::string text =
        TruncateUtf8(group.name, 34) + " (" + std::to_string(group.count) + ")";
    svg.Raw("<text x=\"" + Num(legend_x + 16) + "\" y=\"" + Num(legend_y) + "\">" +
            EscapeXml(text) + "<title>" + EscapeXml(group.name) + "</title></text>\n");
    legend_y += 18;
  }
  return svg.Finish();
}

std::string HorizontalBarSvg(const BarChart& chart) {
  const size_t count = chart.bars.size();
  const size_t columns = static_cast<size_t>(std::max(1, chart.columns));
  const size_t rows = std::max<size_t>(1, (count + columns - 1) / columns);
  const double row_h = rows > 60 ? 13 : 18;
  const double label_w = columns > 1 ? 170 : 230;
  const double plot_w = columns > 1 ? 280 : 560;
  const double right = columns > 1 ? 50 : 80;
  const double column_w = label_w + plot_w + right;
  constexpr double kTop = 64;
  const double plot_h = row_h * static_cast<double>(rows);
  const double width = column_w * static_cast<double>(columns);
  const double height = kTop + plot_h + 40;
  double max_value = chart.max_value;
  if (max_value <= 0) {
    for (const auto& bar : chart.bars) max_value = std::max(max_value, bar.value);
    max_value = std::max(max_value, chart.reference);
  }
  if (max_value <= 0) max_value = 1;
  if (chart.max_value <= 0) {
    // Up to the next round tick, so the axis ends on a labelled value.
    const auto ticks = NiceTicks(0, max_value, columns > 1 ? 4 : 6);
    if (ticks.size() > 1)
      max_value = std::ceil(max_value / (ticks[1] - ticks[0]) - 1e-9) * (ticks[1] - ticks[0]);
  }
  const size_t label_bytes = columns > 1 ? 30 : 36;
  const std::string font = rows > 60 ? "font-size=\"10\"" : "font-size=\"12\"";
  const auto ticks = NiceTicks(0, max_value, columns > 1 ? 4 : 6);

  SvgWriter svg(width, height, chart.title);
  svg.Text(10, 22, chart.title, kTitleAttrs);
  for (size_t column = 0; column < columns; ++column) {
    const double left = column_w * static_cast<double>(column) + label_w;
    auto x_of = [&](double value) { return left + plot_w * std::max(0.0, value) / max_value; };
    for (double tick : ticks) {
      if (tick > max_value * (1 + 1e-9)) continue;
      svg.Line(x_of(tick), kTop, x_of(tick), kTop + plot_h, kGrid);
      svg.Text(x_of(tick), kTop - 6, TickText(tick, ticks), "text-anchor=\"middle\"");
      svg.Text(x_of(tick), kTop + plot_h + 14, TickText(tick, ticks), "text-anchor=\"middle\"");
    }
    svg.Text(left + plot_w / 2, kTop + plot_h + 32, chart.value_label, "text-anchor=\"middle\"");
    // Bars run down the first column, then down the next.
    for (size_t row = 0; row < rows; ++row) {
      const size_t bar_idx = column * rows + row;
      if (bar_idx >= count) break;
      const auto& bar = chart.bars[bar_idx];
      const double y = kTop + row_h * static_cast<double>(row);
      const std::string value_text = FormatFixed(bar.value, chart.value_digits);
      const std::string title = bar.title.empty() ? bar.label + ": " + value_text : bar.title;
      const std::string fill = bar.highlight ? kWarnColor : kBarColor;
      svg.Rect(left, y + 1.5, std::max(0.5, x_of(bar.value) - left), row_h - 3,
               "fill=\"" + fill + "\"", title);
      svg.Text(left - 6, y + row_h - 3.5, TruncateUtf8(bar.label, label_bytes),
               font + " text-anchor=\"end\"" +
                   (bar.highlight ? std::string(" fill=\"") + kWarnColor + "\"" : ""));
      svg.Text(x_of(bar.value) + 4, y + row_h - 3.5, value_text, font);
    }
    if (!chart.reference_label.empty()) {
      const double ref_x = x_of(chart.reference);
      svg.Line(ref_x, kTop, ref_x, kTop + plot_h, "stroke=\"#333\" stroke-dasharray=\"5,3\"");
      // Above the tick labels, pointing down at the line.
      svg.Text(ref_x, kTop - 22, chart.reference_label + " \xE2\x96\xBE",
               "fill=\"#333\" text-anchor=\"middle\"");
    }
    svg.Line(left, kTop, left, kTop + plot_h, "stroke=\"#555\"");
  }
  return svg.Finish();
}

std::string HeatmapSvg(const Heatmap& map) {
  const size_t n = map.labels.size();
  const double cell = n == 0 ? 20 : std::clamp(640.0 / static_cast<double>(n), 4.0, 28.0);
  const bool show_labels = cell >= 11;
  // Room for the longest label (about 7 px a character at 12 px), at most 26 characters.
  size_t longest = 0;
  for (const auto& label : map.labels) longest = std::max(longest, label.size());
  const double label_space =
      show_labels ? 16 + 7 * static_cast<double>(std::min<size_t>(longest, 26)) : 30;
  const double top = 40 + label_space, left = label_space + 20;
  const double side = cell * static_cast<double>(n);
  const double width = std::max(left + side + 30, left + 520), height = top + side + 50;
  std::vector<double> row_sums(n, 0);
  for (size_t row = 0; row < n; ++row) {
    for (size_t col = 0; col < n; ++col) row_sums[row] += map.counts[row * n + col];
  }

  SvgWriter svg(width, height, map.title);
  svg.Text(10, 22, map.title, kTitleAttrs);
  svg.Rect(left, top, side, side, "fill=\"#fafafa\" stroke=\"#555\"");
  for (size_t row = 0; row < n; ++row) {
    for (size_t col = 0; col < n; ++col) {
      const double count = map.counts[row * n + col];
      if (count <= 0 || row_sums[row] <= 0) continue;
      const double share = count / row_sums[row];
      // Light at small shares, saturated at large ones; at least visible when non-zero.
      const double alpha = 0.15 + 0.85 * std::sqrt(share);
      const char* color = row == col ? "#2166ac" : "#d6604d";
      const std::string title = map.labels[row] + " \xE2\x86\x92 " + map.labels[col] + ": " +
                                FormatFixed(count, 0) + " (" + FormatFixed(share * 100, 1) +
                                " % of " + map.labels[row] + ")";
      svg.Rect(left + cell * static_cast<double>(col), top + cell * static_cast<double>(row), cell,
               cell,
               std::string("fill=\"") + color + "\" fill-opacity=\"" + FormatFixed(alpha, 2) + "\"",
               title);
    }
  }
  if (show_labels) {
    const std::string font = "font-size=\"" + FormatFixed(std::min(12.0, cell - 1), 0) + "\"";
    for (size_t idx = 0; idx < n; ++idx) {
      const double center = cell * (static_cast<double>(idx) + 0.5);
      svg.Text(left - 4, top + center + cell * 0.3, TruncateUtf8(map.labels[idx], 26),
               font + " text-anchor=\"end\"");
      svg.Raw("<text transform=\"translate(" + Num(left + center + cell * 0.3) + "," +
              Num(top - 4) + ") rotate(-90)\" " + font + ">" +
              EscapeXml(TruncateUtf8(map.labels[idx], 26)) + "</text>\n");
    }
  }
  svg.Text(left + side / 2, top + side + 20, map.column_axis + " \xE2\x86\x92",
           "text-anchor=\"middle\"");
  svg.Rect(left, top + side + 30, 10, 10, "fill=\"#2166ac\"");
  svg.Text(left + 14, top + side + 39, "predicted as the true class");
  svg.Rect(left + 190, top + side + 30, 10, 10, "fill=\"#d6604d\"");
  svg.Text(left + 204, top + side + 39, "confused; darker: a larger share of the true class");
  svg.Raw("<text transform=\"translate(12," + Num(top + side / 2) +
          ") rotate(-90)\" text-anchor=\"middle\">" + EscapeXml(map.row_axis) +
          " \xE2\x86\x92</text>\n");
  return svg.Finish();
}

}  // namespace orchard::report
