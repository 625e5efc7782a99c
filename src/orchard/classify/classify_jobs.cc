#include "orchard/classify/classify_jobs.h"

#include <arrow/api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

#include "orchard/classify/classifier_file.h"
#include "orchard/io/regular_file.h"
#include "orchard/jobs/locations.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/jobs/run_driver.h"
#include "orchard/model/embedder.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/pca/pca_json.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/pipeline/featurize.h"
#include "orchard/table/commit.h"
#include "orchard/table/predictions.h"
#include "orchard/table/tables.h"
#include "orchard/util/memory.h"
#include "orchard/util/parallel_for.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::classify {
namespace {

using nlohmann::json;
using util::Clock;
using util::SecondsSince;

// The output contract's names (output/layout.h).
constexpr const char* kFeatures = output::kFeaturesDir;
constexpr const char* kErrors = output::kErrorsDir;
constexpr const char* kReport = output::kReportDir;
constexpr const char* kPredictions = output::kPredictionsDir;

Result<json> ReadJson(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadAll(location));
  try {
    return json::parse(bytes->ToString());
  } catch (const json::exception& error) {
    return Status::Invalid("cannot parse ", location.display, ": ", error.what());
  }
}

// The embedding model's sha256 recorded by the run that wrote `output`, or "".
std::string RecordedModelSha256(const io::Location& output) {
  auto summary = ReadJson(output.Child(kReport).Child("summary.json"));
  if (!summary.ok()) return "";
  const json& root = *summary;
  if (!root.contains("model") || !root["model"].contains("sha256")) return "";
  return root["model"]["sha256"].get<std::string>();
}

// Reads every part of a vector table into one VectorRows (parts read in parallel).
Result<table::VectorRows> ReadTable(const io::Location& folder, const std::string& column,
                                    int threads) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(folder));
  std::vector<table::VectorRows> pieces(parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(parts.size(), threads, [&](size_t part_idx) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(pieces[part_idx], table::ReadVectorFile(parts[part_idx], column));
    return Status::OK();
  }));
  table::VectorRows all;
  for (auto& piece : pieces) {
    if (piece.num_rows() == 0) continue;
    if (all.dim == 0) all.dim = piece.dim;
    if (piece.dim != all.dim) {
      return Status::Invalid(folder.display, ": rows of ", all.dim, " and ", piece.dim,
                             " values in one table");
    }
    all.paths.insert(all.paths.end(), piece.paths.begin(), piece.paths.end());
    all.labels.insert(all.labels.end(), piece.labels.begin(), piece.labels.end());
    all.values.insert(all.values.end(), piece.values.begin(), piece.values.end());
  }
  return all;
}

// The predictions of one features part's rows, counted into `counts`.
Result<std::shared_ptr<arrow::RecordBatch>> PredictionsBatch(const Classifier& classifier,
                                                             const table::VectorRows& rows,
                                                             const std::vector<float>& probs,
                                                             PredictionCounts* counts) {
  const int64_t k = classifier.num_classes();
  std::map<std::string, int64_t> index;
  for (int64_t class_idx = 0; class_idx < k; ++class_idx)
    index[classifier.classes[static_cast<size_t>(class_idx)]] = class_idx;
  table::PredictionsBatchBuilder builder(classifier.classes);
  for (int64_t row_idx = 0; row_idx < rows.num_rows(); ++row_idx) {
    const float* row = probs.data() + row_idx * k;
    const auto top = TopK(row, k, kTopK);
    const std::string& label = rows.labels[static_cast<size_t>(row_idx)];
    ORCHARD_RETURN_NOT_OK(
        builder.Append(rows.paths[static_cast<size_t>(row_idx)], label, top, row));
    const auto known = index.find(label);
    counts->Add(label, known == index.end() ? -1 : known->second, top, k);
  }
  return builder.Finish();
}

Status CheckEmbeddingDim(const Classifier& classifier, int64_t dim, const std::string& what) {
  if (dim == classifier.embedding_dim()) return Status::OK();
  return Status::Invalid(what, " has ", dim, "-d features but the classifier expects ",
                         classifier.embedding_dim(), "-d embeddings");
}

}  // namespace

