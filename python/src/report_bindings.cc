// Binds orchard::report::WriteHtmlReport. The Spark driver calls it on the finished output
// (the same report as the CLI's, from the same files); users can re-render any output.
#include "report_bindings.h"

#include "bindings.h"

#include <nanobind/stl/string.h>

#include <optional>
#include <stdexcept>
#include <string>

#include "orchard/io/storage.h"
#include "orchard/report/html_report.h"

namespace nb = nanobind;

namespace {

void WriteHtmlReport(const std::string& output_uri, const std::string& endpoint_url,
                     const std::string& metrics_uri, const std::string& target_uri,
                     const std::string& region) {
  orchard::Status status;
  {
    nb::gil_scoped_release release;
    status = [&]() -> orchard::Status {
      orchard::io::StorageOptions storage;
      storage.endpoint_url = endpoint_url;
      storage.region = region;  // the same S3 configuration as every other native call
      ORCHARD_ASSIGN_OR_RAISE(auto root, orchard::io::ResolveLocation(output_uri, storage));
      orchard::io::Location target = root.Child("report/index.html");
      if (!target_uri.empty()) {
        ORCHARD_ASSIGN_OR_RAISE(target, orchard::io::ResolveLocation(target_uri, storage));
      }
      orchard::report::HtmlReportOptions options;
      if (!metrics_uri.empty()) {
        ORCHARD_ASSIGN_OR_RAISE(options.metrics,
                                orchard::io::ResolveLocation(metrics_uri, storage));
      }
      return orchard::report::WriteHtmlReport(root, target, options);
    }();
  }
  orchard::python::Check(status);
}

}  // namespace

void BindReport(nb::module_& m) {
  m.def("write_html_report", &WriteHtmlReport, nb::arg("output_uri"), nb::arg("endpoint_url") = "",
        nb::arg("metrics_uri") = "", nb::arg("target_uri") = "", nb::arg("region") = "",
        "Writes report/index.html of the output folder or s3:// prefix `output_uri` (or to "
        "`target_uri`) from its summary, PCA model, tables and, when given or present in "
        "report/metrics.json, the predict metrics. Raises OrchardError when the report "
        "cannot be written.");
  // Arrow's S3 support must be shut down before the interpreter exits when it was used;
  // FinalizeStorage does nothing otherwise.
  nb::module_::import_("atexit").attr("register")(
      nb::cpp_function([] { orchard::io::FinalizeStorage(); }));
}
