// The typed readers of the JSON files the report shows that have no FromJson of their own
// yet: the predict jobs' summary and report/metrics.json (see report_data.h).
#include <cmath>

#include "orchard/report/report_data.h"
#include "orchard/util/json_fields.h"

namespace orchard::report {
namespace {

using nlohmann::json;
using util::JsonFields;

// The summary `orchard predict` (classify::PredictSummary) and the Spark predict job write:
// the fields the Run section shows.
Result<RunFacts> PredictFactsFromJson(const JsonFields& fields) {
  RunFacts facts;
  ORCHARD_ASSIGN_OR_RAISE(facts.orchard_version, fields.String("orchard_version"));
  ORCHARD_ASSIGN_OR_RAISE(facts.command, fields.String("command"));
  ORCHARD_ASSIGN_OR_RAISE(facts.input, fields.String("input"));
  ORCHARD_ASSIGN_OR_RAISE(facts.output, fields.String("output"));
  ORCHARD_ASSIGN_OR_RAISE(auto model, fields.Object("model"));
  ORCHARD_ASSIGN_OR_RAISE(auto path, model.OptionalString("path"));  // none: from an output
  facts.model_path = path.value_or("");
  ORCHARD_ASSIGN_OR_RAISE(facts.model_sha256, model.String("sha256"));
  ORCHARD_ASSIGN_OR_RAISE(facts.threads, fields.OptionalInteger("threads"));
  ORCHARD_ASSIGN_OR_RAISE(facts.peak_rss_mib, fields.OptionalNumber("peak_rss_mib"));
  ORCHARD_ASSIGN_OR_RAISE(auto images, fields.OptionalObject("images"));
  if (images) {
    RunFacts::Images counts;
    ORCHARD_ASSIGN_OR_RAISE(counts.listed, images->Integer("listed", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.ok, images->Integer("ok", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.failed, images->Integer("failed", 0));
    ORCHARD_ASSIGN_OR_RAISE(counts.per_second, fields.Number("images_per_second"));
    facts.images = counts;
  }
  if (fields.Has("engine")) {
    ORCHARD_ASSIGN_OR_RAISE(facts.engine,
                            output::EngineFromJson(fields.object().at("engine"), fields.source()));
  }
  ORCHARD_ASSIGN_OR_RAISE(auto seconds, fields.OptionalObject("seconds"));
  if (seconds) {
    for (const auto& [step, value] : seconds->object().items()) {
      ORCHARD_ASSIGN_OR_RAISE(facts.seconds[step], seconds->Number(step.c_str()));
    }
  }
  return facts;
}

// Class names: strings, in order.
Result<std::vector<std::string>> NamesFromJson(const json& names, const std::string& source,
                                               const std::string& path) {
  if (!names.is_array()) return Status::Invalid(source, ": '", path, "' is not a list");
  std::vector<std::string> out;
  for (size_t idx = 0; idx < names.size(); ++idx) {
    if (!names[idx].is_string()) {
      return Status::Invalid(source, ": '", path, "[", idx, "]' is not a string");
    }
    out.push_back(names[idx].get<std::string>());
  }
  return out;
}

Result<ReportMetrics::ClassScore> ScoreFromJson(const json& entry, const std::string& source,
                                                const std::string& path, std::string name) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(entry, source, path));
  ReportMetrics::ClassScore score{std::move(name), 0, 0, 0, 0};
  const auto number = [&](const char* key, double* out) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(auto value, fields.OptionalNumber(key));
    *out = value.value_or(std::nan(""));
    return Status::OK();
  };
  ORCHARD_RETURN_NOT_OK(number("precision", &score.precision));
  ORCHARD_RETURN_NOT_OK(number("recall", &score.recall));
  ORCHARD_RETURN_NOT_OK(number("f1", &score.f1));
  ORCHARD_RETURN_NOT_OK(number("support", &score.support));
  return score;
}

Result<std::vector<std::vector<double>>> MatrixFromJson(const json& rows, const std::string& source,
                                                        const std::string& path) {
  if (!rows.is_array()) return Status::Invalid(source, ": '", path, "' is not a list");
  std::vector<std::vector<double>> matrix;
  matrix.reserve(rows.size());
  for (size_t row = 0; row < rows.size(); ++row) {
    const std::string row_path = path + "[" + std::to_string(row) + "]";
    if (!rows[row].is_array()) return Status::Invalid(source, ": '", row_path, "' is not a list");
    std::vector<double>& cells = matrix.emplace_back();
    for (size_t col = 0; col < rows[row].size(); ++col) {
      ORCHARD_ASSIGN_OR_RAISE(
          cells.emplace_back(),
          util::NumberItem(rows[row][col], source, row_path + "[" + std::to_string(col) + "]"));
    }
  }
  return matrix;
}

}  // namespace

