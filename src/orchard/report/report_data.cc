#include "orchard/report/report_data.h"

#include <arrow/api.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <queue>
#include <utility>

#include "orchard/classify/metrics.h"
#include "orchard/output/layout.h"
#include "orchard/pca/pca_json.h"
#include "orchard/report/svg_charts.h"
#include "orchard/table/parquet_reader.h"
#include "orchard/util/text.h"

namespace orchard::report {
namespace {

using nlohmann::json;

constexpr const char* kMetricsJson = output::kPredictMetricsJson;

// orchard predict's own metrics (report/metrics.json), read by the type that writes them,
// as the page shows them.
ReportMetrics ReportMetricsOf(const classify::PredictMetrics& predicted) {
  ReportMetrics metrics;
  metrics.accuracy = predicted.accuracy;
  metrics.top5_accuracy = predicted.top5_accuracy;
  metrics.labelled = predicted.labelled_rows;
  metrics.classes = predicted.classes;
  for (size_t idx = 0; idx < predicted.classes.size() && idx < predicted.per_class.size(); ++idx) {
    const classify::ClassMetrics& score = predicted.per_class[idx];
    metrics.per_class.push_back({predicted.classes[idx], score.precision, score.recall, score.f1,
                                 static_cast<double>(score.support)});
  }
  std::vector<std::vector<double>> confusion;
  for (const auto& row : predicted.confusion) confusion.emplace_back(row.begin(), row.end());
  metrics.confusion = std::move(confusion);
  return metrics;
}

// 64-bit FNV-1a: a stable hash of the path, so the sample does not depend on how the
// table is split into parts.
uint64_t PathHash(std::string_view text) {
  uint64_t hash = 1469598103934665603ULL;
  for (char ch : text) {
    hash ^= static_cast<unsigned char>(ch);
    hash *= 1099511628211ULL;
  }
  // FNV's low bits mix poorly for similar strings; finish with a 64-bit mixer.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  return hash;
}

class Sources {
 public:
  Sources(const io::Location& root, const HtmlReportOptions& options)
      : root_(root), fallback_(options.fallback_root) {}

  // The first of root/relative, fallback/relative that exists; nullopt when neither does.
  Result<std::optional<std::shared_ptr<arrow::Buffer>>> ReadFile(const std::string& relative) {
    for (const io::Location* base : Bases()) {
      ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(base->Child(relative)));
      if (!exists) continue;
      ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadAll(base->Child(relative)));
      return std::optional<std::shared_ptr<arrow::Buffer>>(std::move(bytes));
    }
    return std::optional<std::shared_ptr<arrow::Buffer>>();
  }

  // The parts of the first of root/table, fallback/table that has any.
  Result<std::vector<io::Location>> Parts(const std::string& table) {
    for (const io::Location* base : Bases()) {
      ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(base->Child(table)));
      if (!parts.empty()) return parts;
    }
    return std::vector<io::Location>();
  }

 private:
  std::vector<const io::Location*> Bases() const {
    std::vector<const io::Location*> bases = {&root_};
    if (fallback_) bases.push_back(&*fallback_);
    return bases;
  }

  io::Location root_;
  std::optional<io::Location> fallback_;
};

// Calls fn(row_idx, value) for every row of a string column (null: "(null)").
template <typename Fn>
Status ForEachString(const arrow::ChunkedArray& column, const io::Location& part, Fn&& fn) {
  int64_t row_idx = 0;
  for (const auto& chunk : column.chunks()) {
    if (chunk->type_id() == arrow::Type::STRING) {
      const auto& strings = static_cast<const arrow::StringArray&>(*chunk);
      for (int64_t idx = 0; idx < strings.length(); ++idx, ++row_idx) {
        fn(row_idx, strings.IsNull(idx) ? std::string_view("(null)") : strings.GetView(idx));
      }
    } else if (chunk->type_id() == arrow::Type::LARGE_STRING) {
      const auto& strings = static_cast<const arrow::LargeStringArray&>(*chunk);
      for (int64_t idx = 0; idx < strings.length(); ++idx, ++row_idx) {
        fn(row_idx, strings.IsNull(idx) ? std::string_view("(null)") : strings.GetView(idx));
      }
    } else {
      return Status::Invalid(part.display, ": expected a string column, got ",
                             chunk->type()->ToString());
    }
  }
  return Status::OK();
}

