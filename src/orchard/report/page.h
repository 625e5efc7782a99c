// The report page: the HTML skeleton (head, the Content-Security-Policy, the style sheet,
// the navigation, the notes) around the sections (sections.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/report/html_report.h"
#include "orchard/report/report_data.h"

namespace orchard::report {

/// The page's start (head, Content-Security-Policy, style sheet, the header with
/// `heading`, `shown` under it and the navigation links [(anchor, label)]) and end, for
/// every page orchard writes (the run report, the dedup page).
void OpenPage(const std::string& heading, const std::string& shown,
              const std::vector<std::pair<std::string, std::string>>& nav, std::string* html);
void ClosePage(std::string* html);

/// The whole page of `data`, gathered from `root`.
std::string RenderPage(const ReportData& data, const io::Location& root,
                       const HtmlReportOptions& options);

}  // namespace orchard::report
