// The orchard command line as a function: the `orchard` executable and the Python package
// (orchard._native.cli_main, the `orchard` console script of the wheel, and the job-level
// API orchard.run/featurize/...) all run commands through RunCommand, so flags, defaults,
// checks, exit codes, the progress line and the messages exist once.
//
// Exit codes: 0 success; 1 the job failed (input, output, model or data problem, message
// on stderr); 2 usage error (bad or missing flags); 130 interrupted (Ctrl-C).
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace orchard::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInterrupted = 130;

/// What kind of failure ended a command; the Python package raises one OrchardError
/// subclass per kind (UsageError, InputError, StorageError, ResourceError, Interrupted).
enum class ErrorKind { kNone, kUsage, kInput, kStorage, kResource, kInterrupted };

/// "usage", "input", "storage", "resource", "interrupted" ("" for kNone).
const char* ErrorKindName(ErrorKind kind);

/// How a front end runs a command.
struct Frontend {
  /// The front end's copy of the shipped MobileNetV2 (jobs::JobOptions::shipped_model).
  std::string shipped_model;
  /// True (the executable, the console script): results go to stdout and stderr as the
  /// command line prints them. False (the Python API): nothing is printed but warnings and
  /// the progress line; the caller gets the summary and the message in the outcome.
  bool print_results = true;
  /// The progress line on stderr; unset: unless -q, when stderr is a terminal.
  std::optional<bool> progress;
  /// True (the executable): a second Ctrl-C ends the process at once. False (the Python
  /// API, where ending the process would lose a notebook's state): every Ctrl-C only
  /// cancels.
  bool second_interrupt_stops = true;
  /// Calls io::FinalizeStorage when the command ends (the executable, which exits next).
  /// The Python package does not: later calls in the process still use S3.
  bool finalize_storage = false;
};

/// How a command ended.
struct Outcome {
  int exit_code = kExitOk;
  ErrorKind error = ErrorKind::kNone;
  /// The message the command line prints for the failure, after "orchard: error: " (or
  /// "orchard: " for a usage error and an interruption); empty on success.
  std::string message;
  /// What `--json` prints: the job's summary (report/summary.json), the classifier's
  /// metrics, inspect's report, or {"predictions": [...]} of predict's file mode (also
  /// when some files failed). Null when no job ran.
  nlohmann::json summary;
};

/// Runs `orchard ARGS...` (without the program name). SIGINT cancels the job while it
/// runs (the previous handler and signal mask are restored afterwards; SIGINT is unblocked
/// during the job, so a Ctrl-C sent before it started still cancels it). Never throws.
Outcome RunCommand(const std::vector<std::string>& args, const Frontend& frontend);

/// The executable's main(): RunCommand(argv[1:]) printing everything; -> the exit code.
int Main(int argc, char** argv, const std::string& shipped_model);

/// Every command's options as the command line defines them, for front ends that map
/// their own arguments onto flags: {command: [{"name": "batch_size", "flag": "--batch-size",
/// "takes_value": bool, "required": bool, "positional": bool, "multiple": bool, "type":
/// CLI11's type name, "default": the default as text or null, "help": text}]}.
nlohmann::json DescribeCommands();

}  // namespace orchard::cli
