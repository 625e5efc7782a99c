#include "orchard/jobs/predict_job.h"

#include <arrow/api.h>

#include <algorithm>
#include <memory>

#include "orchard/classify/classifier_file.h"
#include "orchard/classify/metrics.h"
#include "orchard/classify/predict_parts.h"
#include "orchard/io/regular_file.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/model/embedder.h"
#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/table/tables.h"
#include "orchard/util/memory.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::jobs {
namespace {

using nlohmann::json;
using util::Clock;
using util::SecondsSince;

// The output contract's names (output/layout.h).
constexpr const char* kFeatures = output::kFeaturesDir;
constexpr const char* kErrors = output::kErrorsDir;
constexpr const char* kReport = output::kReportDir;
constexpr const char* kPredictions = output::kPredictionsDir;

}  // namespace

Result<PredictSummary> PredictJob(const PredictJobOptions& options) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(const JobOptions job, ResolveJobOptions(options.job));
  ORCHARD_ASSIGN_OR_RAISE(auto where,
                          ResolveJobLocations(job.input, job.output, job.storage, true));
  ORCHARD_ASSIGN_OR_RAISE(auto model_dir, io::ResolveLocation(options.model_dir, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto classifier, classify::LoadClassifier(model_dir));
  const io::Location& input = where.input;
  PredictSummary summary;
  summary.orchard_version = kVersion;
  summary.input = job.input;
  summary.output = job.output;
  summary.classifier = options.model_dir;
  summary.threads = job.threads;

  // An earlier output (features table + _SUCCESS) is predicted from its features.
  ORCHARD_ASSIGN_OR_RAISE(auto earlier_parts, table::ListParts(input.Child(kFeatures)));
  ORCHARD_ASSIGN_OR_RAISE(bool earlier_complete, io::FileExists(input.Child(output::kSuccessFile)));
  const bool from_output = !earlier_parts.empty() && earlier_complete;

  // Everything that can refuse the job is checked before the output is touched.
  std::vector<pipeline::ImageItem> items;
  std::unique_ptr<model::Embedder> embedder;
  if (from_output) {
    summary.features_from = job.input;
    summary.model_sha256 = RecordedModelSha256(input);
    ORCHARD_RETURN_NOT_OK(classify::CheckBackbone(classifier, summary.model_sha256,
                                                  "the features of " + input.display));
  } else {
    ORCHARD_ASSIGN_OR_RAISE(items, pipeline::ListImages(input));
    if (items.empty()) {
      return Status::Invalid("no files under input '", input.display,
                             "': expected image files (one sub-folder per label) or an "
                             "earlier output");
    }
    ORCHARD_ASSIGN_OR_RAISE(embedder, LoadEmbedder(job));
    summary.model_path = job.model;
    summary.model_sha256 = embedder->info().sha256;
    ORCHARD_RETURN_NOT_OK(classify::CheckBackbone(classifier, summary.model_sha256,
                                                  "the features of model '" + job.model + "'"));
    ORCHARD_RETURN_NOT_OK(classify::CheckEmbeddingDim(classifier, embedder->info().output_dim,
                                                      "model '" + job.model + "'"));
  }
  ORCHARD_ASSIGN_OR_RAISE(
      auto committer,
      output::OutputCommitter::Begin(where.output, job.existing, "orchard-predict", &where.input));
  const io::Location staging = committer.staging();
  std::vector<io::Location> feature_parts = earlier_parts;
  std::vector<std::string> publish = {kPredictions, kReport};
  if (!from_output) {
    ReportedFeaturizeOptions featurize(job, static_cast<int64_t>(items.size()));
    ORCHARD_ASSIGN_OR_RAISE(auto stats,
                            pipeline::Featurize(items, input, *embedder, staging.Child(kFeatures),
                                                staging.Child(kErrors), {}, featurize.get()));
    featurize.Finish();
    // An errors table even without errors, as `orchard run` writes it.
    ORCHARD_RETURN_NOT_OK(table::EnsureErrorsTable(staging.Child(kErrors)));
    ORCHARD_ASSIGN_OR_RAISE(feature_parts, table::ListParts(staging.Child(kFeatures)));
    publish.push_back(kFeatures);
    publish.push_back(kErrors);
    summary.images = PredictSummary::Images{static_cast<int64_t>(items.size()), stats.ok,
                                            stats.failed, stats.images_per_second()};
    summary.seconds["featurize"] = stats.wall_seconds;
  }

  const auto predict_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(
      auto counts,
      classify::PredictParts(classifier, feature_parts, staging.Child(kPredictions), job.threads));
  summary.seconds["predict"] = SecondsSince(predict_start);

  const classify::PredictMetrics metrics =
      classify::ComputePredictMetrics(classifier.classes, counts);
  summary.rows = counts.rows;
  if (metrics.labelled_rows > 0) {
    ORCHARD_RETURN_NOT_OK(io::WriteAll(staging.Child(output::kPredictMetricsJson),
                                       util::DumpJson(metrics.ToJson(), 2)));
    summary.accuracy =
        PredictSummary::Accuracy{metrics.accuracy, metrics.top5_accuracy, metrics.labelled_rows};
  }
  summary.seconds["total"] = SecondsSince(start);
  summary.peak_rss_mib = util::PeakRssMiB();
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(staging.Child(output::kSummaryJson), util::DumpJson(ToJson(summary), 2)));
  ORCHARD_RETURN_NOT_OK(committer.Publish(publish));
  return summary;
}

