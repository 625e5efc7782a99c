#include "orchard/classify/metrics.h"

#include <algorithm>
#include <limits>
#include <new>

namespace orchard::classify {
namespace {

using nlohmann::json;

// Typed reads of one JSON document; every message names the document and the field by its
// path ("per_class.Mango.recall"), so that a damaged file says what is wrong where.
class FieldReader {
 public:
  explicit FieldReader(std::string what) : what_(std::move(what)) {}

  Status Fail(const std::string& field, const std::string& problem) const {
    return Status::Invalid(what_, ": '", field, "' ", problem);
  }

  Result<const json*> Field(const json& object, const std::string& path,
                            const std::string& name) const {
    const std::string field = path.empty() ? name : path + "." + name;
    if (!object.is_object()) {
      return Status::Invalid(what_, ": '", path.empty() ? "(document)" : path,
                             "' is not an object");
    }
    const auto found = object.find(name);
    if (found == object.end()) return Status::Invalid(what_, ": no '", field, "'");
    return &*found;
  }

  Result<double> Number(const json& value, const std::string& field) const {
    if (!value.is_number()) return Fail(field, "is not a number");
    return value.get<double>();
  }

  // An integer that fits int64 (and is >= 0 when `count`).
  Result<int64_t> Integer(const json& value, const std::string& field, bool count) const {
    if (!value.is_number_integer()) return Fail(field, "is not an integer");
    if (value.is_number_unsigned() &&
        value.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail(field, "is out of range");
    }
    const auto parsed = value.get<int64_t>();
    if (count && parsed < 0) return Fail(field, "is negative");
    return parsed;
  }

  Result<double> NumberAt(const json& object, const std::string& path,
                          const std::string& name) const {
    ORCHARD_ASSIGN_OR_RAISE(const json* value, Field(object, path, name));
    return Number(*value, Join(path, name));
  }

  Result<int64_t> CountAt(const json& object, const std::string& path,
                          const std::string& name) const {
    ORCHARD_ASSIGN_OR_RAISE(const json* value, Field(object, path, name));
    return Integer(*value, Join(path, name), /*count=*/true);
  }

  Result<std::vector<int64_t>> Counts(const json& value, const std::string& field) const {
    if (!value.is_array()) return Fail(field, "is not a list of integers");
    std::vector<int64_t> counts;
    counts.reserve(value.size());
    for (size_t idx = 0; idx < value.size(); ++idx) {
      ORCHARD_ASSIGN_OR_RAISE(auto count,
                              Integer(value[idx], field + "[" + std::to_string(idx) + "]", true));
      counts.push_back(count);
    }
    return counts;
  }

  // An object of label -> count.
  Result<std::map<std::string, int64_t>> CountsByLabel(const json& value,
                                                       const std::string& field) const {
    if (!value.is_object()) return Fail(field, "is not an object of counts");
    std::map<std::string, int64_t> counts;
    for (const auto& [label, count] : value.items()) {
      ORCHARD_ASSIGN_OR_RAISE(counts[label], Integer(count, field + "." + label, true));
    }
    return counts;
  }

  static std::string Join(const std::string& path, const std::string& name) {
    return path.empty() ? name : path + "." + name;
  }

