// orchard: the command-line front end. It parses flags, calls the library and maps a
// Status to a message and an exit code in one place.
//
// Exit codes: 0 success; 1 the job failed (input, output, model or data problem, message
// on stderr); 2 usage error (bad or missing flags); 130 interrupted (Ctrl-C).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "classify_commands.h"
#include "orchard/io/storage.h"
#include "orchard/jobs/jobs.h"
#include "orchard/model/embedder.h"
#include "orchard/util/text.h"
#include "orchard/version.h"
#include "summary_output.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;

std::atomic<bool> g_cancel{false};

extern "C" void OnInterrupt(int) {
  g_cancel = true;
  std::signal(SIGINT, SIG_DFL);  // a second Ctrl-C stops at once
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"orchard: labelled images -> CNN features -> PCA -> Parquet (local or S3)"};
  app.set_version_flag("--version", orchard::kVersion);
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success, 1 the job failed, 2 usage error, 130 interrupted.\n"
      "Paths may be local or s3://bucket/prefix. S3 credentials come from the standard AWS\n"
      "chain (environment, ~/.aws files and profiles, instance metadata).");

  orchard::jobs::JobOptions options;
  options.shipped_model = ORCHARD_DEFAULT_MODEL;  // the jobs resolve -m, $ORCHARD_MODEL and this
  bool overwrite = false;
  bool resume = false;
  bool quiet = false;
  bool json_summary = false;

  auto add_storage = [&](CLI::App* command) {
    command->add_option("--endpoint-url", options.storage.endpoint_url,
                        "S3-compatible endpoint, e.g. http://127.0.0.1:9000 (default: "
                        "AWS_ENDPOINT_URL, else AWS)");
    command->add_option("--region", options.storage.region,
                        "AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, or the bucket's)");
    command->add_flag("--virtual-addressing", options.storage.virtual_addressing,
                      "use bucket.host addressing instead of path-style");
  };
  auto add_common = [&](CLI::App* command) {
    command->add_option("-o,--output", options.output, "output folder or s3:// prefix")->required();
    command->add_option("-j,--threads", options.threads, "cores to use (default: all)")
        ->check(orchard::cli::ThreadCountValidator());
    command->add_flag("-q,--quiet", quiet, "no progress line or warnings");
    command->add_flag("--json", json_summary, "print the run summary as JSON on stdout");
    add_storage(command);
  };
  auto add_featurize = [&](CLI::App* command) {
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
    auto* overwrite_flag =
        command->add_flag("--overwrite", overwrite, "replace an existing output");
    command
        ->add_flag("--resume", resume,
                   "continue an interrupted run into the same output, reusing finished parts")
        ->excludes(overwrite_flag);
  };
  auto add_pca = [&](CLI::App* command) {
    command
        ->add_option("--pca-variance", options.pca.variance_threshold,
                     "keep the fewest components explaining this share of variance, in (0,1]")
        ->capture_default_str()
        ->check(CLI::Range(1e-9, 1.0).description("a number in (0, 1], e.g. 0.99"));
    command
        ->add_option("--pca-k", options.pca.k,
                     "keep exactly k components (overrides --pca-variance)")
        ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  };

  auto* run = app.add_subcommand("run", "featurize, fit PCA, project, report: the whole pipeline");
  add_featurize(run);
  add_pca(run);
  add_common(run);
  auto* featurize = app.add_subcommand("featurize", "images -> features and errors tables");
  add_featurize(featurize);
  add_common(featurize);
  auto* fit_pca = app.add_subcommand(
      "fit-pca", "fit PCA on OUTPUT/features; writes pca_model/ and the scree plot");
  add_pca(fit_pca);
  add_common(fit_pca);
  auto* project = app.add_subcommand(
      "project", "project OUTPUT/features with OUTPUT/pca_model into OUTPUT/pca");
  add_common(project);
  std::string inspect_path;
  auto* inspect = app.add_subcommand("inspect", "schema, row counts and PCA summary of an output");
  inspect->add_option("output", inspect_path, "output folder or s3:// prefix")->required();
  add_storage(inspect);
  orchard::cli::ClassifyCommands classify(&app, ORCHARD_DEFAULT_MODEL);  // train, predict

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --version
    std::cerr << "orchard: " << orchard::util::ForTerminal(error.what()) << " (see `orchard "
              << (app.get_subcommands().empty()
                      ? std::string("--help")
                      : app.get_subcommands().front()->get_name() + " --help")
              << "`)\n";
    return kExitUsage;  // whatever CLI11's own code for the error
  }

  if (overwrite) options.existing = orchard::output::ExistingOutput::kOverwrite;
  if (resume) options.existing = orchard::output::ExistingOutput::kResume;
  options.progress = !quiet && isatty(STDERR_FILENO);
  if (!quiet) {
    // The message names files: printed as one inert line (no escape sequence, no line
    // break, no bidi override from a file name reaches the terminal). Only a terminal
    // showing the progress line gets the sequence that clears it; a log gets plain text.
    const bool clear_progress_line = options.progress;
    options.warn = [clear_progress_line](const std::string& message) {
      std::fprintf(stderr, "%swarning: %s\n", clear_progress_line ? "\r\033[K" : "",
                   orchard::util::ForTerminal(message).c_str());
    };
  }
  options.cancel = &g_cancel;
  std::signal(SIGINT, OnInterrupt);

  orchard::Result<nlohmann::json> result;
  std::optional<orchard::output::JobSummary> job_summary;  // run, featurize, fit-pca, project
  auto run_job = [&](auto job) -> orchard::Result<nlohmann::json> {
    ORCHARD_ASSIGN_OR_RAISE(job_summary, job(options));
    return orchard::output::ToJson(*job_summary);
  };
  if (run->parsed()) {
    result = run_job(orchard::jobs::RunJob);
  } else if (featurize->parsed()) {
    result = run_job(orchard::jobs::FeaturizeJob);
  } else if (fit_pca->parsed()) {
    result = run_job(orchard::jobs::FitPcaJob);
  } else if (project->parsed()) {
    result = run_job(orchard::jobs::ProjectJob);
  } else if (classify.parsed()) {
    result = classify.Run(options);
    json_summary = classify.json_summary();
  } else {
    result = orchard::jobs::InspectOutput(inspect_path, options.storage);
    json_summary = true;
  }
  orchard::io::FinalizeStorage();

  if (!result.ok()) {
    if (result.status().IsCancelled()) {
      std::fprintf(stderr,
                   "\norchard: interrupted; nothing was published (re-run with --resume)\n");
      return kExitInterrupted;
    }
    std::fprintf(
        stderr, "\norchard: error: %s\n",
        orchard::util::ForTerminal(orchard::io::ExplainAccessDenied(result.status().message()))
            .c_str());
    return orchard::IsUsageError(result.status()) ? kExitUsage : kExitFailure;
  }
  if (classify.printed()) return 0;
  if (json_summary) {
    std::cout << orchard::util::DumpJson(*result, 2, orchard::util::JsonChars::kAscii) << std::endl;
  } else if (job_summary) {
    orchard::cli::PrintSummary(*job_summary);
  }
  return 0;
}
