#include "orchard/pipeline/manifest.h"

#include <arrow/adapters/orc/adapter.h>
#include <arrow/array.h>
#include <arrow/array/concatenate.h>
#include <arrow/chunked_array.h>
#include <arrow/csv/api.h>
#include <arrow/io/compressed.h>
#include <arrow/scalar.h>
#include <arrow/util/compression.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "orchard/table/parquet_reader.h"
#include "orchard/util/text.h"

namespace orchard::pipeline {
namespace {

constexpr std::string_view kS3Prefix = "s3://";
constexpr std::string_view kS3aPrefix = "s3a://";
constexpr std::string_view kFilePrefix = "file://";

bool EndsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string BaseName(std::string_view path) {
  const auto slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string FolderOf(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash);
}

// The parent folder's name of a '/'-separated path ("" for none).
std::string ParentName(const std::string& path) { return BaseName(FolderOf(path)); }

// Turns manifest rows into items: where each path cell points, its table path and label.
class RowCollector {
 public:
  RowCollector(const io::Location& manifest, std::vector<ImageItem>* items)
      : manifest_(manifest), folder_(FolderOf(manifest.path)), items_(items) {}

  // The row's name in messages and, when its cell cannot name it, its error row's path.
  std::string RowName(int64_t row) const {
    return util::EscapeName(BaseName(manifest_.path)) + ":row " + std::to_string(row);
  }

  void Error(std::string path, std::string message) {
    ImageItem item;
    item.path = std::move(path);
    item.source_in_fs = true;
    item.size = -1;
    item.listing_error = std::move(message);
    items_->push_back(std::move(item));
  }

  // One row: `cell` the path cell (nullopt: null), `label` the label cell (nullopt: none).
  void Add(int64_t row, std::optional<std::string_view> cell, std::optional<std::string_view> label,
           int64_t size = -1) {
    if (!cell.has_value() || cell->empty()) return Error(RowName(row), "the path cell is empty");
    if (cell->size() > kMaxManifestPathBytes) {
      return Error(RowName(row), "the path cell has " + std::to_string(cell->size()) +
                                     " bytes (at most " + std::to_string(kMaxManifestPathBytes) +
                                     ")");
    }
    if (cell->find('\0') != std::string_view::npos) {
      return Error(RowName(row), "the path cell holds a NUL byte");
    }
    std::string text(*cell);
    ImageItem item;
    item.source_in_fs = true;
    item.size = size;
    std::string label_path;  // the path the default label is the parent folder of
    const bool s3 = text.rfind(kS3Prefix, 0) == 0 || text.rfind(kS3aPrefix, 0) == 0;
    if (text.rfind(kFilePrefix, 0) == 0) text = text.substr(kFilePrefix.size());
    if (s3) {
      const std::string rest = text.substr(text.find("://") + 3);
      if (!manifest_.is_object_store) {
        return Error(util::EscapeName(text),
                     "an s3:// URI in a local manifest: put the manifest in S3 too (the rows of "
                     "a manifest are read through its own filesystem)");
      }
      const auto slash = rest.find('/');
      if (slash == std::string::npos || slash == 0 || slash + 1 == rest.size()) {
        return Error(util::EscapeName(text), "the URI names no object (s3://bucket/key)");
      }
      item.source = rest;
      item.path = util::EscapeName("s3://" + rest);
      label_path = rest;
    } else if (text.find("://") != std::string::npos) {
      return Error(util::EscapeName(text),
                   "unsupported URI scheme: use s3:// or a path (relative to the manifest)");
    } else if (text.front() == '/') {
      if (manifest_.is_object_store) {
        return Error(util::EscapeName(text),
                     "an absolute local path in a manifest on S3: use s3:// URIs or paths "
                     "relative to the manifest");
      }
      item.source = std::filesystem::path(text).lexically_normal().generic_string();
      item.path = util::EscapeName(item.source);
      label_path = item.source;
    } else {
      auto relative = internal::RelativeInside(text);
      if (!relative.ok()) return Error(util::EscapeName(text), relative.status().message());
      item.source = folder_.empty() ? *relative : folder_ + "/" + *relative;
      item.path = util::EscapeName(*relative);
      label_path = item.source;
    }
    if (label.has_value() && !label->empty()) {
      item.label = util::EscapeName(*label);
    } else {
      item.label = util::EscapeName(ParentName(label_path));
    }
    if (!manifest_.is_object_store) {
      // Sizes keep the read-ahead's budget honest; a missing file is the read's error row.
      auto info = manifest_.fs->GetFileInfo(item.source);
      if (info.ok() && info->type() == arrow::fs::FileType::File) {
        item.size = info->size();
        item.mtime_ns = info->mtime().time_since_epoch().count();
      }
    }
    items_->push_back(std::move(item));
  }

