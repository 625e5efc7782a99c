#include "orchard/table/tables.h"

#include <arrow/api.h>
#include <arrow/io/api.h>
#include <parquet/arrow/writer.h>
#include <parquet/properties.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "orchard/table/parquet_reader.h"
#include "orchard/table/tables_internal.h"
#include "orchard/util/fault.h"
#include "orchard/util/text.h"

namespace orchard::table {

std::vector<std::string> ValidStrings(const arrow::ChunkedArray& strings) {
  std::vector<std::string> values;
  values.reserve(static_cast<size_t>(strings.length()));
  for (const auto& chunk : strings.chunks()) {
    const auto& array = static_cast<const arrow::StringArray&>(*chunk);
    for (int64_t row = 0; row < array.length(); ++row) {
      // A table written elsewhere (or by an older orchard) may hold invalid UTF-8; what
      // is read from it is made valid before it can reach a model file, JSON or a page.
      const std::string_view value = array.GetView(row);
      values.push_back(util::IsValidUtf8(value) ? std::string(value) : util::ValidUtf8(value));
    }
  }
  return values;
}
namespace {

Result<std::shared_ptr<arrow::Array>> MakeStringArray(const std::vector<std::string>& values) {
  arrow::StringBuilder builder;
  ORCHARD_RETURN_NOT_OK(builder.Reserve(static_cast<int64_t>(values.size())));
  for (const auto& value : values) {
    // Parquet strings must be valid UTF-8 (pyarrow refuses to read the rest). Names arrive
    // escaped (util::EscapeName, so this is a no-op on them); free text such as an error
    // message may quote a raw file name, which becomes %XX here.
    if (util::IsValidUtf8(value)) {
      ORCHARD_RETURN_NOT_OK(builder.Append(value));
    } else {
      ORCHARD_RETURN_NOT_OK(builder.Append(util::ValidUtf8(value)));
    }
  }
  return builder.Finish();
}

}  // namespace

namespace internal {

// The whole file, one chunk per column (ParquetReader names the file in its errors).
Result<std::shared_ptr<arrow::Table>> ReadTable(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, ParquetReader::Open(location));
  ORCHARD_ASSIGN_OR_RAISE(auto table, reader->ReadTable());
  return table->CombineChunks();
}

Result<std::vector<std::string>> ReadStrings(const arrow::Table& table, const char* column,
                                             const io::Location& location) {
  auto chunked = table.GetColumnByName(column);
  if (chunked == nullptr || chunked->type()->id() != arrow::Type::STRING) {
    return Status::Invalid(location.display, " has no string column '", column, "'");
  }
  return ValidStrings(*chunked);
}

}  // namespace internal

using internal::ReadStrings;
using internal::ReadTable;

std::shared_ptr<arrow::Schema> VectorSchema(const std::string& vector_column) {
  return arrow::schema({arrow::field(kPathColumn, arrow::utf8(), /*nullable=*/false),
                        arrow::field(kLabelColumn, arrow::utf8(), /*nullable=*/false),
                        arrow::field(vector_column, arrow::list(arrow::float32()),
                                     /*nullable=*/false)});
}

std::shared_ptr<arrow::Schema> ErrorsSchema() {
  return arrow::schema({arrow::field(kPathColumn, arrow::utf8(), false),
                        arrow::field("stage", arrow::utf8(), false),
                        arrow::field("message", arrow::utf8(), false)});
}

Result<std::shared_ptr<arrow::RecordBatch>> MakeVectorBatch(const std::string& vector_column,
                                                            const VectorRows& rows) {
  const int64_t num_rows = rows.num_rows();
  if (rows.labels.size() != rows.paths.size() ||
      static_cast<int64_t>(rows.values.size()) != num_rows * rows.dim) {
    return Status::Invalid("internal: inconsistent vector rows");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto paths, MakeStringArray(rows.paths));
  ORCHARD_ASSIGN_OR_RAISE(auto labels, MakeStringArray(rows.labels));
  ORCHARD_ASSIGN_OR_RAISE(
      auto value_buffer,
      arrow::AllocateBuffer(static_cast<int64_t>(sizeof(float)) * num_rows * rows.dim));
  if (!rows.values.empty()) {
    std::memcpy(value_buffer->mutable_data(), rows.values.data(),
                sizeof(float) * rows.values.size());
  }
  auto values = std::make_shared<arrow::FloatArray>(num_rows * rows.dim, std::move(value_buffer));
  ORCHARD_ASSIGN_OR_RAISE(
      auto offset_buffer,
      arrow::AllocateBuffer(static_cast<int64_t>(sizeof(int32_t)) * (num_rows + 1)));
  auto* offsets = reinterpret_cast<int32_t*>(offset_buffer->mutable_data());
  for (int64_t row = 0; row <= num_rows; ++row) offsets[row] = static_cast<int32_t>(row * rows.dim);
  arrow::Int32Array offset_array(num_rows + 1, std::move(offset_buffer));
  ORCHARD_ASSIGN_OR_RAISE(auto vectors, arrow::ListArray::FromArrays(offset_array, *values));
  return arrow::RecordBatch::Make(VectorSchema(vector_column), num_rows,
                                  {std::move(paths), std::move(labels), std::move(vectors)});
}

