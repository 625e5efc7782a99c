#include <cstdint>
#include <string>
#include <utility>

#include "orchard/report/dedup_report.h"
#include "orchard/report/html_text.h"
#include "orchard/report/page.h"
#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

std::string Base64(const std::string& bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t idx = 0;
  for (; idx + 2 < bytes.size(); idx += 3) {
    const uint32_t triple = (uint32_t{static_cast<uint8_t>(bytes[idx])} << 16) |
                            (uint32_t{static_cast<uint8_t>(bytes[idx + 1])} << 8) |
                            uint32_t{static_cast<uint8_t>(bytes[idx + 2])};
    out += kAlphabet[(triple >> 18) & 63];
    out += kAlphabet[(triple >> 12) & 63];
    out += kAlphabet[(triple >> 6) & 63];
    out += kAlphabet[triple & 63];
  }
  if (idx < bytes.size()) {
    const bool two = idx + 1 < bytes.size();
    const uint32_t triple = (uint32_t{static_cast<uint8_t>(bytes[idx])} << 16) |
                            (two ? uint32_t{static_cast<uint8_t>(bytes[idx + 1])} << 8 : 0u);
    out += kAlphabet[(triple >> 18) & 63];
    out += kAlphabet[(triple >> 12) & 63];
    out += two ? kAlphabet[(triple >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// One image: its thumbnail (or a placeholder saying why there is none), path, label and
// distance.
void WriteImage(const DedupImage& image, bool representative, const char* distance_label,
                std::string* out) {
  *out += representative ? "<div class=\"member rep\">" : "<div class=\"member\">";
  if (!image.thumbnail_jpeg.empty()) {
    *out += "<img alt=\"\" src=\"data:image/jpeg;base64," + Base64(image.thumbnail_jpeg) + "\"/>";
  } else {
    *out += "<div class=\"missing\" title=\"" + Html(TruncateUtf8(image.missing_reason, 300)) +
            "\">no image</div>";
  }
  *out += "<div class=\"path mono\">" + Html(TruncateUtf8(image.path, kMaxPathBytes)) +
          "</div><div>" + Html(TruncateUtf8(image.label, kMaxPathBytes)) +
          "</div><div class=\"muted\">" +
          (representative ? std::string("representative")
                          : std::string(distance_label) + " " + FormatFixed(image.distance, 4)) +
          "</div></div>";
}

void WriteGroups(const DedupReport& report, std::string* out) {
  *out += "<section id=\"groups\"><h2>Largest groups</h2>\n";
  if (report.largest_groups.empty()) {
    *out += "<p class=\"muted\">No near-duplicates at this threshold.</p>\n</section>\n";
    return;
  }
  if (report.groups > static_cast<int64_t>(report.largest_groups.size())) {
    *out += "<p class=\"muted\">The " +
            Thousands(static_cast<int64_t>(report.largest_groups.size())) + " largest of " +
            Thousands(report.groups) + " groups (all of them are in duplicates.parquet).</p>\n";
  }
  for (const auto& group : report.largest_groups) {
    *out += "<h3>Group " + Thousands(group.group) + ": " + Thousands(group.size) + " images";
    if (group.size > static_cast<int64_t>(group.members.size())) {
      *out += " (" + Thousands(static_cast<int64_t>(group.members.size())) + " shown)";
    }
    *out += "</h3>\n<div class=\"group\">";
    bool first = true;
    for (const auto& member : group.members) {
      WriteImage(member, first, "distance", out);
      first = false;
    }
    *out += "</div>\n";
  }
  *out += "</section>\n";
}

void WriteMatches(const DedupReport& report, std::string* out) {
  *out += "<section id=\"matches\"><h2>Near-copies in " +
          Html(TruncateUtf8(report.against, kMaxPathBytes)) + "</h2>\n";
  if (report.matches.empty()) {
    *out += "<p class=\"muted\">No image has a near-copy there at this threshold.</p>\n";
    *out += "</section>\n";
    return;
  }
  if (report.matched_rows > static_cast<int64_t>(report.matches.size())) {
    *out += "<p class=\"muted\">The " + Thousands(static_cast<int64_t>(report.matches.size())) +
            " closest of " + Thousands(report.matched_rows) +
            " matches (all of them are in matches.parquet).</p>\n";
  }
  *out += "<div class=\"pairs\">\n";
  for (const auto& match : report.matches) {
    *out += "<div class=\"pair\">";
    WriteImage(match.image, false, "distance", out);
    *out += "<span class=\"muted\">&#8594;</span>";
    WriteImage(match.match, false, "distance", out);
    *out += "</div>\n";
  }
  *out += "</div>\n</section>\n";
}

}  // namespace

std::string RenderDedupPage(const DedupReport& report) {
  const bool across = !report.against.empty();
  std::string html;
  OpenPage("orchard dedup", report.output.empty() ? report.input : report.output,
           {{"summary", "summary"},
            across ? std::pair<std::string, std::string>{"matches", "matches"}
                   : std::pair<std::string, std::string>{"groups", "groups"}},
           &html);
  html += "<section id=\"summary\"><h2>Near-duplicates</h2>\n<div class=\"cards\">";
  Card(&html, Thousands(report.rows), "images compared");
  if (across) {
    Card(&html, Thousands(report.matched_rows), "with a near-copy");
    if (report.rows > 0) {
      Card(&html,
           FormatFixed(
               100.0 * static_cast<double>(report.matched_rows) / static_cast<double>(report.rows),
               1) +
               " %",
           "of the images");
    }
  } else {
    Card(&html, Thousands(report.groups), "groups");
    Card(&html, Thousands(report.grouped_rows), "images in groups");
  }
  if (report.skipped > 0) Card(&html, Thousands(report.skipped), "vectors skipped", true);
  html += "</div>\n<table class=\"kv\">";
  KeyValue(&html, "input", report.input, true);
  KeyValue(&html, "against", report.against, true);
  KeyValue(&html, "threshold", "cosine distance " + FormatFixed(report.threshold, 4));
  html += "</table>\n";
  if (!report.thumbnails_note.empty()) {
    html += "<p class=\"note\">" + Html(TruncateUtf8(report.thumbnails_note, 2000)) + "</p>\n";
  }
  html += "</section>\n";
  if (across) {
    WriteMatches(report, &html);
  } else {
    WriteGroups(report, &html);
  }
  ClosePage(&html);
  return html;
}

}  // namespace orchard::report