Result<PredictionCounts> PredictParts(const Classifier& classifier,
                                      const std::vector<io::Location>& feature_parts,
                                      const io::Location& predictions_dir, int threads) {
  const int64_t k = classifier.num_classes();
  std::vector<PredictionCounts> counts(feature_parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(feature_parts.size(), threads, [&](size_t part_idx) -> Status {
    const auto& part = feature_parts[part_idx];
    counts[part_idx] = PredictionCounts::Zero(k);
    ORCHARD_ASSIGN_OR_RAISE(auto rows, table::ReadVectorFile(part, table::kFeaturesColumn));
    if (rows.num_rows() > 0)
      ORCHARD_RETURN_NOT_OK(CheckEmbeddingDim(classifier, rows.dim, part.display));
    std::vector<float> probabilities(static_cast<size_t>(rows.num_rows() * k));
    classifier.ProbabilitiesFromEmbeddings(rows.values.data(), rows.num_rows(),
                                           probabilities.data());
    ORCHARD_ASSIGN_OR_RAISE(auto batch,
                            PredictionsBatch(classifier, rows, probabilities, &counts[part_idx]));
    const std::string name = part.path.substr(part.path.rfind('/') + 1);
    return table::WriteParquet(predictions_dir.Child(name), *batch);
  }));
  PredictionCounts total = PredictionCounts::Zero(k);
  for (const auto& part_counts : counts) ORCHARD_RETURN_NOT_OK(total.Merge(part_counts));
  return total;
}

Result<TrainSummary> TrainJob(const TrainJobOptions& options) {
  const auto start = Clock::now();
  if (options.on != kFeatures && options.on != table::kPcaColumn) {
    return Status::Invalid("--on must be 'features' or 'pca', got '", options.on, "'");
  }
  ORCHARD_RETURN_NOT_OK(jobs::CheckThreadCount(options.train.threads));
  ORCHARD_ASSIGN_OR_RAISE(
      auto where, jobs::ResolveJobLocations(options.input, options.model_dir, options.storage,
                                            /*need_input=*/true));
  const io::Location& input = where.input;
  const io::Location& model_dir = where.output;
  ORCHARD_RETURN_NOT_OK(table::CheckOutputPlacement(input, model_dir));
  ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(model_dir.Child(kClassifierJson)));
  if (exists && !options.overwrite) {
    return Status::Invalid("'", model_dir.display,
                           "' already holds a classifier: use --overwrite to replace it");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto input_info, input.fs->GetFileInfo(input.path));
  if (input_info.type() != arrow::fs::FileType::Directory) {
    return Status::Invalid("input '", input.display,
                           "' does not exist: give the output folder of `orchard run`");
  }
  const int threads = jobs::CoreCount(options.train.threads);
  const auto read_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadTable(input.Child(options.on), options.on, threads));
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

  TrainOptions train = options.train;
  train.threads = threads;
  ORCHARD_ASSIGN_OR_RAISE(auto classifier, Train(rows, train, &summary.training));
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
  ORCHARD_RETURN_NOT_OK(SaveClassifier(classifier, model_dir));

  summary.feature_model_sha256 = classifier.feature_model_sha256;
  summary.total_seconds = SecondsSince(start);
  ORCHARD_RETURN_NOT_OK(io::WriteAll(model_dir.Child(kTrainMetricsJson),
                                     util::DumpJson(ToJson(summary, /*with_output=*/false), 2)));
  return summary;
}

