#include "orchard/jobs/inspect.h"

#include <arrow/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>

#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/table/tables.h"

namespace orchard::jobs {

using nlohmann::json;
using output::kErrorsDir;
using output::kFeaturesDir;
using output::kPcaDir;

Result<json> InspectOutput(const std::string& output, const io::StorageOptions& storage) {
  ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(output, storage));
  ORCHARD_ASSIGN_OR_RAISE(auto root_info, location.fs->GetFileInfo(location.path));
  if (root_info.type() != arrow::fs::FileType::Directory) {
    return Status::IOError("output '", location.display, "' does not exist");
  }
  json result = {{"output", output}};
  ORCHARD_ASSIGN_OR_RAISE(result["complete"], io::FileExists(location.Child(output::kSuccessFile)));
  for (const char* name : {kFeaturesDir, kPcaDir, kErrorsDir}) {
    ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(location.Child(name)));
    if (parts.empty()) continue;
    int64_t rows = 0;
    std::string schema;
    for (const auto& part : parts) {
      ORCHARD_ASSIGN_OR_RAISE(auto file, part.fs->OpenInputFile(part.path));
      ORCHARD_ASSIGN_OR_RAISE(auto reader,
                              parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
      rows += reader->parquet_reader()->metadata()->num_rows();
      if (schema.empty()) {
        std::shared_ptr<arrow::Schema> arrow_schema;
        ORCHARD_RETURN_NOT_OK(reader->GetSchema(&arrow_schema));
        schema = arrow_schema->ToString();
      }
    }
    result["tables"][name] = {{"parts", parts.size()}, {"rows", rows}, {"schema", schema}};
  }
  auto model_bytes = io::ReadAll(location.Child(output::kModelJson));
  if (model_bytes.ok()) {
    try {
      auto model = json::parse((*model_bytes)->ToString());
      result["pca"] = {
          {"k", model.at("k")},
          {"n", model.at("n")},
          {"dim", model.at("dim")},
          {"variance_threshold", model.at("variance_threshold")},
          {"cumulative_explained_variance_ratio", model.at("cumulative_explained_variance_ratio")}};
    } catch (const json::exception& error) {
      return Status::Invalid("cannot parse pca_model/model.json: ", error.what());
    }
  }
  auto summary_bytes = io::ReadAll(location.Child(output::kSummaryJson));
  if (summary_bytes.ok()) {
    try {
      result["summary"] = json::parse((*summary_bytes)->ToString());
    } catch (const json::exception&) {
      result["summary"] = "unreadable";
    }
  }
  return result;
}

}  // namespace orchard::jobs
