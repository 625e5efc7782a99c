#include "orchard/index/index_files.h"

#include <arrow/api.h>

#include "orchard/pca/pca_json.h"
#include "orchard/table/parquet_reader.h"
#include "orchard/util/json_fields.h"
#include "orchard/util/sha256.h"
#include "orchard/util/text.h"

namespace orchard::index {
namespace {

using nlohmann::json;
using util::JsonFields;

constexpr const char* kRowColumn = "row";
// A manifest, metrics or PCA file larger than this is not one orchard wrote.
constexpr int64_t kMaxJsonBytes = int64_t{64} << 20;
// rows.parquet: a path and a label per row, 10^8 rows of long paths at most.
constexpr int64_t kMaxRowsFileBytes = int64_t{32} << 30;

Result<json> ReadJsonFile(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadBounded(location, kMaxJsonBytes));
  json document = json::parse(bytes->data(), bytes->data() + bytes->size(), nullptr,
                              /*allow_exceptions=*/false);
  if (document.is_discarded()) {
    return Status::Invalid(location.display,
                           " is not JSON: rebuild the index with `orchard index`");
  }
  return document;
}

Result<std::vector<std::string>> StringColumn(table::ParquetReader& reader, const char* name,
                                              const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto chunked, reader.ReadColumn(name));
  if (chunked->type()->id() != arrow::Type::STRING || chunked->null_count() > 0) {
    return Status::Invalid(location.display, ": column '", name, "' is not non-null strings");
  }
  return table::ValidStrings(*chunked);
}

}  // namespace

json ToJson(const IndexManifest& manifest) {
  return {{"format_version", manifest.format_version},
          {"orchard_version", manifest.orchard_version},
          {"source", manifest.source},
          {"vectors", manifest.vectors},
          {"rows", manifest.rows},
          {"dim", manifest.dim},
          {"kind", manifest.kind},
          {"nprobe", manifest.nprobe},
          {"backbone_sha256", manifest.backbone_sha256},
          {"pca_sha256", manifest.pca_sha256},
          {"index_sha256", manifest.index_sha256},
          {"index_bytes", manifest.index_bytes},
          {"rows_sha256", manifest.rows_sha256}};
}

Result<IndexManifest> ManifestFromJson(const json& document, const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(document, source));
  IndexManifest manifest;
  ORCHARD_ASSIGN_OR_RAISE(manifest.format_version, fields.Integer("format_version"));
  if (manifest.format_version != kIndexFormatVersion) {
    return fields.Error("format_version", "is " + std::to_string(manifest.format_version) +
                                              ", this orchard reads " +
                                              std::to_string(kIndexFormatVersion) +
                                              ": rebuild the index with `orchard index`");
  }
  ORCHARD_ASSIGN_OR_RAISE(manifest.orchard_version, fields.String("orchard_version"));
  ORCHARD_ASSIGN_OR_RAISE(manifest.source, fields.String("source"));
  ORCHARD_ASSIGN_OR_RAISE(manifest.vectors, fields.String("vectors"));
  if (manifest.vectors != table::kPcaColumn && manifest.vectors != table::kFeaturesColumn) {
    return fields.Error("vectors", "is neither 'pca' nor 'features'");
  }
  ORCHARD_ASSIGN_OR_RAISE(manifest.rows, fields.Integer("rows", 0));
  ORCHARD_ASSIGN_OR_RAISE(manifest.dim, fields.Integer("dim", 1, int64_t{1} << 16));
  ORCHARD_ASSIGN_OR_RAISE(manifest.kind, fields.String("kind"));
  if (manifest.kind != kKindFlat && manifest.kind != kKindIvfPq) {
    return fields.Error("kind", "is neither 'flat' nor 'ivf-pq'");
  }
  ORCHARD_ASSIGN_OR_RAISE(manifest.nprobe, fields.Integer("nprobe", 0));
  ORCHARD_ASSIGN_OR_RAISE(manifest.backbone_sha256, fields.String("backbone_sha256"));
  ORCHARD_ASSIGN_OR_RAISE(manifest.pca_sha256, fields.String("pca_sha256"));
  ORCHARD_ASSIGN_OR_RAISE(manifest.index_sha256, fields.String("index_sha256"));
  ORCHARD_ASSIGN_OR_RAISE(manifest.index_bytes,
                          fields.Integer("index_bytes", 1, kMaxIndexFileBytes));
  ORCHARD_ASSIGN_OR_RAISE(manifest.rows_sha256, fields.String("rows_sha256"));
  return manifest;
}

