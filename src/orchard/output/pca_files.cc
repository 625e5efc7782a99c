#include "orchard/output/pca_files.h"

#include <arrow/api.h>
#include <arrow/filesystem/filesystem.h>

#include <string>

#include "orchard/io/regular_file.h"
#include "orchard/output/layout.h"
#include "orchard/pca/pca_json.h"
#include "orchard/table/tables.h"
#include "orchard/util/text.h"

namespace orchard::output {

Result<pca::PcaModel> ReadPcaModel(const io::Location& root) {
  const io::Location file = root.Child(kModelJson);
  auto model_bytes = io::ReadRegularFile(file, io::kMaxModelJsonBytes, file.display);
  if (!model_bytes.ok()) {
    ORCHARD_ASSIGN_OR_RAISE(auto info, file.fs->GetFileInfo(file.path));
    if (info.type() != arrow::fs::FileType::NotFound) return model_bytes.status();
    return Status::Invalid("no PCA model in '", root.display, "' (", kModelJson,
                           "): run `orchard fit-pca` first");
  }
  return pca::ModelFromJsonText((*model_bytes)->ToString(), file.display);
}

Result<std::shared_ptr<arrow::RecordBatch>> ComponentsBatch(const pca::PcaModel& model) {
  arrow::Int32Builder index_builder;
  arrow::DoubleBuilder variance_builder, ratio_builder, cumulative_builder;
  arrow::ListBuilder vector_builder(arrow::default_memory_pool(),
                                    std::make_shared<arrow::DoubleBuilder>());
  auto* values = static_cast<arrow::DoubleBuilder*>(vector_builder.value_builder());
  double cumulative = 0;
  for (int64_t comp_idx = 0; comp_idx < model.k; ++comp_idx) {
    const auto idx = static_cast<size_t>(comp_idx);
    cumulative += model.explained_variance_ratio[idx];
    ORCHARD_RETURN_NOT_OK(index_builder.Append(static_cast<int32_t>(comp_idx)));
    ORCHARD_RETURN_NOT_OK(variance_builder.Append(model.explained_variance[idx]));
    ORCHARD_RETURN_NOT_OK(ratio_builder.Append(model.explained_variance_ratio[idx]));
    ORCHARD_RETURN_NOT_OK(cumulative_builder.Append(cumulative));
    ORCHARD_RETURN_NOT_OK(vector_builder.Append());
    ORCHARD_RETURN_NOT_OK(
        values->AppendValues(model.components.data() + comp_idx * model.dim, model.dim));
  }
  std::shared_ptr<arrow::Array> index, variance, ratio, cumulative_ratio, vectors;
  ORCHARD_RETURN_NOT_OK(index_builder.Finish(&index));
  ORCHARD_RETURN_NOT_OK(variance_builder.Finish(&variance));
  ORCHARD_RETURN_NOT_OK(ratio_builder.Finish(&ratio));
  ORCHARD_RETURN_NOT_OK(cumulative_builder.Finish(&cumulative_ratio));
  ORCHARD_RETURN_NOT_OK(vector_builder.Finish(&vectors));
  auto schema =
      arrow::schema({arrow::field("component", arrow::int32()),
                     arrow::field("explained_variance", arrow::float64()),
                     arrow::field("explained_variance_ratio", arrow::float64()),
                     arrow::field("cumulative_explained_variance_ratio", arrow::float64()),
                     arrow::field("vector", arrow::list(arrow::float64()))});
  return arrow::RecordBatch::Make(schema, model.k,
                                  {index, variance, ratio, cumulative_ratio, vectors});
}

Status WritePcaModel(const pca::PcaModel& model, const io::Location& root) {
  ORCHARD_RETURN_NOT_OK(
      io::WriteAll(root.Child(output::kModelJson), util::DumpJson(pca::ModelToJson(model))));
  ORCHARD_ASSIGN_OR_RAISE(auto components, ComponentsBatch(model));
  return table::WriteParquet(root.Child(output::kComponentsParquet), *components);
}

}  // namespace orchard::output