Result<std::shared_ptr<arrow::RecordBatch>> MakeErrorsBatch(
    const std::vector<ErrorRecord>& errors) {
  std::vector<std::string> paths, stages, messages;
  for (const auto& error : errors) {
    paths.push_back(error.path);
    stages.push_back(error.stage);
    messages.push_back(error.message);
  }
  ORCHARD_ASSIGN_OR_RAISE(auto path_array, MakeStringArray(paths));
  ORCHARD_ASSIGN_OR_RAISE(auto stage_array, MakeStringArray(stages));
  ORCHARD_ASSIGN_OR_RAISE(auto message_array, MakeStringArray(messages));
  return arrow::RecordBatch::Make(ErrorsSchema(), static_cast<int64_t>(errors.size()),
                                  {path_array, stage_array, message_array});
}

struct ParquetFileWriter::Impl {
  io::Location location;
  io::AtomicOutput output;
  std::unique_ptr<parquet::arrow::FileWriter> writer;
  bool closed = false;
};

ParquetFileWriter::ParquetFileWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

ParquetFileWriter::~ParquetFileWriter() {
  // An unclosed writer is an abandoned file: close the stream, never publish it.
  if (impl_ && !impl_->closed && impl_->output.stream) (void)impl_->output.stream->Abort();
}

Result<std::unique_ptr<ParquetFileWriter>> ParquetFileWriter::Make(
    const io::Location& location, const std::shared_ptr<arrow::Schema>& schema) {
  auto impl = std::make_unique<Impl>();
  impl->location = location;
  ORCHARD_ASSIGN_OR_RAISE(impl->output, io::OpenAtomicOutput(location));
  util::MaybeDieAt("parquet:writer-opened");  // leaves the temporary file, as a kill would
  // Snappy is Spark's default; float features barely compress, strings do.
  auto properties = parquet::WriterProperties::Builder()
                        .compression(parquet::Compression::SNAPPY)
                        ->created_by("orchard")
                        ->build();
  auto arrow_properties = parquet::ArrowWriterProperties::Builder().store_schema()->build();
  ORCHARD_ASSIGN_OR_RAISE(impl->writer, parquet::arrow::FileWriter::Open(
                                            *schema, arrow::default_memory_pool(),
                                            impl->output.stream, properties, arrow_properties));
  return std::unique_ptr<ParquetFileWriter>(new ParquetFileWriter(std::move(impl)));
}

Status ParquetFileWriter::Write(const arrow::RecordBatch& batch) {
  return impl_->writer->WriteRecordBatch(batch);
}

Status ParquetFileWriter::Close() {
  ORCHARD_RETURN_NOT_OK(impl_->writer->Close());
  ORCHARD_RETURN_NOT_OK(impl_->output.stream->Close());
  impl_->closed = true;
  return io::FinishAtomicWrite(impl_->location, impl_->output);
}

Status WriteParquet(const io::Location& location, const arrow::RecordBatch& batch) {
  ORCHARD_ASSIGN_OR_RAISE(auto writer, ParquetFileWriter::Make(location, batch.schema()));
  ORCHARD_RETURN_NOT_OK(writer->Write(batch));
  return writer->Close();
}