 private:
  const io::Location& manifest_;
  const std::string folder_;
  std::vector<ImageItem>* items_;
};

std::optional<std::string_view> CellOf(const arrow::Array& array, int64_t row) {
  if (array.IsNull(row)) return std::nullopt;
  if (array.type_id() == arrow::Type::BINARY || array.type_id() == arrow::Type::STRING) {
    return static_cast<const arrow::BinaryArray&>(array).GetView(row);
  }
  if (array.type_id() == arrow::Type::LARGE_BINARY ||
      array.type_id() == arrow::Type::LARGE_STRING) {
    return static_cast<const arrow::LargeBinaryArray&>(array).GetView(row);
  }
  return std::nullopt;
}

bool IsText(const arrow::DataType& type) {
  return type.id() == arrow::Type::BINARY || type.id() == arrow::Type::STRING ||
         type.id() == arrow::Type::LARGE_BINARY || type.id() == arrow::Type::LARGE_STRING;
}

bool IsInteger(const arrow::DataType& type) { return arrow::is_integer(type.id()); }

// A label column of integers (class ids) is read as their decimal text.
std::optional<std::string> LabelCell(const arrow::Array* array, int64_t row) {
  if (array == nullptr || array->IsNull(row)) return std::nullopt;
  if (IsText(*array->type())) return std::string(*CellOf(*array, row));
  auto scalar = array->GetScalar(row);
  if (!scalar.ok()) return std::nullopt;
  return (*scalar)->ToString();
}

Result<std::string> PathColumnOf(const arrow::Schema& schema, const io::Location& manifest) {
  for (const char* name : kManifestPathColumns) {
    if (schema.GetFieldIndex(name) >= 0) return std::string(name);
  }
  return Status::Invalid("manifest '", manifest.display, "' has no path column: name one ",
                         "'path', 'uri', 'url' or 'key' (columns: ", schema.ToString(), ")");
}

Status ListParquetManifest(const io::Location& manifest, RowCollector* rows) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(manifest));
  const auto& schema = *reader->schema();
  ORCHARD_ASSIGN_OR_RAISE(const std::string path_column, PathColumnOf(schema, manifest));
  const auto& path_type = *schema.GetFieldByName(path_column)->type();
  if (!IsText(path_type)) {
    return Status::Invalid("manifest '", manifest.display, "': column '", path_column, "' is ",
                           path_type.ToString(), "; it must be text (string or binary)");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto paths, reader->ReadColumn(path_column));
  std::shared_ptr<arrow::ChunkedArray> labels;
  if (const auto field = schema.GetFieldByName(kManifestLabelColumn); field != nullptr) {
    if (!IsText(*field->type()) && !IsInteger(*field->type())) {
      return Status::Invalid("manifest '", manifest.display, "': column 'label' is ",
                             field->type()->ToString(), "; it must be text or integers");
    }
    ORCHARD_ASSIGN_OR_RAISE(labels, reader->ReadColumn(kManifestLabelColumn));
  }
  // Both columns are read whole from the same row groups; rechunked alike for the walk.
  int64_t row = 0;
  std::shared_ptr<arrow::Array> label_all;
  if (labels) {
    ORCHARD_ASSIGN_OR_RAISE(label_all, arrow::Concatenate(labels->chunks()));
  }
  for (const auto& chunk : paths->chunks()) {
    for (int64_t idx = 0; idx < chunk->length(); ++idx, ++row) {
      const auto label = LabelCell(label_all.get(), row);
      rows->Add(row + 1, CellOf(*chunk, idx),
                label ? std::optional<std::string_view>(*label) : std::nullopt);
    }
  }
  return Status::OK();
}

