#include "orchard/classify/classify_jobs.h"

#include <arrow/api.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <thread>

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

// path, label, predicted, probability, top5 list<struct<label, probability>>.
std::shared_ptr<arrow::Schema> PredictionsSchema() {
  auto entry = arrow::struct_(
      {arrow::field("label", arrow::utf8()), arrow::field("probability", arrow::float32())});
  return arrow::schema(
      {arrow::field(table::kPathColumn, arrow::utf8()),
       arrow::field(table::kLabelColumn, arrow::utf8()), arrow::field("predicted", arrow::utf8()),
       arrow::field("probability", arrow::float32()), arrow::field("top5", arrow::list(entry))});
}

// Counts one scored row: its true label (known to the classifier or not), its best class
// and its top k.
void Count(const std::map<std::string, int64_t>& index, const std::string& label,
           const std::vector<int64_t>& top, int64_t num_classes, PredictionCounts* counts) {
  ++counts->rows;
  auto found = index.find(label);
  if (found == index.end()) {
    ++counts->unknown_labels[label];
    return;
  }
  if (std::find(top.begin(), top.end(), found->second) != top.end()) ++counts->top_correct;
  ++counts->confusion[static_cast<size_t>(found->second * num_classes + top[0])];
}

Result<std::shared_ptr<arrow::RecordBatch>> PredictionsBatch(const Classifier& classifier,
                                                             const table::VectorRows& rows,
                                                             const std::vector<float>& probs,
                                                             PredictionCounts* counts) {
  const int64_t k = classifier.num_classes();
  std::map<std::string, int64_t> index;
  for (int64_t class_idx = 0; class_idx < k; ++class_idx)
    index[classifier.classes[static_cast<size_t>(class_idx)]] = class_idx;
  auto schema = PredictionsSchema();
  arrow::StringBuilder path_builder, label_builder, predicted_builder;
  arrow::FloatBuilder probability_builder;
  auto entry_type = schema->field(4)->type()->field(0)->type();
  auto top_label = std::make_shared<arrow::StringBuilder>();
  auto top_probability = std::make_shared<arrow::FloatBuilder>();
  auto entry_builder = std::make_shared<arrow::StructBuilder>(
      entry_type, arrow::default_memory_pool(),
      std::vector<std::shared_ptr<arrow::ArrayBuilder>>{top_label, top_probability});
  arrow::ListBuilder top_builder(arrow::default_memory_pool(), entry_builder,
                                 schema->field(4)->type());
  for (int64_t row_idx = 0; row_idx < rows.num_rows(); ++row_idx) {
    const float* row = probs.data() + row_idx * k;
    auto top = TopK(row, k, kTopK);
    const auto idx = static_cast<size_t>(row_idx);
    ORCHARD_RETURN_NOT_OK(path_builder.Append(rows.paths[idx]));
    ORCHARD_RETURN_NOT_OK(label_builder.Append(rows.labels[idx]));
    ORCHARD_RETURN_NOT_OK(
        predicted_builder.Append(classifier.classes[static_cast<size_t>(top[0])]));
    ORCHARD_RETURN_NOT_OK(probability_builder.Append(row[top[0]]));
    ORCHARD_RETURN_NOT_OK(top_builder.Append());
    for (int64_t class_idx : top) {
      ORCHARD_RETURN_NOT_OK(entry_builder->Append());
      ORCHARD_RETURN_NOT_OK(top_label->Append(classifier.classes[static_cast<size_t>(class_idx)]));
      ORCHARD_RETURN_NOT_OK(top_probability->Append(row[class_idx]));
    }
    Count(index, rows.labels[idx], top, k, counts);
  }
  std::shared_ptr<arrow::Array> paths, labels, predicted, probability, top5;
  ORCHARD_RETURN_NOT_OK(path_builder.Finish(&paths));
  ORCHARD_RETURN_NOT_OK(label_builder.Finish(&labels));
  ORCHARD_RETURN_NOT_OK(predicted_builder.Finish(&predicted));
  ORCHARD_RETURN_NOT_OK(probability_builder.Finish(&probability));
  ORCHARD_RETURN_NOT_OK(top_builder.Finish(&top5));
  return arrow::RecordBatch::Make(schema, rows.num_rows(),
                                  {paths, labels, predicted, probability, top5});
}

Status CheckEmbeddingDim(const Classifier& classifier, int64_t dim, const std::string& what) {
  if (dim == classifier.embedding_dim()) return Status::OK();
  return Status::Invalid(what, " has ", dim, "-d features but the classifier expects ",
                         classifier.embedding_dim(), "-d embeddings");
}

}  // namespace