Result<VectorRows> ReadVectorFile(const io::Location& location, const std::string& vector_column) {
  ORCHARD_ASSIGN_OR_RAISE(auto table, ReadTable(location));
  VectorRows rows;
  ORCHARD_ASSIGN_OR_RAISE(rows.paths, ReadStrings(*table, kPathColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(rows.labels, ReadStrings(*table, kLabelColumn, location));
  auto chunked = table->GetColumnByName(vector_column);
  if (chunked == nullptr || chunked->type()->id() != arrow::Type::LIST ||
      static_cast<const arrow::ListType&>(*chunked->type()).value_type()->id() !=
          arrow::Type::FLOAT) {
    return Status::Invalid(location.display, " has no list<float> column '", vector_column, "'");
  }
  // Every vector has the first one's length (checked below): reserve for all of them.
  for (const auto& chunk : chunked->chunks()) {
    const auto& lists = static_cast<const arrow::ListArray&>(*chunk);
    if (lists.length() > 0 && !lists.IsNull(0)) {
      rows.values.reserve(static_cast<size_t>(table->num_rows()) *
                          static_cast<size_t>(lists.value_length(0)));
      break;
    }
  }
  for (const auto& chunk : chunked->chunks()) {
    const auto& lists = static_cast<const arrow::ListArray&>(*chunk);
    if (lists.null_count() > 0) return Status::Invalid(location.display, ": null vectors");
    const auto& floats = static_cast<const arrow::FloatArray&>(*lists.values());
    for (int64_t row = 0; row < lists.length(); ++row) {
      const int64_t length = lists.value_length(row);
      if (rows.dim == 0) rows.dim = length;
      if (length != rows.dim) {
        return Status::Invalid(location.display, ": vectors of different lengths (", length, " vs ",
                               rows.dim, ")");
      }
      const float* start = floats.raw_values() + lists.value_offset(row);
      rows.values.insert(rows.values.end(), start, start + length);
    }
  }
  return rows;
}

Result<std::vector<ErrorRecord>> ReadErrorsFile(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto table, ReadTable(location));
  ORCHARD_ASSIGN_OR_RAISE(auto paths, ReadStrings(*table, kPathColumn, location));
  ORCHARD_ASSIGN_OR_RAISE(auto stages, ReadStrings(*table, "stage", location));
  ORCHARD_ASSIGN_OR_RAISE(auto messages, ReadStrings(*table, "message", location));
  std::vector<ErrorRecord> errors;
  for (size_t row = 0; row < paths.size(); ++row) {
    errors.push_back({paths[row], stages[row], messages[row]});
  }
  return errors;
}

Result<std::vector<io::Location>> ListParts(const io::Location& folder) {
  arrow::fs::FileSelector selector;
  selector.base_dir = folder.path;
  selector.allow_not_found = true;
  ORCHARD_ASSIGN_OR_RAISE(auto infos, folder.fs->GetFileInfo(selector));
  std::vector<std::string> names;
  for (const auto& info : infos) {
    if (info.type() != arrow::fs::FileType::File) continue;
    const std::string name = info.base_name();
    if (name.rfind("part-", 0) == 0 && name.size() > 8 &&
        name.compare(name.size() - 8, 8, ".parquet") == 0) {
      names.push_back(name);
    }
  }
  std::sort(names.begin(), names.end());
  std::vector<io::Location> parts;
  for (const auto& name : names) parts.push_back(folder.Child(name));
  return parts;
}

std::string PartName(int64_t part_idx) {
  char name[32];
  std::snprintf(name, sizeof(name), "part-%05lld.parquet", static_cast<long long>(part_idx));
  return name;
}

int64_t PartIndex(std::string_view name_or_path) {
  const auto slash = name_or_path.rfind('/');
  if (slash != std::string_view::npos) name_or_path.remove_prefix(slash + 1);
  constexpr std::string_view kPrefix = "part-";
  constexpr std::string_view kSuffix = ".parquet";
  if (name_or_path.size() <= kPrefix.size() + kSuffix.size() ||
      name_or_path.substr(0, kPrefix.size()) != kPrefix ||
      name_or_path.substr(name_or_path.size() - kSuffix.size()) != kSuffix) {
    return -1;
  }
  const auto digits =
      name_or_path.substr(kPrefix.size(), name_or_path.size() - kPrefix.size() - kSuffix.size());
  int64_t index = 0;
  for (const char digit : digits) {
    if (digit < '0' || digit > '9' || index > (int64_t{1} << 40)) return -1;
    index = index * 10 + (digit - '0');
  }
  return PartName(index) == std::string(name_or_path) ? index : -1;
}

Status EnsureErrorsTable(const io::Location& errors_dir) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, ListParts(errors_dir));
  if (!parts.empty()) return Status::OK();
  ORCHARD_ASSIGN_OR_RAISE(auto empty, MakeErrorsBatch({}));
  return WriteParquet(errors_dir.Child(PartName(0)), *empty);
}

}  // namespace orchard::table
