#include "orchard/table/predictions.h"

#include <arrow/api.h>

#include "orchard/table/tables.h"
#include "orchard/table/tables_internal.h"
#include "orchard/util/text.h"

namespace orchard::table {

std::shared_ptr<arrow::Schema> PredictionsSchema() {
  auto entry = arrow::struct_({arrow::field(kTopLabelField, arrow::utf8()),
                               arrow::field(kTopProbabilityField, arrow::float32())});
  return arrow::schema({arrow::field(kPathColumn, arrow::utf8()),
                        arrow::field(kLabelColumn, arrow::utf8()),
                        arrow::field(kPredictedColumn, arrow::utf8()),
                        arrow::field(kProbabilityColumn, arrow::float32()),
                        arrow::field(kTopColumn, arrow::list(entry))});
}

struct PredictionsBatchBuilder::Impl {
  explicit Impl(const std::vector<std::string>& class_names)
      : classes(class_names),
        schema(PredictionsSchema()),
        top_label(std::make_shared<arrow::StringBuilder>()),
        top_probability(std::make_shared<arrow::FloatBuilder>()),
        entry_builder(std::make_shared<arrow::StructBuilder>(
            schema->field(4)->type()->field(0)->type(), arrow::default_memory_pool(),
            std::vector<std::shared_ptr<arrow::ArrayBuilder>>{top_label, top_probability})),
        top_builder(arrow::default_memory_pool(), entry_builder, schema->field(4)->type()) {}

