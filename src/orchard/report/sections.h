// The sections of the report page, each appended to `out` from the gathered data (never
// from a file): run, predictions, PCA, images per class, errors. page.cc puts them in order.
#pragma once

#include <string>

#include "orchard/io/storage.h"
#include "orchard/report/html_report.h"
#include "orchard/report/report_data.h"

namespace orchard::report {

/// Counts, times, where the run read and wrote, which engine ran it.
void WriteRunSection(const ReportData& data, const io::Location& root, std::string* out);
/// Accuracy cards, recall per class, the confusion matrix; nothing without metrics.
void WritePredictSection(const ReportData& data, std::string* out);
/// The scree plot and a sample of the first two components; nothing without either.
void WritePcaSection(const ReportData& data, const HtmlReportOptions& options, std::string* out);
/// Images per class; nothing without a features table.
void WriteClassesSection(const ReportData& data, std::string* out);
/// Failures per stage and the first rows of the errors table.
void WriteErrorsSection(const ReportData& data, std::string* out);

}  // namespace orchard::report