Status ListCsvManifest(const io::Location& manifest, RowCollector* rows) {
  auto read_options = arrow::csv::ReadOptions::Defaults();
  read_options.use_threads = false;  // rows in file order, for the row numbers
  auto parse_options = arrow::csv::ParseOptions::Defaults();
  parse_options.newlines_in_values = true;
  auto convert_options = arrow::csv::ConvertOptions::Defaults();
  convert_options.check_utf8 = false;
  const auto open = [&]() -> Result<std::shared_ptr<arrow::csv::StreamingReader>> {
    ORCHARD_ASSIGN_OR_RAISE(auto input, manifest.fs->OpenInputStream(manifest.path));
    auto reader = arrow::csv::StreamingReader::Make(arrow::io::default_io_context(), input,
                                                    read_options, parse_options, convert_options);
    if (!reader.ok()) {
      return Status::Invalid("cannot read the CSV manifest '", manifest.display,
                             "': ", reader.status().message());
    }
    return reader;
  };
  // Every column as bytes: a path that is not UTF-8 is still a file name, a numeric label
  // stays its text, and no column orchard does not read can stop the reading with a value
  // its inferred type refuses. The header is read once to learn the names.
  parse_options.invalid_row_handler = [](const arrow::csv::InvalidRow&) {
    return arrow::csv::InvalidRowResult::Skip;  // the second pass reports them
  };
  {
    ORCHARD_ASSIGN_OR_RAISE(auto probe, open());
    for (const auto& field : probe->schema()->fields()) {
      convert_options.column_types[field->name()] = arrow::binary();
    }
  }
  parse_options.invalid_row_handler = [&](const arrow::csv::InvalidRow& bad) {
    rows->Error(util::EscapeName(BaseName(manifest.path)) + ":line " + std::to_string(bad.number),
                "the line has " + std::to_string(bad.actual_columns) + " columns, the header " +
                    std::to_string(bad.expected_columns));
    return arrow::csv::InvalidRowResult::Skip;
  };
  auto reader = open();
  ORCHARD_RETURN_NOT_OK(reader.status());
  ORCHARD_ASSIGN_OR_RAISE(const std::string path_column,
                          PathColumnOf(*(*reader)->schema(), manifest));
  int64_t row = 0;
  while (true) {
    auto batch = (*reader)->Next();
    if (!batch.ok()) {
      // What was read stays; the rest of the file is one error row.
      rows->Error(util::EscapeName(BaseName(manifest.path)) + ":row " + std::to_string(row + 1),
                  "the CSV manifest cannot be read from here on: " + batch.status().message());
      break;
    }
    if (*batch == nullptr) break;
    const auto paths = (*batch)->GetColumnByName(path_column);
    const auto labels = (*batch)->GetColumnByName(kManifestLabelColumn);
    for (int64_t idx = 0; idx < (*batch)->num_rows(); ++idx) {
      ++row;
      const auto label = LabelCell(labels.get(), idx);
      rows->Add(row, CellOf(*paths, idx),
                label ? std::optional<std::string_view>(*label) : std::nullopt);
    }
  }
  return Status::OK();
}

// One JSON line as a row (an error row when it is no object with a text path).
void AddJsonLine(const std::string& line, int64_t line_number, RowCollector* rows,
                 const io::Location& manifest) {
  const std::string where =
      util::EscapeName(BaseName(manifest.path)) + ":line " + std::to_string(line_number);
  const auto json = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    return rows->Error(where, "the line is not a JSON object (JSON must be UTF-8)");
  }
  const nlohmann::json* path = nullptr;
  for (const char* name : kManifestPathColumns) {
    if (auto found = json.find(name); found != json.end()) {
      path = &*found;
      break;
    }
  }
  if (path == nullptr) return rows->Error(where, "the line has no 'path' (or uri/url/key)");
  if (!path->is_string()) return rows->Error(where, "its path is not a string");
  std::optional<std::string> label;
  if (auto found = json.find(kManifestLabelColumn); found != json.end() && !found->is_null()) {
    if (found->is_string()) {
      label = found->get<std::string>();
    } else if (found->is_number_integer() || found->is_number_unsigned()) {
      label = found->dump();
    } else {
      return rows->Error(where, "its label is not a string or integer");
    }
  }
  const std::string& text = path->get_ref<const std::string&>();
  rows->Add(line_number, std::string_view(text),
            label ? std::optional<std::string_view>(*label) : std::nullopt);
}