  const std::vector<std::string>& classes;
  std::shared_ptr<arrow::Schema> schema;
  arrow::StringBuilder path_builder, label_builder, predicted_builder;
  arrow::FloatBuilder probability_builder;
  std::shared_ptr<arrow::StringBuilder> top_label;
  std::shared_ptr<arrow::FloatBuilder> top_probability;
  std::shared_ptr<arrow::StructBuilder> entry_builder;
  arrow::ListBuilder top_builder;
  int64_t num_rows = 0;
};

PredictionsBatchBuilder::PredictionsBatchBuilder(const std::vector<std::string>& classes)
    : impl_(std::make_unique<Impl>(classes)) {}

PredictionsBatchBuilder::~PredictionsBatchBuilder() = default;

Status PredictionsBatchBuilder::Append(std::string_view path, std::string_view label,
                                       const std::vector<int64_t>& top,
                                       const float* probabilities) {
  Impl& impl = *impl_;
  const auto num_classes = static_cast<int64_t>(impl.classes.size());
  if (top.empty()) return Status::Invalid("internal: a prediction without a best class");
  for (int64_t class_idx : top) {
    if (class_idx < 0 || class_idx >= num_classes) {
      return Status::Invalid("internal: class index ", class_idx, " of ", num_classes, " classes");
    }
  }
  // Strings are appended as they are: paths and labels come from a features table, whose
  // reader made them valid UTF-8, and class names from a checked classifier.json.
  ORCHARD_RETURN_NOT_OK(impl.path_builder.Append(path));
  ORCHARD_RETURN_NOT_OK(impl.label_builder.Append(label));
  ORCHARD_RETURN_NOT_OK(impl.predicted_builder.Append(impl.classes[static_cast<size_t>(top[0])]));
  ORCHARD_RETURN_NOT_OK(impl.probability_builder.Append(probabilities[top[0]]));
  ORCHARD_RETURN_NOT_OK(impl.top_builder.Append());
  for (int64_t class_idx : top) {
    ORCHARD_RETURN_NOT_OK(impl.entry_builder->Append());
    ORCHARD_RETURN_NOT_OK(impl.top_label->Append(impl.classes[static_cast<size_t>(class_idx)]));
    ORCHARD_RETURN_NOT_OK(impl.top_probability->Append(probabilities[class_idx]));
  }
  ++impl.num_rows;
  return Status::OK();
}

Result<std::shared_ptr<arrow::RecordBatch>> PredictionsBatchBuilder::Finish() {
  Impl& impl = *impl_;
  std::shared_ptr<arrow::Array> paths, labels, predicted, probability, top5;
  ORCHARD_RETURN_NOT_OK(impl.path_builder.Finish(&paths));
  ORCHARD_RETURN_NOT_OK(impl.label_builder.Finish(&labels));
  ORCHARD_RETURN_NOT_OK(impl.predicted_builder.Finish(&predicted));
  ORCHARD_RETURN_NOT_OK(impl.probability_builder.Finish(&probability));
  ORCHARD_RETURN_NOT_OK(impl.top_builder.Finish(&top5));
  const int64_t num_rows = impl.num_rows;
  impl.num_rows = 0;
  return arrow::RecordBatch::Make(impl.schema, num_rows,
                                  {paths, labels, predicted, probability, top5});
}

namespace {

// A float32 column without nulls.
Result<std::vector<float>> ReadFloats(const arrow::Table& table, const char* column,
                                      const io::Location& location) {
  auto chunked = table.GetColumnByName(column);
  if (chunked == nullptr || chunked->type()->id() != arrow::Type::FLOAT) {
    return Status::Invalid(location.display, " has no float column '", column, "'");
  }
  if (chunked->null_count() > 0) {
    return Status::Invalid(location.display, ": nulls in column '", column, "'");
  }
  std::vector<float> values;
  values.reserve(static_cast<size_t>(table.num_rows()));
  for (const auto& chunk : chunked->chunks()) {
    const auto& floats = static_cast<const arrow::FloatArray&>(*chunk);
    values.insert(values.end(), floats.raw_values(), floats.raw_values() + floats.length());
  }
  return values;
}

// The top5 column: list<struct<label string, probability float32>>, no nulls anywhere.
Result<std::vector<std::vector<TopClass>>> ReadTop(const arrow::Table& table,
                                                   const io::Location& location) {
  auto chunked = table.GetColumnByName(kTopColumn);
  // By structure, not by Equals: other writers name the list's item field differently.
  const auto is_top_type = [](const arrow::DataType& type) {
    if (type.id() != arrow::Type::LIST) return false;
    const auto& entry = *static_cast<const arrow::ListType&>(type).value_type();
    return entry.id() == arrow::Type::STRUCT && entry.num_fields() == 2 &&
           entry.field(0)->type()->id() == arrow::Type::STRING &&
           entry.field(1)->type()->id() == arrow::Type::FLOAT;
  };
  if (chunked == nullptr || !is_top_type(*chunked->type())) {
    return Status::Invalid(location.display, " has no column '", kTopColumn, "' of type ",
                           PredictionsSchema()->GetFieldByName(kTopColumn)->type()->ToString());
  }
  std::vector<std::vector<TopClass>> top;
  top.reserve(static_cast<size_t>(table.num_rows()));
  for (const auto& chunk : chunked->chunks()) {
    const auto& lists = static_cast<const arrow::ListArray&>(*chunk);
    const auto& entries = static_cast<const arrow::StructArray&>(*lists.values());
    const auto& labels = static_cast<const arrow::StringArray&>(*entries.field(0));
    const auto& probabilities = static_cast<const arrow::FloatArray&>(*entries.field(1));
    if (lists.null_count() > 0 || entries.null_count() > 0 || labels.null_count() > 0 ||
        probabilities.null_count() > 0) {
      return Status::Invalid(location.display, ": nulls in column '", kTopColumn, "'");
    }
    for (int64_t row = 0; row < lists.length(); ++row) {
      std::vector<TopClass> classes;
      for (int64_t entry = lists.value_offset(row); entry < lists.value_offset(row + 1); ++entry) {
        // As ReadStrings does: what is read is valid UTF-8 before it reaches JSON or a page.
        const std::string_view label = labels.GetView(entry);
        classes.push_back({util::IsValidUtf8(label) ? std::string(label) : util::ValidUtf8(label),
                           probabilities.Value(entry)});
      }
      top.push_back(std::move(classes));
    }
  }
  return top;
}

}  // namespace

Result<PredictionRows> ReadPredictionsFile(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto table, internal::ReadTable(location));
  for (const char* column : {kPathColumn, kLabelColumn, kPredictedColumn}) {
    auto chunked = table->GetColumnByName(column);
    if (chunked != nullptr && chunked->null_count() > 0) {
      return Status::Invalid(location.display, ": nulls in column '", column, "'");
    }
  }
  PredictionRows rows;
  ORCHARD_ASSIGN_OR_RAISE(rows.paths, internal::ReadStrings(*table, kPathColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(rows.labels, internal::ReadStrings(*table, kLabelColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(rows.predicted,
                          internal::ReadStrings(*table, kPredictedColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(rows.probabilities, ReadFloats(*table, kProbabilityColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(rows.top, ReadTop(*table, location));
  return rows;
}

}  // namespace orchard::table