 private:
  std::string what_;
};

Result<PredictionCounts> CountsFromJson(const json& in) {
  const FieldReader read("prediction counts");
  PredictionCounts counts;
  ORCHARD_ASSIGN_OR_RAISE(counts.rows, read.CountAt(in, "", "rows"));
  ORCHARD_ASSIGN_OR_RAISE(const json* confusion, read.Field(in, "", "confusion"));
  ORCHARD_ASSIGN_OR_RAISE(counts.confusion, read.Counts(*confusion, "confusion"));
  ORCHARD_ASSIGN_OR_RAISE(counts.top_correct, read.CountAt(in, "", "top_correct"));
  ORCHARD_ASSIGN_OR_RAISE(const json* unknown, read.Field(in, "", "unknown_labels"));
  ORCHARD_ASSIGN_OR_RAISE(counts.unknown_labels, read.CountsByLabel(*unknown, "unknown_labels"));
  return counts;
}

Result<PredictMetrics> MetricsFromJson(const json& in) {
  const FieldReader read("prediction metrics");
  PredictMetrics metrics;
  ORCHARD_ASSIGN_OR_RAISE(metrics.rows, read.CountAt(in, "", "rows"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.labelled_rows, read.CountAt(in, "", "labelled_rows"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.unknown_label_rows, read.CountAt(in, "", "unknown_label_rows"));
  ORCHARD_ASSIGN_OR_RAISE(const json* unknown, read.Field(in, "", "unknown_labels"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.unknown_labels, read.CountsByLabel(*unknown, "unknown_labels"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.accuracy, read.NumberAt(in, "", "accuracy"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.top5_accuracy, read.NumberAt(in, "", "top5_accuracy"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.macro_f1, read.NumberAt(in, "", "macro_f1"));

  ORCHARD_ASSIGN_OR_RAISE(const json* matrix, read.Field(in, "", "confusion_matrix"));
  ORCHARD_ASSIGN_OR_RAISE(const json* labels, read.Field(*matrix, "confusion_matrix", "labels"));
  if (!labels->is_array()) return read.Fail("confusion_matrix.labels", "is not a list of names");
  for (size_t class_idx = 0; class_idx < labels->size(); ++class_idx) {
    const json& name = (*labels)[class_idx];
    if (!name.is_string()) {
      return read.Fail("confusion_matrix.labels[" + std::to_string(class_idx) + "]",
                       "is not a string");
    }
    metrics.classes.push_back(name.get<std::string>());
  }
  const size_t n = metrics.classes.size();
  ORCHARD_ASSIGN_OR_RAISE(const json* rows,
                          read.Field(*matrix, "confusion_matrix", "rows_true_columns_predicted"));
  const std::string rows_field = "confusion_matrix.rows_true_columns_predicted";
  if (!rows->is_array() || rows->size() != n) {
    return read.Fail(rows_field, "is not a list of " + std::to_string(n) + " rows (one per label)");
  }
  for (size_t row_idx = 0; row_idx < n; ++row_idx) {
    const std::string field = rows_field + "[" + std::to_string(row_idx) + "]";
    ORCHARD_ASSIGN_OR_RAISE(auto row, read.Counts((*rows)[row_idx], field));
    if (row.size() != n) {
      return read.Fail(
          field, "has " + std::to_string(row.size()) + " counts, expected " + std::to_string(n));
    }
    metrics.confusion.push_back(std::move(row));
  }

  ORCHARD_ASSIGN_OR_RAISE(const json* per_class, read.Field(in, "", "per_class"));
  if (!per_class->is_object() || per_class->size() != n) {
    return read.Fail("per_class", "is not an object of " + std::to_string(n) +
                                      " classes (those of confusion_matrix.labels)");
  }
  for (const std::string& name : metrics.classes) {
    ORCHARD_ASSIGN_OR_RAISE(const json* entry, read.Field(*per_class, "per_class", name));
    const std::string path = "per_class." + name;
    ClassMetrics class_metrics;
    ORCHARD_ASSIGN_OR_RAISE(class_metrics.precision, read.NumberAt(*entry, path, "precision"));
    ORCHARD_ASSIGN_OR_RAISE(class_metrics.recall, read.NumberAt(*entry, path, "recall"));
    ORCHARD_ASSIGN_OR_RAISE(class_metrics.f1, read.NumberAt(*entry, path, "f1"));
    ORCHARD_ASSIGN_OR_RAISE(class_metrics.support, read.CountAt(*entry, path, "support"));
    metrics.per_class.push_back(class_metrics);
  }
  return metrics;
}

}  // namespace

PredictionCounts PredictionCounts::Zero(int64_t num_classes) {
  PredictionCounts counts;
  counts.confusion.assign(static_cast<size_t>(num_classes * num_classes), 0);
  return counts;
}

void PredictionCounts::Add(const std::string& label, int64_t true_class,
                           const std::vector<int64_t>& top, int64_t num_classes) {
  ++rows;
  if (true_class < 0) {
    ++unknown_labels[label];
    return;
  }
  if (std::find(top.begin(), top.end(), true_class) != top.end()) ++top_correct;
  ++confusion[static_cast<size_t>(true_class * num_classes + top[0])];
}

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
  try {
    return CountsFromJson(json);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory reading prediction counts");
  }
}

json PredictMetrics::ToJson() const {
  json per_class_json = json::object();
  for (size_t class_idx = 0; class_idx < classes.size() && class_idx < per_class.size();
       ++class_idx) {
    const ClassMetrics& entry = per_class[class_idx];
    per_class_json[classes[class_idx]] = {{"precision", entry.precision},
                                          {"recall", entry.recall},
                                          {"f1", entry.f1},
                                          {"support", entry.support}};
  }
  return {{"rows", rows},
          {"labelled_rows", labelled_rows},
          {"unknown_label_rows", unknown_label_rows},
          {"unknown_labels", unknown_labels},
          {"accuracy", accuracy},
          {"top5_accuracy", top5_accuracy},
          {"macro_f1", macro_f1},
          {"per_class", per_class_json},
          {"confusion_matrix", {{"labels", classes}, {"rows_true_columns_predicted", confusion}}}};
}

Result<PredictMetrics> PredictMetrics::FromJson(const json& json) {
  try {
    return MetricsFromJson(json);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory reading prediction metrics");
  }
}

PredictMetrics ComputePredictMetrics(const std::vector<std::string>& classes,
                                     const PredictionCounts& counts) {
  const auto n = classes.size();
  PredictMetrics metrics;
  metrics.classes = classes;
  metrics.rows = counts.rows;
  metrics.unknown_labels = counts.unknown_labels;
  metrics.confusion.assign(n, std::vector<int64_t>(n, 0));
  int64_t correct = 0;
  if (counts.confusion.size() == n * n) {
    for (size_t row = 0; row < n; ++row) {
      for (size_t col = 0; col < n; ++col) {
        metrics.confusion[row][col] = counts.confusion[row * n + col];
        metrics.labelled_rows += metrics.confusion[row][col];
      }
      correct += metrics.confusion[row][row];
    }
  }
  for (const auto& [label, count] : counts.unknown_labels) metrics.unknown_label_rows += count;
  double f1_sum = 0;
  for (size_t c = 0; c < n; ++c) {
    int64_t support = 0, predicted = 0;
    for (size_t other = 0; other < n; ++other) {
      support += metrics.confusion[c][other];
      predicted += metrics.confusion[other][c];
    }
    const double hits = static_cast<double>(metrics.confusion[c][c]);
    ClassMetrics entry;
    entry.precision = predicted > 0 ? hits / static_cast<double>(predicted) : 0.0;
    entry.recall = support > 0 ? hits / static_cast<double>(support) : 0.0;
    entry.f1 = entry.precision + entry.recall > 0
                   ? 2 * entry.precision * entry.recall / (entry.precision + entry.recall)
                   : 0.0;
    entry.support = support;
    f1_sum += entry.f1;
    metrics.per_class.push_back(entry);
  }
  const auto fraction = [&](int64_t count) {
    return metrics.labelled_rows > 0
               ? static_cast<double>(count) / static_cast<double>(metrics.labelled_rows)
               : 0.0;
  };
  metrics.accuracy = fraction(correct);
  metrics.top5_accuracy = fraction(counts.top_correct);
  metrics.macro_f1 = n > 0 ? f1_sum / static_cast<double>(n) : 0.0;
  return metrics;
}

}  // namespace orchard::classify
