#include "orchard/table/parquet_reader.h"

#include <arrow/api.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>

namespace orchard::table {

struct ParquetReader::Impl {
  io::Location location;
  std::unique_ptr<parquet::arrow::FileReader> reader;
  std::shared_ptr<arrow::Schema> schema;

  // Parquet's and Arrow's messages do not say which file they are about.
  Status Named(const Status& status) const {
    return status.WithMessage("cannot read the Parquet file '", location.display,
                              "': ", status.message());
  }
};

ParquetReader::ParquetReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ParquetReader::~ParquetReader() = default;

Result<std::unique_ptr<ParquetReader>> ParquetReader::Open(const io::Location& location) {
  auto impl = std::make_unique<Impl>();
  impl->location = location;
  auto opened = [&]() -> Status {
    ORCHARD_ASSIGN_OR_RAISE(auto file, location.fs->OpenInputFile(location.path));
    ORCHARD_ASSIGN_OR_RAISE(impl->reader,
                            parquet::arrow::OpenFile(file, arrow::default_memory_pool()));
    return impl->reader->GetSchema(&impl->schema);
  }();
  if (!opened.ok()) return impl->Named(opened);
  return std::unique_ptr<ParquetReader>(new ParquetReader(std::move(impl)));
}

int64_t ParquetReader::num_rows() const {
  return impl_->reader->parquet_reader()->metadata()->num_rows();
}

const std::shared_ptr<arrow::Schema>& ParquetReader::schema() const { return impl_->schema; }

Result<std::shared_ptr<arrow::ChunkedArray>> ParquetReader::ReadColumn(const std::string& name) {
  const int field_idx = impl_->schema->GetFieldIndex(name);
  if (field_idx < 0) {
    return Status::Invalid(impl_->location.display, " has no column '", name, "'");
  }
  std::shared_ptr<arrow::ChunkedArray> column;
  const Status status = impl_->reader->ReadColumn(field_idx, &column);
  if (!status.ok()) return impl_->Named(status);
  return column;
}

Result<std::shared_ptr<arrow::Table>> ParquetReader::ReadTable() {
  std::shared_ptr<arrow::Table> table;
  const Status status = impl_->reader->ReadTable(&table);
  if (!status.ok()) return impl_->Named(status);
  return table;
}

Result<ParquetFileInfo> ReadParquetFileInfo(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto reader, ParquetReader::Open(location));
  return ParquetFileInfo{reader->num_rows(), reader->schema()};
}

}  // namespace orchard::table