Status ListJsonLinesManifest(const io::Location& manifest, RowCollector* rows) {
  ORCHARD_ASSIGN_OR_RAISE(auto input, manifest.fs->OpenInputStream(manifest.path));
  std::string line;
  bool overlong = false;
  int64_t line_number = 0;
  const auto end_line = [&] {
    ++line_number;
    if (overlong) {
      rows->Error(
          util::EscapeName(BaseName(manifest.path)) + ":line " + std::to_string(line_number),
          "the line is longer than " + std::to_string(kMaxManifestLineBytes) + " bytes");
    } else if (line.find_first_not_of(" \t\r") != std::string::npos) {
      AddJsonLine(line, line_number, rows, manifest);
    }
    line.clear();
    overlong = false;
  };
  while (true) {
    auto chunk = input->Read(int64_t{1} << 20);
    if (!chunk.ok()) {
      rows->Error(
          util::EscapeName(BaseName(manifest.path)) + ":line " + std::to_string(line_number + 1),
          "the manifest cannot be read from here on: " + chunk.status().message());
      return Status::OK();
    }
    if ((*chunk)->size() == 0) break;
    std::string_view data(reinterpret_cast<const char*>((*chunk)->data()),
                          static_cast<size_t>((*chunk)->size()));
    while (!data.empty()) {
      const auto newline = data.find('\n');
      const std::string_view piece = data.substr(0, newline);
      if (!overlong) {
        if (static_cast<int64_t>(line.size() + piece.size()) > kMaxManifestLineBytes) {
          overlong = true;  // the rest of the line is skipped, never held
          line.clear();
        } else {
          line.append(piece);
        }
      }
      if (newline == std::string_view::npos) break;
      end_line();
      data.remove_prefix(newline + 1);
    }
  }
  if (!line.empty() || overlong) end_line();
  return Status::OK();
}

// ---- S3 Inventory ------------------------------------------------------------------

struct InventoryManifest {
  std::string source_bucket;
  std::string destination_bucket;   // the bucket name (from its ARN)
  std::string file_format;          // CSV, Parquet, ORC
  std::vector<std::string> schema;  // CSV column names, in order
  std::vector<std::string> file_keys;
};

Result<InventoryManifest> ParseInventoryManifest(const std::string& text,
                                                 const io::Location& where) {
  const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  const auto bad = [&](const std::string& what) {
    return Status::Invalid("S3 Inventory manifest '", where.display, "': ", what);
  };
  if (json.is_discarded() || !json.is_object()) return bad("not a JSON object");
  InventoryManifest manifest;
  const auto text_of = [&](const char* key, std::string* out) -> Status {
    auto found = json.find(key);
    if (found == json.end() || !found->is_string())
      return bad(std::string("no text '") + key + "'");
    *out = found->get<std::string>();
    return Status::OK();
  };
  ORCHARD_RETURN_NOT_OK(text_of("sourceBucket", &manifest.source_bucket));
  ORCHARD_RETURN_NOT_OK(text_of("destinationBucket", &manifest.destination_bucket));
  ORCHARD_RETURN_NOT_OK(text_of("fileFormat", &manifest.file_format));
  if (const auto colon = manifest.destination_bucket.rfind(":::"); colon != std::string::npos) {
    manifest.destination_bucket = manifest.destination_bucket.substr(colon + 3);
  }
  std::string schema;
  if (auto found = json.find("fileSchema"); found != json.end() && found->is_string()) {
    schema = found->get<std::string>();
  }
  size_t start = 0;
  while (start < schema.size()) {
    auto end = schema.find(',', start);
    if (end == std::string::npos) end = schema.size();
    std::string name = schema.substr(start, end - start);
    name.erase(0, name.find_first_not_of(' '));
    name.erase(name.find_last_not_of(' ') + 1);
    manifest.schema.push_back(name);
    start = end + 1;
  }
  auto files = json.find("files");
  if (files == json.end() || !files->is_array()) return bad("no 'files' list");
  for (const auto& file : *files) {
    if (!file.is_object() || !file.contains("key") || !file["key"].is_string()) {
      return bad("a 'files' entry without a text 'key'");
    }
    manifest.file_keys.push_back(file["key"].get<std::string>());
  }
  return manifest;
}

