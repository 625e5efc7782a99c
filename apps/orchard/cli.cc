#include "cli.h"

#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "classify_commands.h"
#include "index_commands.h"
#include "orchard/io/storage.h"
#include "orchard/jobs/jobs.h"
#include "orchard/model/embedder.h"
#include "orchard/util/text.h"
#include "orchard/version.h"
#include "summary_output.h"

namespace orchard::cli {
namespace {

// ------------------------------------------------------------------ Ctrl-C
// One cancel flag for the process: a Ctrl-C cancels every command running (the Python API
// may run several from threads). The handler is installed while at least one runs.
std::atomic<bool> g_cancel{false};
std::atomic<bool> g_second_interrupt_stops{true};

extern "C" void OnInterrupt(int) {
  g_cancel = true;
  // A second Ctrl-C stops the executable at once (async-signal-safe: sigaction is).
  if (g_second_interrupt_stops.load()) {
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    sigaction(SIGINT, &default_action, nullptr);
  }
}

// Installs OnInterrupt for the life of the object and unblocks SIGINT on this thread;
// the outermost one restores the previous handler (Python's, in the extension) and every
// one its thread's signal mask.
class InterruptScope {
 public:
  explicit InterruptScope(bool second_interrupt_stops) {
    std::lock_guard lock(mutex_);
    if (depth_++ == 0) {
      g_cancel = false;
      g_second_interrupt_stops = second_interrupt_stops;
      struct sigaction action {};
      action.sa_handler = OnInterrupt;
      sigemptyset(&action.sa_mask);
      sigaction(SIGINT, &action, &previous_);
    }
    // A parent may start us with SIGINT blocked (it is then pending, not lost): the job
    // must still see it. Threads the job starts inherit this mask.
    sigset_t interrupt;
    sigemptyset(&interrupt);
    sigaddset(&interrupt, SIGINT);
    pthread_sigmask(SIG_UNBLOCK, &interrupt, &previous_mask_);
  }
  ~InterruptScope() {
    pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
    std::lock_guard lock(mutex_);
    if (--depth_ == 0) sigaction(SIGINT, &previous_, nullptr);
  }
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;

 private:
  static inline std::mutex mutex_;
  static inline int depth_ = 0;
  static inline struct sigaction previous_ {};
  sigset_t previous_mask_{};
};

// ------------------------------------------------------------------ the flags
// The command line's definition: every command, flag and default, parsed into `options`
// and the members below. Built for each RunCommand (CLI11 apps parse once).
class CommandLine {
 public:
  CommandLine(const std::string& shipped_model, bool print)
      : app_("orchard: labelled images -> CNN features -> PCA -> Parquet (local or S3)",
             "orchard") {
    app_.set_version_flag("--version", kVersion);
    app_.require_subcommand(1);
    app_.footer(
        "Exit codes: 0 success, 1 the job failed, 2 usage error, 130 interrupted.\n"
        "Paths may be local or s3://bucket/prefix. S3 credentials come from the standard AWS\n"
        "chain (environment, ~/.aws files and profiles, instance metadata).");
    options.shipped_model = shipped_model;  // the jobs resolve -m, $ORCHARD_MODEL and this

    run = app_.add_subcommand("run", "featurize, fit PCA, project, report: the whole pipeline");
    AddFeaturize(run);
    AddPca(run);
    AddCommon(run);
    featurize = app_.add_subcommand("featurize", "images -> features and errors tables");
    AddFeaturize(featurize);
    AddCommon(featurize);
    fit_pca = app_.add_subcommand(
        "fit-pca", "fit PCA on OUTPUT/features; writes pca_model/ and the scree plot");
    AddPca(fit_pca);
    AddCommon(fit_pca);
    project = app_.add_subcommand("project",
                                  "project OUTPUT/features with OUTPUT/pca_model into OUTPUT/pca");
    AddCommon(project);
    inspect = app_.add_subcommand("inspect", "schema, row counts and PCA summary of an output");
    inspect->add_option("output", inspect_path, "output folder or s3:// prefix")->required();
    AddStorage(inspect);
    pack = app_.add_subcommand("pack", "images -> WebDataset tar shards (KEY.ext, .cls, .json)");
    pack->add_option("-i,--input", options.input, "input folder or s3:// prefix (any input)")
        ->required();
    pack->add_option("-o,--output", options.output, "empty folder or s3:// prefix for the shards")
        ->required();
    pack->add_option("--samples-per-shard", samples_per_shard, "images per shard")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
    pack->add_option("--max-file-bytes", options.max_file_bytes,
                     "larger files are skipped, never read")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    AddStorage(pack);
    classify = std::make_unique<ClassifyCommands>(&app_, shipped_model, print);  // train, predict
    index = std::make_unique<IndexCommands>(&app_, shipped_model, print);  // index, search, dedup
  }

