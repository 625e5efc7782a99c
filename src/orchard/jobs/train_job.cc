#include "orchard/jobs/train_job.h"

#include <arrow/api.h>

#include <vector>

#include "orchard/classify/classifier_file.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/options.h"
#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/table/tables.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::jobs {
namespace {

using nlohmann::json;
using util::Clock;
using util::SecondsSince;

constexpr const char* kFeatures = output::kFeaturesDir;

}  // namespace

Result<TrainSummary> TrainJob(const TrainJobOptions& options) {
  const auto start = Clock::now();
  if (options.on != kFeatures && options.on != table::kPcaColumn) {
    return Status::Invalid("--on must be 'features' or 'pca', got '", options.on, "'");
  }
  ORCHARD_RETURN_NOT_OK(CheckThreadCount(options.train.threads));
  ORCHARD_ASSIGN_OR_RAISE(auto where, ResolveJobLocations(options.input, options.model_dir,
                                                          options.storage, /*need_input=*/true));
  const io::Location& input = where.input;
  const io::Location& model_dir = where.output;
  ORCHARD_RETURN_NOT_OK(output::CheckOutputPlacement(input, model_dir));
  ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(model_dir.Child(classify::kClassifierJson)));
  if (exists && !options.overwrite) {
    return Status::Invalid("'", model_dir.display,
                           "' already holds a classifier: use --overwrite to replace it");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto input_info, input.fs->GetFileInfo(input.path));
  if (input_info.type() != arrow::fs::FileType::Directory) {
    return Status::Invalid("input '", input.display,
                           "' does not exist: give the output folder of `orchard run`");
  }
  const int threads = CoreCount(options.train.threads);
  const auto read_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadVectorTable(input.Child(options.on), options.on, threads));
  if (rows.num_rows() == 0) {
    return Status::Invalid("no rows in '", input.Child(options.on).display,
                           "': train on the output of `orchard run` (or `featurize`",
                           options.on == kFeatures ? ")" : " + fit-pca + project)");
  }
  TrainSummary summary;
  summary.orchard_version = kVersion;
  summary.input = options.input;
  summary.output = options.model_dir;
  summary.on = options.on;
  summary.threads = threads;
  summary.read_seconds = SecondsSince(read_start);

  classify::TrainOptions train = options.train;
  train.threads = threads;
  ORCHARD_ASSIGN_OR_RAISE(auto classifier, classify::Train(rows, train, &summary.training));
  classifier.input = options.on;
  classifier.feature_model_sha256 = RecordedModelSha256(input);
  if (options.on == table::kPcaColumn) {
    ORCHARD_ASSIGN_OR_RAISE(auto pca_model, output::ReadPcaModel(input));
    if (pca_model.k != classifier.dim) {
      return Status::Invalid(input.display, ": pca has ", classifier.dim,
                             " values per row but pca_model keeps ", pca_model.k);
    }
    classifier.pca = std::move(pca_model);
  }
  ORCHARD_RETURN_NOT_OK(classify::SaveClassifier(classifier, model_dir));

  summary.feature_model_sha256 = classifier.feature_model_sha256;
  summary.total_seconds = SecondsSince(start);
  ORCHARD_RETURN_NOT_OK(io::WriteAll(model_dir.Child(classify::kTrainMetricsJson),
                                     util::DumpJson(ToJson(summary, /*with_output=*/false), 2)));
  return summary;
}

json ToJson(const TrainSummary& summary, bool with_output) {
  json out = {{"orchard_version", summary.orchard_version},
              {"command", "train"},
              {"input", summary.input},
              {"on", summary.on},
              {"feature_model_sha256", summary.feature_model_sha256},
              {"threads", summary.threads},
              {"training", classify::ToJson(summary.training)},
              {"seconds_total", summary.total_seconds}};
  out["training"]["seconds"]["read"] = summary.read_seconds;
  if (with_output) out["output"] = summary.output;
  return out;
}

}  // namespace orchard::jobs