// Whether the inventory row names an object to featurize (not a folder marker, not
// hidden, as the folder listing skips '.'/'_' names at any depth).
bool InventoryKeyListed(const std::string& key) {
  if (key.empty() || key.back() == '/') return false;
  size_t start = 0;
  while (start < key.size()) {
    const auto end = std::min(key.find('/', start), key.size());
    if (end > start && (key[start] == '.' || key[start] == '_')) return false;
    start = end + 1;
  }
  return true;
}

void AddInventoryRow(const InventoryManifest& manifest, std::string_view bucket, std::string key,
                     int64_t size, RowCollector* rows) {
  if (!InventoryKeyListed(key)) return;
  // Through the collector's S3 rule: path s3://bucket/key, label the key's parent folder.
  const std::string uri =
      "s3://" + std::string(bucket.empty() ? manifest.source_bucket : bucket) + "/" + key;
  rows->Add(0, std::string_view(uri), std::nullopt, size);
}

Status ReadInventoryCsv(const InventoryManifest& manifest, const io::Location& data_file,
                        RowCollector* rows) {
  const auto bucket_col = std::find(manifest.schema.begin(), manifest.schema.end(), "Bucket");
  const auto key_col = std::find(manifest.schema.begin(), manifest.schema.end(), "Key");
  const auto size_col = std::find(manifest.schema.begin(), manifest.schema.end(), "Size");
  const auto marker_col =
      std::find(manifest.schema.begin(), manifest.schema.end(), "IsDeleteMarker");
  if (key_col == manifest.schema.end()) {
    return Status::Invalid("S3 Inventory '", data_file.display,
                           "': its fileSchema has no Key column");
  }
  ORCHARD_ASSIGN_OR_RAISE(std::shared_ptr<arrow::io::InputStream> input,
                          data_file.fs->OpenInputStream(data_file.path));
  std::unique_ptr<arrow::util::Codec> codec;  // outlives the stream that points to it
  if (EndsWith(data_file.path, ".gz")) {
    ORCHARD_ASSIGN_OR_RAISE(codec, arrow::util::Codec::Create(arrow::Compression::GZIP));
    ORCHARD_ASSIGN_OR_RAISE(input, arrow::io::CompressedInputStream::Make(codec.get(), input));
  }
  auto read_options = arrow::csv::ReadOptions::Defaults();
  read_options.use_threads = false;
  read_options.column_names = manifest.schema;  // the data files have no header
  auto parse_options = arrow::csv::ParseOptions::Defaults();
  int64_t line = 0;
  parse_options.invalid_row_handler = [&](const arrow::csv::InvalidRow& bad) {
    rows->Error(util::EscapeName(BaseName(data_file.path)) + ":line " + std::to_string(bad.number),
                "the inventory line has " + std::to_string(bad.actual_columns) +
                    " columns, its fileSchema " + std::to_string(bad.expected_columns));
    return arrow::csv::InvalidRowResult::Skip;
  };
  auto convert_options = arrow::csv::ConvertOptions::Defaults();
  for (const auto& name : manifest.schema) convert_options.column_types[name] = arrow::binary();
  convert_options.check_utf8 = false;
  ORCHARD_ASSIGN_OR_RAISE(
      auto reader, arrow::csv::StreamingReader::Make(arrow::io::default_io_context(), input,
                                                     read_options, parse_options, convert_options));
  const auto column = [&](auto found, const std::shared_ptr<arrow::RecordBatch>& batch) {
    return found == manifest.schema.end() ? nullptr : batch->GetColumnByName(*found);
  };
  while (true) {
    auto batch = reader->Next();
    if (!batch.ok()) {
      rows->Error(util::EscapeName(BaseName(data_file.path)) + ":line " + std::to_string(line + 1),
                  "the inventory file cannot be read from here on: " + batch.status().message());
      return Status::OK();
    }
    if (*batch == nullptr) return Status::OK();
    const auto buckets = column(bucket_col, *batch);
    const auto keys = column(key_col, *batch);
    const auto sizes = column(size_col, *batch);
    const auto markers = column(marker_col, *batch);
    for (int64_t idx = 0; idx < (*batch)->num_rows(); ++idx) {
      ++line;
      const std::string where =
          util::EscapeName(BaseName(data_file.path)) + ":line " + std::to_string(line);
      if (markers && CellOf(*markers, idx).value_or("") == "true") continue;
      const auto encoded = CellOf(*keys, idx);
      if (!encoded) {
        rows->Error(where, "the inventory line has no key");
        continue;
      }
      auto key = internal::DecodeInventoryKey(*encoded);
      if (!key.ok()) {
        rows->Error(where, "its key is not URL-encoded: " + key.status().message());
        continue;
      }
      int64_t size = -1;
      if (sizes) {
        const std::string text(CellOf(*sizes, idx).value_or(""));
        char* end = nullptr;
        const long long parsed = std::strtoll(text.c_str(), &end, 10);
        if (!text.empty() && *end == '\0' && parsed >= 0) size = parsed;
      }
      const std::string bucket(buckets ? CellOf(*buckets, idx).value_or("") : "");
      AddInventoryRow(manifest, bucket, std::move(key).ValueUnsafe(), size, rows);
    }
  }
}