// The first two values of every row of a list<float|double> column (NaN where missing).
Result<std::vector<std::pair<double, double>>> FirstTwo(const arrow::ChunkedArray& column,
                                                        const io::Location& part) {
  std::vector<std::pair<double, double>> out;
  out.reserve(static_cast<size_t>(column.length()));
  for (const auto& chunk : column.chunks()) {
    if (chunk->type_id() != arrow::Type::LIST) {
      return Status::Invalid(part.display, ": expected a list column, got ",
                             chunk->type()->ToString());
    }
    const auto& lists = static_cast<const arrow::ListArray&>(*chunk);
    const auto& values = *lists.values();
    auto value_at = [&](int64_t idx) -> double {
      if (values.IsNull(idx)) return std::nan("");
      if (values.type_id() == arrow::Type::FLOAT)
        return static_cast<const arrow::FloatArray&>(values).Value(idx);
      if (values.type_id() == arrow::Type::DOUBLE)
        return static_cast<const arrow::DoubleArray&>(values).Value(idx);
      return std::nan("");
    };
    for (int64_t row = 0; row < lists.length(); ++row) {
      const int64_t begin = lists.value_offset(row);
      const int64_t length = lists.IsNull(row) ? 0 : lists.value_length(row);
      out.emplace_back(length > 0 ? value_at(begin) : std::nan(""),
                       length > 1 ? value_at(begin + 1) : std::nan(""));
    }
  }
  return out;
}

// The bytes parsed as JSON; a note ("<subject> not valid JSON: ...") and nullopt when they
// are not JSON.
std::optional<json> ParseJson(const std::shared_ptr<arrow::Buffer>& bytes,
                              const std::string& subject, ReportData* data) {
  try {
    return json::parse(bytes->ToString());
  } catch (const json::exception& error) {
    data->notes.push_back(subject + " not valid JSON: " + error.what());
    return std::nullopt;
  }
}

Status ReadSummaryAndModel(Sources& sources, ReportData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto summary_bytes, sources.ReadFile(output::kSummaryJson));
  if (summary_bytes) {
    if (auto document =
            ParseJson(*summary_bytes, std::string(output::kSummaryJson) + " is", data)) {
      auto facts = RunFactsFromJson(*document, output::kSummaryJson);
      if (facts.ok()) {
        data->summary = std::move(facts).ValueOrDie();
      } else {
        data->notes.push_back(facts.status().message());
      }
    }
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model_bytes, sources.ReadFile(output::kModelJson));
  if (model_bytes) {
    if (auto document = ParseJson(*model_bytes, std::string(output::kModelJson) + " is", data)) {
      auto parsed = pca::ModelFromJson(*document);
      if (parsed.ok()) {
        data->model = std::move(parsed).ValueOrDie();
      } else {
        data->notes.push_back(std::string(output::kModelJson) + ": " + parsed.status().message());
      }
    }
  }
  return Status::OK();
}

Status ReadClassCounts(Sources& sources, ReportData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, sources.Parts(output::kFeaturesDir));
  data->have_features = !parts.empty();
  for (const auto& part : parts) {
    ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(part));
    // Only the label column: the features themselves are 5 KB a row.
    ORCHARD_ASSIGN_OR_RAISE(auto labels, reader->ReadColumn(table::kLabelColumn));
    ORCHARD_RETURN_NOT_OK(ForEachString(*labels, part, [&](int64_t, std::string_view label) {
      ++data->class_counts[std::string(label)];
    }));
  }
  return Status::OK();
}

