// orchard._native.write_html_report: the run report (report/index.html) for the Python
// extension; the module's init calls BindReport(m) after registering OrchardError.
#pragma once

#include <nanobind/nanobind.h>

void BindReport(nanobind::module_& m);