// The rows of an inventory data file read as a table (Parquet or ORC: the same lowercase
// columns key, size, is_delete_marker).
Status AddInventoryTable(const InventoryManifest& manifest, const io::Location& data_file,
                         const arrow::Table& data, RowCollector* rows) {
  const auto column = [&](const char* name) -> Result<std::shared_ptr<arrow::Array>> {
    const auto chunked = data.GetColumnByName(name);
    if (chunked == nullptr) return std::shared_ptr<arrow::Array>();
    return arrow::Concatenate(chunked->chunks());
  };
  ORCHARD_ASSIGN_OR_RAISE(auto keys, column("key"));
  if (keys == nullptr || !IsText(*keys->type())) {
    return Status::Invalid("S3 Inventory '", data_file.display, "' has no text column 'key'");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto sizes, column("size"));
  if (sizes != nullptr && !IsInteger(*sizes->type())) sizes = nullptr;
  ORCHARD_ASSIGN_OR_RAISE(auto markers, column("is_delete_marker"));
  if (markers != nullptr && markers->type_id() != arrow::Type::BOOL) markers = nullptr;
  for (int64_t idx = 0; idx < keys->length(); ++idx) {
    if (markers && !markers->IsNull(idx) &&
        static_cast<const arrow::BooleanArray&>(*markers).Value(idx)) {
      continue;
    }
    const auto key = CellOf(*keys, idx);
    if (!key) continue;
    int64_t size = -1;
    if (sizes && !sizes->IsNull(idx)) {
      auto scalar = sizes->GetScalar(idx);
      if (scalar.ok()) {
        auto as_int = (*scalar)->CastTo(arrow::int64());
        if (as_int.ok()) size = static_cast<const arrow::Int64Scalar&>(**as_int).value;
      }
    }
    AddInventoryRow(manifest, "", std::string(*key), size, rows);
  }
  return Status::OK();
}

Status ReadInventoryParquet(const InventoryManifest& manifest, const io::Location& data_file,
                            RowCollector* rows) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(data_file));
  ORCHARD_ASSIGN_OR_RAISE(auto data, reader->ReadTable());
  return AddInventoryTable(manifest, data_file, *data, rows);
}

Status ReadInventoryOrc(const InventoryManifest& manifest, const io::Location& data_file,
                        RowCollector* rows) {
  ORCHARD_ASSIGN_OR_RAISE(auto file, data_file.fs->OpenInputFile(data_file.path));
  auto reader = arrow::adapters::orc::ORCFileReader::Open(file, arrow::default_memory_pool());
  if (!reader.ok()) {
    return Status::Invalid("cannot read the ORC inventory file '", data_file.display,
                           "': ", reader.status().message());
  }
  auto data = (*reader)->Read();
  if (!data.ok()) {
    return Status::Invalid("cannot read the ORC inventory file '", data_file.display,
                           "': ", data.status().message());
  }
  return AddInventoryTable(manifest, data_file, **data, rows);
}

}  // namespace

