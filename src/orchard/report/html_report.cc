#include "orchard/report/html_report.h"

#include "orchard/report/page.h"
#include "orchard/report/report_data.h"

namespace orchard::report {

Result<std::string> RenderHtmlReport(const io::Location& root, const HtmlReportOptions& options) {
  return RenderPage(GatherReportData(root, options), root, options);
}

Status WriteHtmlReport(const io::Location& root, const io::Location& target,
                       const HtmlReportOptions& options) {
  ORCHARD_ASSIGN_OR_RAISE(auto html, RenderHtmlReport(root, options));
  return io::WriteAll(target, html);
}

}  // namespace orchard::report
