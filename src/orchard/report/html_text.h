// The small HTML writer the report's page and sections share: escaping, number formats,
// the summary cards and key/value rows. Everything written goes through Html().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace orchard::report {

/// Paths shown per row (a path can be kilobytes).
inline constexpr size_t kMaxPathBytes = 200;

/// `text` escaped for HTML text and attribute values.
std::string Html(std::string_view text);
/// 1234567 -> "1,234,567".
std::string Thousands(int64_t value);
/// "2026-01-31 12:00:00 UTC".
std::string UtcNow();
/// sqrt(dx^2 + dy^2).
double Distance(double dx, double dy);
/// A summary card: a big value over a small label; `bad` colours it red.
void Card(std::string* out, const std::string& value, const std::string& label, bool bad = false);
/// One row of a key/value table; nothing when `value` is empty.
void KeyValue(std::string* out, const std::string& key, const std::string& value,
              bool mono = false);

}  // namespace orchard::report