ManifestKind ManifestKindOf(std::string_view path) {
  std::string name = BaseName(path);
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (name == "manifest.json") return ManifestKind::kS3Inventory;
  if (EndsWith(name, ".parquet")) return ManifestKind::kParquet;
  if (EndsWith(name, ".csv")) return ManifestKind::kCsv;
  if (EndsWith(name, ".jsonl") || EndsWith(name, ".ndjson")) return ManifestKind::kJsonLines;
  return ManifestKind::kNone;
}

Result<std::vector<ImageItem>> ListManifest(const io::Location& manifest, ManifestKind kind) {
  ORCHARD_ASSIGN_OR_RAISE(auto info, manifest.fs->GetFileInfo(manifest.path));
  if (info.type() != arrow::fs::FileType::File) {
    return Status::Invalid(
        "manifest '", manifest.display, "' is not a file (",
        info.type() == arrow::fs::FileType::NotFound ? "not found" : "a folder or special file",
        ")");
  }
  std::vector<ImageItem> items;
  RowCollector rows(manifest, &items);
  switch (kind) {
    case ManifestKind::kParquet:
      ORCHARD_RETURN_NOT_OK(ListParquetManifest(manifest, &rows));
      break;
    case ManifestKind::kCsv:
      ORCHARD_RETURN_NOT_OK(ListCsvManifest(manifest, &rows));
      break;
    case ManifestKind::kJsonLines:
      ORCHARD_RETURN_NOT_OK(ListJsonLinesManifest(manifest, &rows));
      break;
    default:
      return Status::Invalid("internal: ListManifest of a kind it does not read");
  }
  return items;
}

Result<std::vector<ImageItem>> ListS3Inventory(const io::Location& manifest_json) {
  ORCHARD_ASSIGN_OR_RAISE(auto info, manifest_json.fs->GetFileInfo(manifest_json.path));
  if (info.type() != arrow::fs::FileType::File) {
    return Status::Invalid("S3 Inventory manifest '", manifest_json.display, "' is not a file");
  }
  if (!manifest_json.is_object_store) {
    return Status::Invalid("S3 Inventory manifest '", manifest_json.display,
                           "' is local: an inventory's rows are objects of its source bucket, "
                           "read it from S3 (s3://destination-bucket/.../manifest.json)");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadBounded(manifest_json, int64_t{64} << 20));
  ORCHARD_ASSIGN_OR_RAISE(auto manifest, ParseInventoryManifest(bytes->ToString(), manifest_json));
  const std::string& format = manifest.file_format;
  if (format != "CSV" && format != "Parquet" && format != "ORC") {
    return Status::NotImplemented("S3 Inventory '", manifest_json.display, "': fileFormat '",
                                  util::ValidUtf8(format), "' (expected CSV, ORC or Parquet)");
  }
  std::vector<ImageItem> items;
  // Rows are s3://source-bucket/key: read through the filesystem the report is on.
  RowCollector rows(manifest_json, &items);
  for (const auto& key : manifest.file_keys) {
    io::Location data_file = manifest_json;
    data_file.path = manifest.destination_bucket + "/" + key;
    data_file.display = "s3://" + util::ValidUtf8(data_file.path);
    ORCHARD_RETURN_NOT_OK(format == "CSV"   ? ReadInventoryCsv(manifest, data_file, &rows)
                          : format == "ORC" ? ReadInventoryOrc(manifest, data_file, &rows)
                                            : ReadInventoryParquet(manifest, data_file, &rows));
  }
  return items;
}

namespace internal {
Result<std::string> DecodeInventoryKey(std::string_view encoded) {
  const auto hex = [](char h) -> int {
    if (h >= '0' && h <= '9') return h - '0';
    if (h >= 'a' && h <= 'f') return h - 'a' + 10;
    if (h >= 'A' && h <= 'F') return h - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(encoded.size());
  for (size_t idx = 0; idx < encoded.size(); ++idx) {
    const char c = encoded[idx];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      const int high = idx + 1 < encoded.size() ? hex(encoded[idx + 1]) : -1;
      const int low = idx + 2 < encoded.size() ? hex(encoded[idx + 2]) : -1;
      if (high < 0 || low < 0) return Status::Invalid("a '%' without two hex digits");
      out.push_back(static_cast<char>(high * 16 + low));
      idx += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}
}  // namespace internal

}  // namespace orchard::pipeline