json ToJson(const PredictSummary& summary) {
  json out = {{"orchard_version", summary.orchard_version},
              {"command", "predict"},
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

  std::vector<FilePrediction> predictions(files.size());
  std::vector<std::shared_ptr<arrow::Buffer>> buffers;
  std::vector<pipeline::EncodedImage> images;
  std::vector<size_t> file_of_image;
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    predictions[file_idx].path = files[file_idx];
    auto location = io::ResolveLocation(files[file_idx], job.storage);
    // A FIFO, folder or device named on the command line is refused before it is opened
    // (opening a FIFO blocks forever), and a huge file before it is read.
    Result<std::shared_ptr<arrow::Buffer>> bytes =
        location.ok() ? io::ReadBounded(*location, job.max_file_bytes)
                      : Result<std::shared_ptr<arrow::Buffer>>(location.status());
    if (!bytes.ok()) {
      predictions[file_idx].error = "read: " + bytes.status().message();
      continue;
    }
    buffers.push_back(*bytes);
    images.push_back({buffers.back()->data(), static_cast<size_t>(buffers.back()->size())});
    file_of_image.push_back(file_idx);
  }
  pipeline::EmbedBytesOptions embed_options;
  embed_options.batch_size = job.batch_size;
  embed_options.decode_threads = std::max(1, CoreCount(job.threads) / 2);
  embed_options.preprocess.max_pixels = job.max_pixels;
  embed_options.preprocess.max_file_bytes = job.max_file_bytes;
  ORCHARD_ASSIGN_OR_RAISE(auto embedded,
                          pipeline::EmbedEncodedImages(images, *embedder, embed_options));
  for (const auto& error : embedded.errors) {
    predictions[file_of_image[static_cast<size_t>(error.index)]].error =
        error.stage + ": " + error.message;
  }
  const auto ok_count = static_cast<int64_t>(embedded.ok_indices.size());
  std::vector<float> probabilities(static_cast<size_t>(ok_count * classifier.num_classes()));
  classifier.ProbabilitiesFromEmbeddings(embedded.features.data(), ok_count, probabilities.data());
  for (int64_t ok_idx = 0; ok_idx < ok_count; ++ok_idx) {
    auto& prediction = predictions[file_of_image[static_cast<size_t>(
        embedded.ok_indices[static_cast<size_t>(ok_idx)])]];
    const float* row = probabilities.data() + ok_idx * classifier.num_classes();
    for (int64_t class_idx : classify::TopK(row, classifier.num_classes(), top_k)) {
      prediction.labels.push_back(classifier.classes[static_cast<size_t>(class_idx)]);
      prediction.probabilities.push_back(row[class_idx]);
    }
  }
  return predictions;
}

}  // namespace orchard::jobs