json ToJson(const IndexMetrics& metrics) {
  const BuildReport& build = metrics.build;
  return {{"orchard_version", metrics.orchard_version},
          {"source", metrics.source},
          {"output", metrics.output},
          {"vectors", metrics.vectors},
          {"kind", build.kind},
          {"kind_reason", build.kind_reason},
          {"rows", build.rows},
          {"dim", build.dim},
          {"rows_read", metrics.rows_read},
          {"rows_skipped", metrics.rows_skipped},
          {"lists", build.lists},
          {"code_bytes", build.code_bytes},
          {"nprobe", build.nprobe},
          {"index_bytes", build.index_bytes},
          {"bytes_per_vector", metrics.bytes_per_vector},
          {"recall_at_10", build.recall_at_10},
          {"recall_sample_rows", build.recall_sample_rows},
          {"threads", metrics.threads},
          {"seconds",
           {{"read", metrics.read_seconds},
            {"train", build.train_seconds},
            {"add", build.add_seconds},
            {"build", metrics.build_seconds},
            {"total", metrics.total_seconds}}},
          {"peak_rss_mib", metrics.peak_rss_mib}};
}

Result<IndexMetrics> MetricsFromJson(const json& document, const std::string& source) {
  ORCHARD_ASSIGN_OR_RAISE(auto fields, JsonFields::Of(document, source));
  IndexMetrics metrics;
  BuildReport& build = metrics.build;
  ORCHARD_ASSIGN_OR_RAISE(metrics.orchard_version, fields.String("orchard_version"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.source, fields.String("source"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.output, fields.String("output"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.vectors, fields.String("vectors"));
  ORCHARD_ASSIGN_OR_RAISE(build.kind, fields.String("kind"));
  ORCHARD_ASSIGN_OR_RAISE(build.kind_reason, fields.String("kind_reason"));
  ORCHARD_ASSIGN_OR_RAISE(build.rows, fields.Integer("rows", 0));
  ORCHARD_ASSIGN_OR_RAISE(build.dim, fields.Integer("dim", 0));
  ORCHARD_ASSIGN_OR_RAISE(metrics.rows_read, fields.Integer("rows_read", 0));
  ORCHARD_ASSIGN_OR_RAISE(metrics.rows_skipped, fields.Integer("rows_skipped", 0));
  ORCHARD_ASSIGN_OR_RAISE(build.lists, fields.Integer("lists", 0));
  ORCHARD_ASSIGN_OR_RAISE(build.code_bytes, fields.Integer("code_bytes", 0));
  ORCHARD_ASSIGN_OR_RAISE(build.nprobe, fields.Integer("nprobe", 0));
  ORCHARD_ASSIGN_OR_RAISE(build.index_bytes, fields.Integer("index_bytes", 0));
  ORCHARD_ASSIGN_OR_RAISE(metrics.bytes_per_vector, fields.Number("bytes_per_vector"));
  ORCHARD_ASSIGN_OR_RAISE(build.recall_at_10, fields.Number("recall_at_10"));
  ORCHARD_ASSIGN_OR_RAISE(build.recall_sample_rows, fields.Integer("recall_sample_rows", 0));
  ORCHARD_ASSIGN_OR_RAISE(int64_t threads, fields.Integer("threads", 0, 1 << 20));
  metrics.threads = static_cast<int>(threads);
  ORCHARD_ASSIGN_OR_RAISE(auto seconds, fields.Object("seconds"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.read_seconds, seconds.Number("read"));
  ORCHARD_ASSIGN_OR_RAISE(build.train_seconds, seconds.Number("train"));
  ORCHARD_ASSIGN_OR_RAISE(build.add_seconds, seconds.Number("add"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.build_seconds, seconds.Number("build"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.total_seconds, seconds.Number("total"));
  ORCHARD_ASSIGN_OR_RAISE(metrics.peak_rss_mib, fields.Number("peak_rss_mib"));
  return metrics;
}

Result<std::shared_ptr<arrow::RecordBatch>> RowsBatch(const table::VectorRows& rows) {
  arrow::Int64Builder row_builder;
  arrow::StringBuilder path_builder;
  arrow::StringBuilder label_builder;
  for (int64_t row = 0; row < rows.num_rows(); ++row) {
    ORCHARD_RETURN_NOT_OK(row_builder.Append(row));
    ORCHARD_RETURN_NOT_OK(path_builder.Append(rows.paths[static_cast<size_t>(row)]));
    ORCHARD_RETURN_NOT_OK(label_builder.Append(rows.labels[static_cast<size_t>(row)]));
  }
  std::shared_ptr<arrow::Array> row_array, path_array, label_array;
  ORCHARD_RETURN_NOT_OK(row_builder.Finish(&row_array));
  ORCHARD_RETURN_NOT_OK(path_builder.Finish(&path_array));
  ORCHARD_RETURN_NOT_OK(label_builder.Finish(&label_array));
  auto schema = arrow::schema({arrow::field(kRowColumn, arrow::int64(), false),
                               arrow::field(table::kPathColumn, arrow::utf8(), false),
                               arrow::field(table::kLabelColumn, arrow::utf8(), false)});
  return arrow::RecordBatch::Make(schema, rows.num_rows(), {row_array, path_array, label_array});
}

Result<table::VectorRows> ReadRows(const io::Location& location, int64_t expected_rows) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(location));
  if (reader->num_rows() != expected_rows) {
    return Status::Invalid(location.display, " has ", reader->num_rows(),
                           " rows but the manifest says ", expected_rows,
                           ": rebuild the index with `orchard index`");
  }
  table::VectorRows rows;
  ORCHARD_ASSIGN_OR_RAISE(rows.paths, StringColumn(*reader, table::kPathColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(rows.labels, StringColumn(*reader, table::kLabelColumn, location));
  return rows;
}

Result<LoadedIndex> LoadIndex(const io::Location& index_dir) {
  const io::Location manifest_file = index_dir.Child(kManifestJson);
  ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(manifest_file));
  if (!exists) {
    return Status::Invalid("'", index_dir.display, "' holds no ", kManifestJson,
                           ": give a folder written by `orchard index`");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto document, ReadJsonFile(manifest_file));
  ORCHARD_ASSIGN_OR_RAISE(auto manifest, ManifestFromJson(document, manifest_file.display));

  // The index file's bytes are checked against the manifest before FAISS parses them: a
  // truncated or tampered file is refused here, never handed to a parser that trusts sizes.
  const io::Location index_file = index_dir.Child(kIndexFile);
  ORCHARD_ASSIGN_OR_RAISE(auto index_bytes, io::ReadBounded(index_file, kMaxIndexFileBytes));
  const std::string_view bytes(reinterpret_cast<const char*>(index_bytes->data()),
                               static_cast<size_t>(index_bytes->size()));
  if (static_cast<int64_t>(bytes.size()) != manifest.index_bytes ||
      Sha256Hex(bytes) != manifest.index_sha256) {
    return Status::Invalid(index_file.display, " is not the file its manifest describes (",
                           bytes.size(), " bytes, manifest: ", manifest.index_bytes,
                           "; sha256 differs or truncated): rebuild it with `orchard index`");
  }
  ORCHARD_ASSIGN_OR_RAISE(
      auto vectors, VectorIndex::Deserialize(bytes, manifest.rows, manifest.dim, manifest.nprobe,
                                             index_file.display));

  const io::Location rows_file = index_dir.Child(kRowsParquet);
  ORCHARD_ASSIGN_OR_RAISE(auto rows_bytes, io::ReadBounded(rows_file, kMaxRowsFileBytes));
  if (Sha256Hex(std::string_view(reinterpret_cast<const char*>(rows_bytes->data()),
                                 static_cast<size_t>(rows_bytes->size()))) !=
      manifest.rows_sha256) {
    return Status::Invalid(rows_file.display,
                           " is not the file its manifest describes (sha256 differs): rebuild "
                           "the index with `orchard index`");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadRows(rows_file, manifest.rows));

  std::optional<pca::PcaModel> pca_model;
  if (manifest.vectors == table::kPcaColumn) {
    const io::Location pca_file = index_dir.Child(kPcaModelJson);
    ORCHARD_ASSIGN_OR_RAISE(auto pca_bytes, io::ReadBounded(pca_file, kMaxJsonBytes));
    const std::string text(reinterpret_cast<const char*>(pca_bytes->data()),
                           static_cast<size_t>(pca_bytes->size()));
    if (Sha256Hex(text) != manifest.pca_sha256) {
      return Status::Invalid(pca_file.display,
                             " is not the PCA model the index was built with (sha256 differs): "
                             "rebuild the index with `orchard index`");
    }
    ORCHARD_ASSIGN_OR_RAISE(pca_model, pca::ModelFromJsonText(text, pca_file.display));
    if (pca_model->k != manifest.dim) {
      return Status::Invalid(pca_file.display, " keeps ", pca_model->k,
                             " components but the index holds vectors of ", manifest.dim);
    }
  }
  return LoadedIndex{std::move(manifest), std::move(vectors), std::move(rows),
                     std::move(pca_model)};
}

}  // namespace orchard::index