RunFacts FactsOf(const output::JobSummary& summary) {
  RunFacts facts;
  facts.orchard_version = summary.orchard_version;
  facts.command = summary.command;
  facts.input = summary.input;
  facts.output = summary.output;
  facts.model_path = summary.model_path;
  facts.engine = summary.engine;
  facts.seconds = summary.seconds;
  // The Spark job's summary written by Python records neither (its engine says so).
  if (!summary.engine) facts.threads = summary.threads;
  if (!summary.engine || summary.peak_rss_mib > 0) facts.peak_rss_mib = summary.peak_rss_mib;
  if (summary.featurize) {
    const output::FeaturizeSummary& featurize = *summary.featurize;
    facts.model_sha256 = featurize.model_sha256;
    facts.images = RunFacts::Images{featurize.listed, featurize.ok, featurize.failed,
                                    featurize.images_per_second};
    facts.busy_seconds = {{"read", featurize.read_seconds},
                          {"decode", featurize.decode_seconds},
                          {"embed", featurize.embed_seconds},
                          {"write", featurize.write_seconds}};
  }
  return facts;
}

Result<RunFacts> RunFactsFromJson(const json& document, const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(document, source));
  ORCHARD_ASSIGN_OR_RAISE(auto command, fields.String("command"));
  if (command == "predict" || command == "spark predict") return PredictFactsFromJson(fields);
  ORCHARD_ASSIGN_OR_RAISE(auto summary, output::SummaryFromJson(document, source));
  return FactsOf(summary);
}

Result<ReportMetrics> MetricsFromJson(const json& document, const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(document, source));
  ReportMetrics metrics;
  ORCHARD_ASSIGN_OR_RAISE(metrics.accuracy, fields.OptionalNumber("accuracy"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.top5_accuracy, fields.OptionalNumber("top5_accuracy"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.labelled, fields.OptionalInteger("labelled_rows"));
  if (!metrics.labelled) {
    ORCHARD_ASSIGN_OR_RAISE(metrics.labelled, fields.OptionalInteger("n"));
  }

  // The confusion matrix: orchard predict's {labels, rows_true_columns_predicted}, or
  // {classes|labels, matrix|counts}, or the rows themselves (names then in "classes").
  std::optional<JsonFields> matrix_object;
  if (fields.Has("confusion_matrix") && document.at("confusion_matrix").is_object()) {
    ORCHARD_ASSIGN_OR_RAISE(matrix_object, fields.Object("confusion_matrix"));
  }
  const json* names = nullptr;
  std::string names_path = "classes";
  if (fields.Has("classes")) {
    names = &document.at("classes");
  } else if (matrix_object) {
    for (const char* key : {"classes", "labels"}) {
      if (names == nullptr && matrix_object->Has(key)) {
        names = &matrix_object->object().at(key);
        names_path = matrix_object->PathOf(key);
      }
    }
  }
  if (names != nullptr) {
    ORCHARD_ASSIGN_OR_RAISE(metrics.classes, NamesFromJson(*names, source, names_path));
  }
  if (matrix_object) {
    for (const char* key : {"rows_true_columns_predicted", "matrix", "counts"}) {
      if (metrics.confusion || !matrix_object->Has(key)) continue;
      ORCHARD_ASSIGN_OR_RAISE(
          metrics.confusion,
          MatrixFromJson(matrix_object->object().at(key), source, matrix_object->PathOf(key)));
    }
  } else if (fields.Has("confusion_matrix")) {
    ORCHARD_ASSIGN_OR_RAISE(metrics.confusion, MatrixFromJson(document.at("confusion_matrix"),
                                                              source, "confusion_matrix"));
  }

  // Per-class scores: an object keyed by class, or a list (named by "class", "label" or
  // their place in the class names).
  if (fields.Has("per_class")) {
    const json& per_class = document.at("per_class");
    if (per_class.is_object()) {
      for (const auto& [name, entry] : per_class.items()) {
        ORCHARD_ASSIGN_OR_RAISE(auto score,
                                ScoreFromJson(entry, source, "per_class." + name, name));
        metrics.per_class.push_back(std::move(score));
      }
    } else if (per_class.is_array()) {
      for (size_t idx = 0; idx < per_class.size(); ++idx) {
        const std::string path = "per_class[" + std::to_string(idx) + "]";
        ORCHARD_ASSIGN_OR_RAISE(auto entry, JsonFields::Of(per_class[idx], source, path));
        ORCHARD_ASSIGN_OR_RAISE(auto name, entry.OptionalString("class"));
        if (!name || name->empty()) {
          ORCHARD_ASSIGN_OR_RAISE(name, entry.OptionalString("label"));
        }
        if ((!name || name->empty()) && idx < metrics.classes.size()) name = metrics.classes[idx];
        ORCHARD_ASSIGN_OR_RAISE(auto score,
                                ScoreFromJson(per_class[idx], source, path, name.value_or("")));
        metrics.per_class.push_back(std::move(score));
      }
    } else {
      return fields.Error("per_class", "is neither an object nor a list");
    }
  }
  return metrics;
}

}  // namespace orchard::report
