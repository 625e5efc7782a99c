// The report page: the HTML skeleton (head, the Content-Security-Policy, the style sheet,
// the navigation, the notes) around the sections (sections.h).
#pragma once

#include <string>

#include "orchard/io/storage.h"
#include "orchard/report/html_report.h"
#include "orchard/report/report_data.h"

namespace orchard::report {

/// The whole page of `data`, gathered from `root`.
std::string RenderPage(const ReportData& data, const io::Location& root,
                       const HtmlReportOptions& options);

}  // namespace orchard::report