Result<PredictSummary> PredictJob(const PredictJobOptions& options) {
  const auto start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(const jobs::JobOptions job, jobs::ResolveJobOptions(options.job));
  ORCHARD_ASSIGN_OR_RAISE(auto where,
                          jobs::ResolveJobLocations(job.input, job.output, job.storage, true));
  ORCHARD_ASSIGN_OR_RAISE(auto model_dir, io::ResolveLocation(options.model_dir, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto classifier, LoadClassifier(model_dir));
  const io::Location& input = where.input;
  PredictSummary summary;
  summary.orchard_version = kVersion;
  summary.input = job.input;
  summary.output = job.output;
  summary.classifier = options.model_dir;
  summary.threads = job.threads;

  // An earlier output (features table + _SUCCESS) is predicted from its features.
  ORCHARD_ASSIGN_OR_RAISE(auto earlier_parts, table::ListParts(input.Child(kFeatures)));
  ORCHARD_ASSIGN_OR_RAISE(bool earlier_complete, io::FileExists(input.Child(table::kSuccessFile)));
  const bool from_output = !earlier_parts.empty() && earlier_complete;

  // Everything that can refuse the job is checked before the output is touched.
  std::vector<pipeline::ImageItem> items;
  std::unique_ptr<model::Embedder> embedder;
  if (from_output) {
    summary.features_from = job.input;
    summary.model_sha256 = RecordedModelSha256(input);
    ORCHARD_RETURN_NOT_OK(
        CheckBackbone(classifier, summary.model_sha256, "the features of " + input.display));
  } else {
    ORCHARD_ASSIGN_OR_RAISE(items, pipeline::ListImages(input));
    if (items.empty()) {
      return Status::Invalid("no files under input '", input.display,
                             "': expected image files (one sub-folder per label) or an "
                             "earlier output");
    }
    ORCHARD_ASSIGN_OR_RAISE(embedder, jobs::LoadEmbedder(job));
    summary.model_path = job.model;
    summary.model_sha256 = embedder->info().sha256;
    ORCHARD_RETURN_NOT_OK(CheckBackbone(classifier, summary.model_sha256,
                                        "the features of model '" + job.model + "'"));
    ORCHARD_RETURN_NOT_OK(
        CheckEmbeddingDim(classifier, embedder->info().output_dim, "model '" + job.model + "'"));
  }
  ORCHARD_ASSIGN_OR_RAISE(
      auto committer,
      table::OutputCommitter::Begin(where.output, job.existing, "orchard-predict", &where.input));
  const io::Location staging = committer.staging();
  std::vector<io::Location> feature_parts = earlier_parts;
  std::vector<std::string> publish = {kPredictions, kReport};
  if (!from_output) {
    jobs::ReportedFeaturizeOptions featurize(job, static_cast<int64_t>(items.size()));
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
  ORCHARD_ASSIGN_OR_RAISE(auto counts, PredictParts(classifier, feature_parts,
                                                    staging.Child(kPredictions), job.threads));
  summary.seconds["predict"] = SecondsSince(predict_start);

  const PredictMetrics metrics = ComputePredictMetrics(classifier.classes, counts);
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

json ToJson(const TrainSummary& summary, bool with_output) {
  json out = {{"orchard_version", summary.orchard_version},
              {"command", "train"},
              {"input", summary.input},
              {"on", summary.on},
              {"feature_model_sha256", summary.feature_model_sha256},
              {"threads", summary.threads},
              {"training", ToJson(summary.training)},
              {"seconds_total", summary.total_seconds}};
  out["training"]["seconds"]["read"] = summary.read_seconds;
  if (with_output) out["output"] = summary.output;
  return out;
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
  ORCHARD_ASSIGN_OR_RAISE(const jobs::JobOptions job, jobs::ResolveJobOptions(options.job));
  ORCHARD_ASSIGN_OR_RAISE(auto model_dir, io::ResolveLocation(options.model_dir, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto classifier, LoadClassifier(model_dir));
  ORCHARD_ASSIGN_OR_RAISE(auto embedder, jobs::LoadEmbedder(job));
  ORCHARD_RETURN_NOT_OK(CheckBackbone(classifier, embedder->info().sha256,
                                      "the features of model '" + job.model + "'"));
  ORCHARD_RETURN_NOT_OK(
      CheckEmbeddingDim(classifier, embedder->info().output_dim, "model '" + job.model + "'"));

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
  embed_options.decode_threads = std::max(1, jobs::CoreCount(job.threads) / 2);
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
    for (int64_t class_idx : TopK(row, classifier.num_classes(), top_k)) {
      prediction.labels.push_back(classifier.classes[static_cast<size_t>(class_idx)]);
      prediction.probabilities.push_back(row[class_idx]);
    }
  }
  return predictions;
}

}  // namespace orchard::classify
