#include "classify_commands.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "orchard/jobs/model_loading.h"
#include "orchard/model/embedder.h"
#include "orchard/util/text.h"
#include "summary_output.h"

namespace orchard::cli {
namespace {

void AddStorage(CLI::App* command, io::StorageOptions* storage) {
  command->add_option("--endpoint-url", storage->endpoint_url,
                      "S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS)");
  command->add_option("--region", storage->region, "AWS region");
  command->add_flag("--virtual-addressing", storage->virtual_addressing,
                    "use bucket.host addressing instead of path-style");
}

}  // namespace

CLI::Validator ThreadCountValidator() {
  return CLI::Validator(
      [](std::string& value) -> std::string {
        int threads = 0;
        if (!CLI::detail::lexical_cast(value, threads)) return "not an integer: " + value;
        const Status status = jobs::CheckThreadCount(threads);
        return status.ok() ? std::string() : status.message();
      },
      "0.." + std::to_string(jobs::MaxThreads()));
}

ClassifyCommands::ClassifyCommands(CLI::App* app, const std::string& default_model, bool print)
    : default_model_(default_model), print_(print) {
  train_ = app->add_subcommand(
      "train", "train a softmax classifier on OUTPUT/features (or pca) of an earlier run");
  train_->add_option("-i,--input", train_options_.input, "an earlier `orchard run` output")
      ->required();
  train_->add_option("-o,--output", train_options_.model_dir, "model folder to write (or s3://)")
      ->required();
  train_->add_option("--on", train_options_.on, "train on 'features' or 'pca' vectors")
      ->capture_default_str()
      ->check(CLI::IsMember({"features", "pca"}));
  train_
      ->add_option("--validation-split", train_options_.train.validation_split,
                   "share of rows held out (stratified) to choose C")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9));
  train_->add_option("--seed", train_options_.train.seed, "seed of the validation split")
      ->capture_default_str();
  train_
      ->add_option("--c", train_options_.train.c,
                   "inverse L2 regularization (default: chosen on the validation split from "
                   "0.001, 0.01, 0.1, 1, 10)")
      ->check(CLI::PositiveNumber);
  train_
      ->add_option("--max-iterations", train_options_.train.max_iterations,
                   "L-BFGS iterations per fit")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  train_
      ->add_option("--tolerance", train_options_.train.tolerance,
                   "stop a fit when the objective falls by less than this share over 5 "
                   "iterations")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  train_->add_option("-j,--threads", train_options_.train.threads, "cores to use (default: all)")
      ->check(ThreadCountValidator());
  train_->add_flag("--overwrite", train_options_.overwrite, "replace an existing classifier");
  train_->add_flag("-q,--quiet", quiet_, "no summary on stderr");
  train_->add_flag("--json", json_summary_, "print the training metrics as JSON on stdout");
  AddStorage(train_, &train_options_.storage);

  predict_ = app->add_subcommand(
      "predict",
      "classify images: -i IMAGES|EARLIER_OUTPUT -o PRED, or image files (top 5 on stdout)");
  auto* classifier = predict_->add_option("-m,--model", predict_options_.model_dir,
                                          "classifier folder (orchard train)");
  auto* knn = predict_->add_option(
      "--knn", knn_options_.index_dir,
      "instead of -m: a vote of the nearest rows of this index (orchard index), -i OUT -o PRED");
  knn->excludes(classifier);
  predict_->add_option("--knn-neighbours", knn_options_.k, "neighbours voting with --knn")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, jobs::kMaxNeighbours));
  auto* input = predict_->add_option(
      "-i,--input", predict_options_.job.input,
      "images (folder or s3://, one sub-folder per label) or an earlier output");
  auto* output =
      predict_->add_option("-o,--output", predict_options_.job.output, "output folder or s3://");
  auto* files = predict_->add_option("files", files_, "image files: print the top 5 of each");
  input->needs(output);
  output->needs(input);
  files->excludes(input);
  predict_->add_option("--backbone", predict_options_.job.model,
                       "embedding model (ONNX); must be the one the classifier was trained on "
                       "(default: the shipped MobileNetV2)");
  predict_
      ->add_option("--output-name", predict_options_.job.output_name,
                   "model output holding the embedding")
      ->capture_default_str();
  predict_
      ->add_option("-b,--batch-size", predict_options_.job.batch_size, "images per inference call")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  predict_
      ->add_option("--rows-per-part", predict_options_.job.rows_per_part,
                   "rows per Parquet part file")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  predict_
      ->add_option("--max-pixels", predict_options_.job.max_pixels,
                   "reject images that declare more pixels than this")
      ->capture_default_str();
  predict_
      ->add_option("--max-file-bytes", predict_options_.job.max_file_bytes,
                   "files larger than this are error rows, never read")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  predict_->add_option("--top", top_k_, "how many classes to print per file")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  predict_->add_option("-j,--threads", predict_options_.job.threads, "cores to use (default: all)")
      ->check(ThreadCountValidator());
  predict_->add_flag("--overwrite", overwrite_, "replace an existing output");
  predict_->add_flag("-q,--quiet", quiet_, "no progress line or warnings");
  predict_->add_flag("--json", json_summary_, "print the summary as JSON on stdout");
  AddStorage(predict_, &predict_options_.job.storage);
}

