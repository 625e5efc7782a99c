#include "orchard/report/html_text.h"

#include <cmath>
#include <ctime>

#include "orchard/report/svg_charts.h"

namespace orchard::report {

std::string Html(std::string_view text) { return EscapeXml(text); }

std::string Thousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t idx = 0; idx < digits.size(); ++idx) {
    if (idx > 0 && (digits.size() - idx) % 3 == 0) out += ',';
    out += digits[idx];
  }
  return value < 0 ? "-" + out : out;
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return buffer;
}

// Not std::hypot: glibc 2.35 versioned hypot anew, and the wheel must
// run on glibc 2.34 (EMR 7); the values here are small, so no overflow to guard against.
double Distance(double dx, double dy) { return std::sqrt(dx * dx + dy * dy); }

void Card(std::string* out, const std::string& value, const std::string& label, bool bad) {
  *out += std::string("<div class=\"card") + (bad ? " bad" : "") + "\"><b>" + Html(value) +
          "</b><span>" + Html(label) + "</span></div>";
}

void KeyValue(std::string* out, const std::string& key, const std::string& value, bool mono) {
  if (value.empty()) return;
  *out += "<tr><th>" + Html(key) + "</th><td" + (mono ? " class=\"mono\"" : "") + ">" +
          Html(value) + "</td></tr>\n";
}

}  // namespace orchard::report