Status PredictionCounts::Merge(const PredictionCounts& other) {
  if (confusion.empty()) confusion.assign(other.confusion.size(), 0);
  if (other.confusion.size() != confusion.size()) {
    return Status::Invalid("cannot merge prediction counts of ", confusion.size(), " and ",
                           other.confusion.size(), " confusion cells");
  }
  rows += other.rows;
  top_correct += other.top_correct;
  for (size_t cell = 0; cell < confusion.size(); ++cell) confusion[cell] += other.confusion[cell];
  for (const auto& [label, count] : other.unknown_labels) unknown_labels[label] += count;
  return Status::OK();
}

json PredictionCounts::ToJson() const {
  return {{"rows", rows},
          {"confusion", confusion},
          {"top_correct", top_correct},
          {"unknown_labels", unknown_labels}};
}

Result<PredictionCounts> PredictionCounts::FromJson(const json& json) {
  PredictionCounts counts;
  try {
    counts.rows = json.at("rows").get<int64_t>();
    counts.confusion = json.at("confusion").get<std::vector<int64_t>>();
    counts.top_correct = json.at("top_correct").get<int64_t>();
    counts.unknown_labels = json.at("unknown_labels").get<std::map<std::string, int64_t>>();
  } catch (const json::exception& error) {
    return Status::Invalid("bad prediction counts: ", error.what());
  }
  return counts;
}

Result<PredictionCounts> PredictParts(const Classifier& classifier,
                                      const std::vector<io::Location>& feature_parts,
                                      const io::Location& predictions_dir, int threads) {
  const int64_t k = classifier.num_classes();
  std::vector<PredictionCounts> counts(feature_parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(feature_parts.size(), threads, [&](size_t part_idx) -> Status {
    const auto& part = feature_parts[part_idx];
    counts[part_idx].confusion.assign(static_cast<size_t>(k * k), 0);
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
  PredictionCounts total;
  total.confusion.assign(static_cast<size_t>(k * k), 0);
  for (const auto& part_counts : counts) ORCHARD_RETURN_NOT_OK(total.Merge(part_counts));
  return total;
}

json PredictionMetrics(const Classifier& classifier, const PredictionCounts& counts) {
  const int64_t k = classifier.num_classes();
  const auto n = static_cast<size_t>(k);
  std::vector<std::vector<int64_t>> confusion(n, std::vector<int64_t>(n, 0));
  int64_t labelled = 0, correct = 0, unknown = 0;
  if (counts.confusion.size() == n * n) {
    for (size_t row = 0; row < n; ++row) {
      for (size_t col = 0; col < n; ++col) {
        confusion[row][col] = counts.confusion[row * n + col];
        labelled += confusion[row][col];
      }
      correct += confusion[row][row];
    }
  }
  for (const auto& [label, count] : counts.unknown_labels) unknown += count;
  json per_class = json::object();
  double macro_f1 = 0;
  for (size_t c = 0; c < n; ++c) {
    int64_t support = 0, predicted = 0;
    for (size_t other = 0; other < n; ++other) {
      support += confusion[c][other];
      predicted += confusion[other][c];
    }
    const double hits = static_cast<double>(confusion[c][c]);
    const double precision = predicted > 0 ? hits / static_cast<double>(predicted) : 0.0;
    const double recall = support > 0 ? hits / static_cast<double>(support) : 0.0;
    const double f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    macro_f1 += f1;
    per_class[classifier.classes[c]] = {
        {"precision", precision}, {"recall", recall}, {"f1", f1}, {"support", support}};
  }
  const auto fraction = [&](int64_t count) {
    return labelled > 0 ? static_cast<double>(count) / static_cast<double>(labelled) : 0.0;
  };
  return {{"rows", counts.rows},
          {"labelled_rows", labelled},
          {"unknown_label_rows", unknown},
          {"unknown_labels", counts.unknown_labels},
          {"accuracy", fraction(correct)},
          {"top5_accuracy", fraction(counts.top_correct)},
          {"macro_f1", k > 0 ? macro_f1 / static_cast<double>(k) : 0.0},
          {"per_class", per_class},
          {"confusion_matrix",
           {{"labels", classifier.classes}, {"rows_true_columns_predicted", confusion}}}};
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
  ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(model_dir.Child("classifier.json")));
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
  ORCHARD_RETURN_NOT_OK(io::WriteAll(model_dir.Child("metrics.json"),
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
  std::vector<std::string> publish = {kPredictionsTable, kReport};
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
                                                    staging.Child(kPredictionsTable), job.threads));
  summary.seconds["predict"] = SecondsSince(predict_start);

  const json metrics = PredictionMetrics(classifier, counts);
  summary.rows = counts.rows;
  if (metrics["labelled_rows"].get<int64_t>() > 0) {
    ORCHARD_RETURN_NOT_OK(
        io::WriteAll(staging.Child(kReport).Child("metrics.json"), util::DumpJson(metrics, 2)));
    summary.accuracy = PredictSummary::Accuracy{metrics["accuracy"].get<double>(),
                                                metrics["top5_accuracy"].get<double>(),
                                                metrics["labelled_rows"].get<int64_t>()};
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