bool ClassifyCommands::parsed() const { return train_->parsed() || predict_->parsed(); }

Result<nlohmann::json> ClassifyCommands::Run(const jobs::JobOptions& shared,
                                             std::optional<bool> progress) {
  // Without printing, stdout gets nothing: the results are the caller's (the Python API).
  const bool print_lines = print_ && !json_summary_;
  const bool print_json = print_ && json_summary_;
  if (train_->parsed()) {
    ORCHARD_ASSIGN_OR_RAISE(auto summary, jobs::TrainJob(train_options_));
    if (!quiet_ && print_lines) PrintSummary(summary);
    printed_ = !json_summary_;
    return ToJson(summary, /*with_output=*/true);
  }

  // predict
  auto& job = predict_options_.job;
  if (!knn_options_.index_dir.empty()) {
    if (job.input.empty() || !files_.empty()) {
      return UsageError("predict --knn takes an earlier output: give -i OUT -o PRED");
    }
    knn_options_.input = job.input;
    knn_options_.output = job.output;
    knn_options_.threads = job.threads;
    knn_options_.storage = job.storage;
    knn_options_.overwrite = overwrite_;
    ORCHARD_ASSIGN_OR_RAISE(auto summary, jobs::KnnPredictJob(knn_options_));
    if (print_lines) PrintSummary(summary);
    printed_ = !json_summary_;
    return ToJson(summary);
  }
  if (predict_options_.model_dir.empty()) {
    return UsageError("give the classifier (-m MODEL_DIR) or an index (--knn INDEX_DIR)");
  }
  job.shipped_model = default_model_;  // the jobs resolve model and checksum (ResolveJobOptions)
  if (overwrite_) job.existing = output::ExistingOutput::kOverwrite;
  job.cancel = shared.cancel;
  job.progress = progress.value_or(!quiet_ && isatty(STDERR_FILENO));
  if (!quiet_) job.warn = shared.warn;
  if (job.input.empty()) {
    if (files_.empty()) {
      return Status::Invalid("give image files, or --input and --output (see predict --help)");
    }
    ORCHARD_ASSIGN_OR_RAISE(auto predictions, jobs::PredictFiles(predict_options_, files_, top_k_));
    // stdout is a TSV with a header: path, rank, label, probability, error (one row per
    // class, or one row with only path and error). Fields are written ForTerminal of their
    // table form, so none holds a tab, a line break or a control sequence, and the path
    // still decodes to the file's name (util::UnescapeName). --json writes the same as
    // ASCII-only JSON.
    if (print_lines) std::printf("path\trank\tlabel\tprobability\terror\n");
    nlohmann::json out = nlohmann::json::array();
    int64_t failed = 0;
    for (const auto& prediction : predictions) {
      const std::string path = util::EscapeName(prediction.path);
      nlohmann::json entry = {{"path", path}};
      if (!prediction.error.empty()) {
        ++failed;
        const std::string error = util::ValidUtf8(prediction.error);
        entry["error"] = error;
        if (print_lines) {
          std::printf("%s\t\t\t\t%s\n", util::ForTerminal(path).c_str(),
                      util::ForTerminal(error).c_str());
        }
      } else {
        nlohmann::json top = nlohmann::json::array();
        for (size_t rank = 0; rank < prediction.labels.size(); ++rank) {
          // Class names are labels in their table form already (escaped at the listing).
          const std::string& label = prediction.labels[rank];
          top.push_back({{"label", label}, {"probability", prediction.probabilities[rank]}});
          if (print_lines) {
            std::printf("%s\t%zu\t%s\t%.4f\t\n", util::ForTerminal(path).c_str(), rank + 1,
                        util::ForTerminal(label).c_str(), prediction.probabilities[rank]);
          }
        }
        entry["top"] = top;
      }
      out.push_back(entry);
    }
    if (print_json) std::cout << util::DumpJson(out, 2, util::JsonChars::kAscii) << std::endl;
    std::fflush(stdout);
    printed_ = true;
    file_predictions_ = nlohmann::json{{"predictions", out}};
    if (failed > 0) {
      return Status::Invalid(failed, " of ", predictions.size(), " files could not be predicted");
    }
    return file_predictions_;
  }
  ORCHARD_ASSIGN_OR_RAISE(auto summary, jobs::PredictJob(predict_options_));
  if (print_lines) PrintSummary(summary);
  printed_ = !json_summary_;
  return ToJson(summary);
}

}  // namespace orchard::cli
