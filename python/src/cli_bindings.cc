// orchard._native's command line: the executable's own RunCommand (apps/orchard/cli.h),
// for the wheel's `orchard` console script (cli_main) and the job-level Python API
// (run_command, describe_commands). The GIL is released while a command runs, so the job's
// threads, its warnings and Ctrl-C (RunCommand's SIGINT handler) never wait for Python.
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "cli.h"
#include "orchard/util/text.h"

namespace nb = nanobind;

void BindCli(nb::module_& m) {
  m.def(
      "cli_main",
      [](const std::vector<std::string>& args, const std::string& shipped_model) {
        orchard::cli::Frontend frontend;
        frontend.shipped_model = shipped_model;
        nb::gil_scoped_release release;
        const int code = orchard::cli::RunCommand(args, frontend).exit_code;
        std::fflush(stdout);
        std::fflush(stderr);
        return code;
      },
      nb::arg("args"), nb::arg("shipped_model"),
      "`orchard ARGS...` exactly as the executable runs it (output on stdout and stderr) -> "
      "the exit code");
  m.def(
      "run_command",
      [](const std::vector<std::string>& args, const std::string& shipped_model,
         std::optional<bool> progress) {
        orchard::cli::Frontend frontend;
        frontend.shipped_model = shipped_model;
        frontend.print_results = false;
        frontend.progress = progress;
        frontend.second_interrupt_stops = false;
        orchard::cli::Outcome outcome;
        {
          nb::gil_scoped_release release;
          outcome = orchard::cli::RunCommand(args, frontend);
          std::fflush(stderr);
        }
        return std::make_tuple(
            outcome.exit_code, std::string(orchard::cli::ErrorKindName(outcome.error)),
            orchard::util::ValidUtf8(outcome.message),
            outcome.summary.is_null() ? std::string() : orchard::util::DumpJson(outcome.summary));
      },
      nb::arg("args"), nb::arg("shipped_model"), nb::arg("progress") = nb::none(),
      "runs a command without printing its results -> (exit code, error kind ('' on "
      "success), the message the command line prints, the summary as JSON text or '')");
  m.def(
      "describe_commands", [] { return orchard::util::DumpJson(orchard::cli::DescribeCommands()); },
      "every command's options as the command line defines them (JSON text)");
}
