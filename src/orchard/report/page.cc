#include "orchard/report/page.h"

#include <utility>
#include <vector>

#include "orchard/report/html_text.h"
#include "orchard/report/sections.h"
#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
main{max-width:1160px;margin:0 auto;padding:16px 24px 48px}
header{background:#1f3a5f;color:#fff;padding:18px 24px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;word-break:break-all}
nav{margin-top:8px}nav a{color:#cfe3ff;margin-right:14px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:14px 20px;margin:18px 0}
h2{font-size:18px;margin:4px 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px}
.card{border:1px solid #dde;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#666}
.card.bad b{color:#c0392b}
table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:4px 10px 4px 0;text-align:left;vertical-align:top}
th{color:#555;font-weight:600}
table.kv th{width:150px}
table.stages{margin-bottom:6px}
h3{font-size:15px;margin:16px 0 6px}
td.num,th.num{text-align:right}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.errors td{word-break:break-word}
.note{background:#fff6e5;border-left:4px solid #f0a020;padding:6px 10px;margin:8px 0;font-size:13px}
.muted{color:#777;font-size:13px}
.chart{overflow-x:auto}
.chart svg{max-width:100%;height:auto;display:block}
.group{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0 14px}
.member{width:132px;font-size:11px;border:1px solid #eee;border-radius:4px;padding:4px}
.member.rep{border-color:#1f3a5f}
.member img,.member .missing{width:64px;height:64px;display:block;margin:0 auto 3px;object-fit:contain}
.member .missing{background:#eee;color:#999;font-size:10px;line-height:64px;text-align:center}
.member .path{word-break:break-all}
.pairs{display:flex;flex-wrap:wrap;gap:8px 20px}
.pair{display:flex;gap:4px;align-items:center}
)css";

}  // namespace

void OpenPage(const std::string& heading, const std::string& shown,
              const std::vector<std::pair<std::string, std::string>>& nav, std::string* html) {
  *html +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      // Nothing may load or run: the page is data only, whatever its labels say.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
      "<title>" +
      Html(heading) + ": " + Html(TruncateUtf8(shown, 120)) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n<header><h1>" + Html(heading) + "</h1><p>" + Html(shown) +
      "</p><nav>";
  for (const auto& [anchor, label] : nav) {
    *html += "<a href=\"#" + Html(anchor) + "\">" + Html(label) + "</a>";
  }
  *html += "</nav></header>\n<main>\n";
}

void ClosePage(std::string* html) { *html += "</main>\n</body>\n</html>\n"; }

std::string RenderPage(const ReportData& data, const io::Location& root,
                       const HtmlReportOptions& options) {
  const std::string output = data.summary ? data.summary->output : std::string();
  const std::string shown = output.empty() ? root.display : output;
  std::string html;
  html.reserve(1 << 20);
  std::vector<std::pair<std::string, std::string>> nav = {{"run", "run"}};
  if (data.model || data.have_pca) nav.emplace_back("pca", "PCA");
  if (data.have_features) nav.emplace_back("classes", "classes");
  nav.emplace_back("errors", "errors");
  if (data.metrics) nav.emplace_back("predict", "predictions");
  OpenPage("orchard report", shown, nav, &html);
  for (const auto& note : data.notes) {
    html += "<p class=\"note\">" + Html(TruncateUtf8(note, 2000)) + "</p>\n";
  }
  WriteRunSection(data, root, &html);
  WritePredictSection(data, &html);
  WritePcaSection(data, options, &html);
  WriteClassesSection(data, &html);
  WriteErrorsSection(data, &html);
  ClosePage(&html);
  return html;
}

}  // namespace orchard::report