Status ReadPcaSample(Sources& sources, const HtmlReportOptions& options, ReportData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, sources.Parts(output::kPcaDir));
  data->have_pca = !parts.empty();
  const auto limit = static_cast<size_t>(std::max<int64_t>(0, options.max_scatter_points));
  // A max-heap of the smallest hashes seen so far.
  std::priority_queue<ReportData::Sampled> kept;
  int64_t vector_length = -1;
  for (const auto& part : parts) {
    ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(part));
    ORCHARD_ASSIGN_OR_RAISE(auto paths, reader->ReadColumn(table::kPathColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto labels, reader->ReadColumn(table::kLabelColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto vectors, reader->ReadColumn(table::kPcaColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto xy, FirstTwo(*vectors, part));
    if (vector_length < 0 && vectors->length() > 0) {
      const auto& first = static_cast<const arrow::ListArray&>(*vectors->chunk(0));
      if (first.length() > 0) vector_length = first.value_length(0);
    }
    std::vector<std::string_view> label_of(xy.size());
    ORCHARD_RETURN_NOT_OK(ForEachString(*labels, part, [&](int64_t row, std::string_view label) {
      if (static_cast<size_t>(row) < label_of.size()) label_of[static_cast<size_t>(row)] = label;
    }));
    ORCHARD_RETURN_NOT_OK(ForEachString(*paths, part, [&](int64_t row, std::string_view path) {
      const auto idx = static_cast<size_t>(row);
      if (idx >= xy.size() || !std::isfinite(xy[idx].first) || !std::isfinite(xy[idx].second))
        return;
      const uint64_t hash = PathHash(path);
      if (kept.size() >= limit && (limit == 0 || hash >= kept.top().hash)) return;
      kept.push(
          {hash, xy[idx].first, xy[idx].second, std::string(label_of[idx]), std::string(path)});
      if (kept.size() > limit) kept.pop();
    }));
    data->pca_rows += vectors->length();
  }
  if (data->model && vector_length >= 0 && vector_length != data->model->k) {
    data->notes.push_back(
        "the pca table has " + std::to_string(vector_length) +
        " components but the PCA model has k = " + std::to_string(data->model->k) +
        ": it was projected with another model (run `orchard project`)");
  }
  while (!kept.empty()) {
    data->sample.push_back(kept.top());
    kept.pop();
  }
  std::sort(data->sample.begin(), data->sample.end());
  return Status::OK();
}

Status ReadErrors(Sources& sources, const HtmlReportOptions& options, ReportData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, sources.Parts(output::kErrorsDir));
  for (const auto& part : parts) {
    ORCHARD_ASSIGN_OR_RAISE(auto errors, table::ReadErrorsFile(part));
    for (auto& error : errors) {
      ++data->error_count;
      ++data->errors_per_stage[error.stage];
      if (static_cast<int64_t>(data->first_errors.size()) < options.max_error_rows) {
        // Keep a bounded copy: a message can be megabytes.
        error.message = TruncateUtf8(error.message, kMaxMessageBytes);
        data->first_errors.push_back(std::move(error));
      }
    }
  }
  return Status::OK();
}

Status ReadMetrics(Sources& sources, const HtmlReportOptions& options, ReportData* data) {
  std::optional<std::shared_ptr<arrow::Buffer>> bytes;
  std::string source = kMetricsJson;
  if (options.metrics) {
    ORCHARD_ASSIGN_OR_RAISE(auto buffer, io::ReadAll(*options.metrics));
    bytes = std::move(buffer);
    source = options.metrics->display;
  } else {
    ORCHARD_ASSIGN_OR_RAISE(bytes, sources.ReadFile(kMetricsJson));
  }
  if (!bytes) return Status::OK();
  if (auto document = ParseJson(*bytes, "the predict metrics are", data)) {
    if (options.metrics) {
      // A file given by the caller (another tool's metrics): the shapes MetricsFromJson reads.
      ORCHARD_ASSIGN_OR_RAISE(data->metrics, MetricsFromJson(*document, source));
    } else {
      auto predicted = classify::PredictMetrics::FromJson(*document);
      if (!predicted.ok()) return Status::Invalid(source, ": ", predicted.status().message());
      data->metrics = ReportMetricsOf(*predicted);
    }
  }
  return Status::OK();
}

// Runs one reader; a failure becomes a note on the page instead of failing the report.
void Gather(const char* what, const Status& status, ReportData* data) {
  if (!status.ok())
    data->notes.push_back(std::string("could not read ") + what + ": " + status.message());
}
}  // namespace

ReportData GatherReportData(const io::Location& root, const HtmlReportOptions& options) {
  Sources sources(root, options);
  ReportData data;
  Gather("the summary and the PCA model", ReadSummaryAndModel(sources, &data), &data);
  Gather("the features table's labels", ReadClassCounts(sources, &data), &data);
  Gather("the pca table", ReadPcaSample(sources, options, &data), &data);
  Gather("the errors table", ReadErrors(sources, options, &data), &data);
  Gather("the predict metrics", ReadMetrics(sources, options, &data), &data);
  return data;
}

}  // namespace orchard::report