  CLI::App& app() { return app_; }

  jobs::JobOptions options;
  bool overwrite = false;
  bool resume = false;
  bool update = false;
  bool quiet = false;
  bool json_summary = false;
  std::string inspect_path;
  int64_t samples_per_shard = pipeline::kDefaultSamplesPerShard;
  CLI::App* pack = nullptr;
  CLI::App* run = nullptr;
  CLI::App* featurize = nullptr;
  CLI::App* fit_pca = nullptr;
  CLI::App* project = nullptr;
  CLI::App* inspect = nullptr;
  std::unique_ptr<ClassifyCommands> classify;
  std::unique_ptr<IndexCommands> index;

 private:
  void AddStorage(CLI::App* command) {
    command->add_option("--endpoint-url", options.storage.endpoint_url,
                        "S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: "
                        "AWS_ENDPOINT_URL, else AWS)");
    command->add_option("--region", options.storage.region,
                        "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or the bucket's)");
    command->add_flag("--virtual-addressing", options.storage.virtual_addressing,
                      "use bucket.host addressing instead of path-style");
  }
  void AddCommon(CLI::App* command) {
    command->add_option("-o,--output", options.output, "output folder or s3:// prefix")->required();
    command->add_option("-j,--threads", options.threads, "cores to use (default: all)")
        ->check(ThreadCountValidator());
    command->add_flag("-q,--quiet", quiet, "no progress line or warnings");
    command->add_flag("--json", json_summary, "print the run summary as JSON on stdout");
    AddStorage(command);
  }
  void AddFeaturize(CLI::App* command) {
    command
        ->add_option("-i,--input", options.input,
                     "input folder or s3:// prefix, one sub-folder per label")
        ->required();
    command->add_option("-m,--model", options.model,
                        "ONNX model: input NCHW float32 [N,3,H,W], 2-D float output (default: "
                        "$ORCHARD_MODEL, else the shipped MobileNetV2)");
    command->add_option("--model-sha256", options.model_sha256,
                        "refuse the model unless its sha256 matches (checked by default for "
                        "the shipped model)");
    command->add_option("--output-name", options.output_name, "model output holding the embedding")
        ->capture_default_str();
    command->add_option("-b,--batch-size", options.batch_size, "images per inference call")
        ->capture_default_str()
        ->check(CLI::Range(1, 4096));
    command
        ->add_option("--io-threads", options.io_threads,
                     "concurrent reads (default: 256 for S3, inline for local)")
        ->check(CLI::Range(0, 256));
    command->add_option("--rows-per-part", options.rows_per_part, "rows per Parquet part file")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
    command
        ->add_option("--max-pixels", options.max_pixels,
                     "reject images that declare more pixels than this")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    command
        ->add_option("--max-file-bytes", options.max_file_bytes,
                     "files larger than this are error rows, never read")
        ->capture_default_str()
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
    command->add_option("--path-glob", options.path_glob,
                        "only files whose name matches this shell glob (e.g. '*.jpg')");
    command
        ->add_option("--label-from", options.label_from,
                     "tar shards: a sample's label from its shard's folder, its .cls or .txt "
                     "member, or a key of its .json member (folder, cls, txt, json:KEY)")
        ->capture_default_str();
    auto* overwrite_flag =
        command->add_flag("--overwrite", overwrite, "replace an existing output");
    command
        ->add_flag("--resume", resume,
                   "continue an interrupted run into the same output, reusing finished parts")
        ->excludes(overwrite_flag);
    // Checked in RunParsed, not with CLI11's excludes: its help lists two excluded flags in
    // pointer order, which differs between processes.
    command->add_flag("--update", update,
                      "bring a finished output up to date with its changed input: only new, "
                      "changed and failed-to-read images are featurized, rows of deleted ones "
                      "dropped, the PCA refitted (not with --overwrite or --resume)");
  }
  void AddPca(CLI::App* command) {
    command
        ->add_option("--pca-variance", options.pca.variance_threshold,
                     "keep the fewest components explaining this share of variance, in (0,1]")
        ->capture_default_str()
        ->check(CLI::Range(1e-9, 1.0).description("a number in (0, 1], e.g. 0.99"));
    command
        ->add_option("--pca-k", options.pca.k,
                     "keep exactly k components (overrides --pca-variance)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  }

  CLI::App app_;
};

ErrorKind KindOf(const Status& status) {
  if (IsUsageError(status)) return ErrorKind::kUsage;
  if (status.IsCancelled()) return ErrorKind::kInterrupted;
  if (status.IsIOError()) return ErrorKind::kStorage;
  if (status.IsOutOfMemory()) return ErrorKind::kResource;
  return ErrorKind::kInput;
}

Outcome Failed(ErrorKind kind, std::string message) {
  Outcome outcome;
  outcome.error = kind;
  outcome.message = std::move(message);
  switch (kind) {
    case ErrorKind::kUsage:
      outcome.exit_code = kExitUsage;
      break;
    case ErrorKind::kInterrupted:
      outcome.exit_code = kExitInterrupted;
      break;
    default:
      outcome.exit_code = kExitFailure;
  }
  return outcome;
}

Outcome RunParsed(CommandLine& line, const Frontend& frontend) {
  jobs::JobOptions& options = line.options;
  if (line.overwrite) options.existing = output::ExistingOutput::kOverwrite;
  if (line.resume) options.existing = output::ExistingOutput::kResume;
  if (line.update) {
    if (line.overwrite || line.resume) {
      Outcome refused =
          Failed(ErrorKind::kUsage, std::string("--update cannot be combined with ") +
                                        (line.overwrite ? "--overwrite" : "--resume"));
      if (frontend.print_results) {
        std::fprintf(stderr, "orchard: error: %s\n", refused.message.c_str());
      }
      return refused;
    }
    options.existing = output::ExistingOutput::kUpdate;
  }
  options.progress = frontend.progress.value_or(!line.quiet && isatty(STDERR_FILENO));
  if (!line.quiet) {
    // The message names files: printed as one inert line (no escape sequence, no line
    // break, no bidi override from a file name reaches the terminal). Only a terminal
    // showing the progress line gets the sequence that clears it; a log gets plain text.
    const bool clear_progress_line = options.progress;
    options.warn = [clear_progress_line](const std::string& message) {
      std::fprintf(stderr, "%swarning: %s\n", clear_progress_line ? "\r\033[K" : "",
                   util::ForTerminal(message).c_str());
    };
  }
  options.cancel = &g_cancel;

  Result<nlohmann::json> result;
  bool json_summary = line.json_summary;
  std::optional<output::JobSummary> job_summary;  // run, featurize, fit-pca, project
  auto run_job = [&](auto job) -> Result<nlohmann::json> {
    ORCHARD_ASSIGN_OR_RAISE(job_summary, job(options));
    return output::ToJson(*job_summary);
  };
  {
    InterruptScope interrupts(frontend.second_interrupt_stops);
    if (line.run->parsed()) {
      result = run_job(jobs::RunJob);
    } else if (line.featurize->parsed()) {
      result = run_job(jobs::FeaturizeJob);
    } else if (line.fit_pca->parsed()) {
      result = run_job(jobs::FitPcaJob);
    } else if (line.project->parsed()) {
      result = run_job(jobs::ProjectJob);
    } else if (line.pack->parsed()) {
      result = [&]() -> Result<nlohmann::json> {
        ORCHARD_ASSIGN_OR_RAISE(auto packed, jobs::PackJob(options, line.samples_per_shard));
        return nlohmann::json{
            {"samples", packed.samples}, {"shards", packed.shards}, {"skipped", packed.skipped}};
      }();
      json_summary = true;
    } else if (line.classify->parsed()) {
      result = line.classify->Run(options, frontend.progress);
      json_summary = line.classify->json_summary();
    } else if (line.index->parsed()) {
      result = line.index->Run(options);
      json_summary = line.index->json_summary();
    } else {
      result = jobs::InspectOutput(line.inspect_path, options.storage);
      json_summary = true;
    }
  }
  if (frontend.finalize_storage) io::FinalizeStorage();

  if (!result.ok()) {
    const ErrorKind kind = KindOf(result.status());
    Outcome outcome =
        kind == ErrorKind::kInterrupted
            ? Failed(kind, "interrupted; nothing was published (re-run with --resume)")
            : Failed(kind, util::ForTerminal(io::ExplainAccessDenied(result.status().message())));
    outcome.summary = line.classify->file_predictions();  // predict's files, even when some failed
    if (frontend.print_results) {
      std::fprintf(stderr,
                   kind == ErrorKind::kInterrupted ? "\norchard: %s\n" : "\norchard: error: %s\n",
                   outcome.message.c_str());
    }
    return outcome;
  }
  Outcome outcome;
  outcome.summary = std::move(result).ValueOrDie();
  if (!frontend.print_results || line.classify->printed() || line.index->printed()) {
    return outcome;
  }
  if (json_summary) {
    std::cout << util::DumpJson(outcome.summary, 2, util::JsonChars::kAscii) << std::endl;
  } else if (job_summary) {
    PrintSummary(*job_summary);
  }
  return outcome;
}

}  // namespace

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUsage:
      return "usage";
    case ErrorKind::kInput:
      return "input";
    case ErrorKind::kStorage:
      return "storage";
    case ErrorKind::kResource:
      return "resource";
    case ErrorKind::kInterrupted:
      return "interrupted";
    case ErrorKind::kNone:
      break;
  }
  return "";
}

Outcome RunCommand(const std::vector<std::string>& args, const Frontend& frontend) {
  try {
    CommandLine line(frontend.shipped_model, frontend.print_results);
    CLI::App& app = line.app();
    // CLI11 takes the arguments last first when given a vector.
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    try {
      app.parse(reversed);
    } catch (const CLI::ParseError& error) {
      if (error.get_exit_code() == 0) {  // --help, --version
        if (frontend.print_results) app.exit(error);
        return Outcome{};
      }
      const std::string message =
          util::ForTerminal(error.what()) + " (see `orchard " +
          (app.get_subcommands().empty() ? std::string("--help")
                                         : app.get_subcommands().front()->get_name() + " --help") +
          "`)";
      if (frontend.print_results) std::cerr << "orchard: " << message << "\n";
      return Failed(ErrorKind::kUsage, message);  // whatever CLI11's own code for the error
    }
    return RunParsed(line, frontend);
  } catch (const std::bad_alloc&) {
    return Failed(ErrorKind::kResource, "out of memory");
  } catch (const std::exception& error) {
    // Never expected (the library returns Status values): said, not thrown across the
    // Python boundary or out of main().
    return Failed(ErrorKind::kInput, util::ForTerminal(error.what()));
  }
}

int Main(int argc, char** argv, const std::string& shipped_model) {
  Frontend frontend;
  frontend.shipped_model = shipped_model;
  frontend.finalize_storage = true;
  std::vector<std::string> args;
  for (int idx = 1; idx < argc; ++idx) args.emplace_back(argv[idx]);
  return RunCommand(args, frontend).exit_code;
}

nlohmann::json DescribeCommands() {
  CommandLine line("", /*print=*/false);
  nlohmann::json commands = nlohmann::json::object();
  for (const CLI::App* command : line.app().get_subcommands([](CLI::App*) { return true; })) {
    nlohmann::json described = nlohmann::json::array();
    for (const CLI::Option* option : command->get_options()) {
      std::string flag;
      if (!option->get_lnames().empty()) {
        flag = "--" + option->get_lnames().front();
      } else if (!option->get_snames().empty()) {
        flag = "-" + option->get_snames().front();
      }
      if (flag == "--help") continue;
      std::string name = !option->get_lnames().empty()   ? option->get_lnames().front()
                         : !option->get_snames().empty() ? option->get_snames().front()
                                                         : option->get_name(/*positional=*/true);
      for (char& c : name) {
        if (c == '-') c = '_';
      }
      const std::string default_text = option->get_default_str();
      described.push_back({{"name", name},
                           {"flag", flag},
                           {"takes_value", option->get_expected_min() > 0 || flag.empty()},
                           {"required", option->get_required()},
                           {"positional", flag.empty()},
                           {"multiple", option->get_expected_max() > 1},
                           {"type", option->get_type_name()},
                           {"default", default_text.empty() ? nlohmann::json(nullptr)
                                                            : nlohmann::json(default_text)},
                           {"help", option->get_description()}});
    }
    commands[command->get_name()] = described;
  }
  return commands;
}

}  // namespace orchard::cli
