#include "orchard/jobs/predict_job.h"

#include <arrow/api.h>

#include <algorithm>
#include <memory>

#include "orchard/classify/classifier_file.h"
#include "orchard/classify/metrics.h"
#include "orchard/classify/predict_parts.h"
#include "orchard/io/regular_file.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/jobs/predict_driver.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/model/embedder.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/pipeline/shard.h"
#include "orchard/util/stopwatch.h"

namespace orchard::jobs {

using nlohmann::json;
using util::Clock;
using util::SecondsSince;

Result<PredictSummary> PredictJob(const PredictJobOptions& options) {
  ORCHARD_ASSIGN_OR_RAISE(
      auto driver, PredictDriver::Begin(options, "predict", /*num_shards=*/1, options.job.threads));
  const JobOptions& job = driver->options();
  if (driver->featurizes()) {
    const FeaturizeInputs& inputs = driver->inputs();
    ReportedFeaturizeOptions reported(job, inputs.num_items());
    ORCHARD_ASSIGN_OR_RAISE(
        auto shard,
        pipeline::FeaturizeShard(inputs.RangeOf(inputs.shards.front()), driver->locations().input,
                                 *inputs.embedder, driver->staging(), reported.get(), job.threads));
    reported.Finish();
    ORCHARD_RETURN_NOT_OK(driver->FinishFeaturize(shard.stats, shard.stats.wall_seconds));
  }
  const auto predict_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto counts,
                          classify::PredictParts(driver->classifier(), driver->feature_parts(),
                                                 driver->predictions_dir(), job.threads));
  ORCHARD_RETURN_NOT_OK(driver->FinishPredict(counts, SecondsSince(predict_start)));
  return driver->Finish();
}

json ToJson(const PredictSummary& summary) {
  json out = {{"orchard_version", summary.orchard_version},
              {"command", summary.command},
              {"input", summary.input},
              {"output", summary.output},
              {"classifier", summary.classifier},
              {"threads", summary.threads},
              {"rows", summary.rows},
              {"peak_rss_mib", summary.peak_rss_mib}};
  if (summary.features_from.empty()) {
    out["model"] = {{"path", summary.model_path}, {"sha256", summary.model_sha256}};
  } else {
    out["features_from"] = summary.features_from;
    out["model"] = {{"sha256", summary.model_sha256}};
  }
  if (summary.images) {
    out["images"] = {{"listed", summary.images->listed},
                     {"ok", summary.images->ok},
                     {"failed", summary.images->failed}};
    out["images_per_second"] = summary.images->images_per_second;
  }
  for (const auto& [step, seconds] : summary.seconds) out["seconds"][step] = seconds;
  if (summary.accuracy) {
    out["accuracy"] = summary.accuracy->accuracy;
    out["top5_accuracy"] = summary.accuracy->top5_accuracy;
    out["labelled_rows"] = summary.accuracy->labelled_rows;
  }
  if (summary.engine) out["engine"] = output::ToJson(*summary.engine);
  return out;
}

Result<std::vector<FilePrediction>> PredictFiles(const PredictJobOptions& options,
                                                 const std::vector<std::string>& files,
                                                 int64_t top_k) {
  ORCHARD_ASSIGN_OR_RAISE(const JobOptions job, ResolveJobOptions(options.job));
  ORCHARD_ASSIGN_OR_RAISE(auto model_dir, io::ResolveLocation(options.model_dir, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto classifier, classify::LoadClassifier(model_dir));
  ORCHARD_ASSIGN_OR_RAISE(auto embedder, LoadEmbedder(job));
  ORCHARD_RETURN_NOT_OK(classify::CheckBackbone(classifier, embedder->info().sha256,
                                                "the features of model '" + job.model + "'"));
  ORCHARD_RETURN_NOT_OK(classify::CheckEmbeddingDim(classifier, embedder->info().output_dim,
                                                    "model '" + job.model + "'"));

  ORCHARD_ASSIGN_OR_RAISE(auto embedded, EmbedNamedFiles(files, *embedder, job));
  std::vector<FilePrediction> predictions(files.size());
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    predictions[file_idx].path = files[file_idx];
    predictions[file_idx].error = embedded.errors[file_idx];
  }
  const auto ok_count = static_cast<int64_t>(embedded.file_of_row.size());
  std::vector<float> probabilities(static_cast<size_t>(ok_count * classifier.num_classes()));
  classifier.ProbabilitiesFromEmbeddings(embedded.features.data(), ok_count, probabilities.data());
  for (int64_t ok_idx = 0; ok_idx < ok_count; ++ok_idx) {
    auto& prediction = predictions[embedded.file_of_row[static_cast<size_t>(ok_idx)]];
    const float* row = probabilities.data() + ok_idx * classifier.num_classes();
    for (int64_t class_idx : classify::TopK(row, classifier.num_classes(), top_k)) {
      prediction.labels.push_back(classifier.classes[static_cast<size_t>(class_idx)]);
      prediction.probabilities.push_back(row[class_idx]);
    }
  }
  return predictions;
}

}  // namespace orchard::jobs
