// INDEX_DIR, the folder `orchard index` writes (issue 25), and its typed files: the names
// in one place, each JSON file a struct with ToJson / FromJson (exact round trip).
//
//   INDEX_DIR/manifest.json   IndexManifest: what the index holds and was made from
//   INDEX_DIR/index.faiss     the FAISS index (sha256 in the manifest, checked on load)
//   INDEX_DIR/rows.parquet    row -> path, label (row i of the index is row i here)
//   INDEX_DIR/pca_model.json  the PCA model of the vectors (when indexed on pca), so one
//                             photo can be embedded and projected the same way
//   INDEX_DIR/errors.parquet  rows that could not be indexed (NaN, infinite, all-zero)
//   INDEX_DIR/metrics.json    IndexMetrics: build time, memory, recall@10
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "orchard/index/vector_index.h"
#include "orchard/io/storage.h"
#include "orchard/pca/pca.h"
#include "orchard/table/tables.h"
#include "orchard/util/status.h"

namespace orchard::index {

inline constexpr const char* kManifestJson = "manifest.json";
inline constexpr const char* kIndexFile = "index.faiss";
inline constexpr const char* kRowsParquet = "rows.parquet";
inline constexpr const char* kPcaModelJson = "pca_model.json";
inline constexpr const char* kErrorsParquet = "errors.parquet";
inline constexpr const char* kMetricsJson = "metrics.json";
/// The format of the folder; a reader refuses another.
inline constexpr int64_t kIndexFormatVersion = 1;
/// The largest index file read (16 GiB: 10^8 vectors at the 100-byte bound is 10 GB).
inline constexpr int64_t kMaxIndexFileBytes = int64_t{16} << 30;

struct IndexManifest {
  int64_t format_version = kIndexFormatVersion;
  std::string orchard_version;
  std::string source;           ///< the output indexed
  std::string vectors;          ///< "pca" or "features"
  int64_t rows = 0;             ///< vectors in the index
  int64_t dim = 0;              ///< values per vector
  std::string kind;             ///< flat or ivf-pq
  int64_t nprobe = 0;           ///< ivf-pq: lists probed per query
  std::string backbone_sha256;  ///< the embedding model of the source output
  std::string pca_sha256;       ///< sha256 of the source's pca_model/model.json ("" on features)
  std::string index_sha256;     ///< of index.faiss
  int64_t index_bytes = 0;
  std::string rows_sha256;  ///< of rows.parquet
};

nlohmann::json ToJson(const IndexManifest& manifest);
Result<IndexManifest> ManifestFromJson(const nlohmann::json& document, const std::string& source);

struct IndexMetrics {
  std::string orchard_version;
  std::string source;
  std::string output;
  std::string vectors;
  BuildReport build;
  int64_t rows_read = 0;
  int64_t rows_skipped = 0;  ///< unindexable rows (errors.parquet)
  int threads = 0;
  double read_seconds = 0;
  double build_seconds = 0;  ///< train + add + recall measurement
  double total_seconds = 0;
  double bytes_per_vector = 0;  ///< index_bytes / rows
  double peak_rss_mib = 0;
};

nlohmann::json ToJson(const IndexMetrics& metrics);
Result<IndexMetrics> MetricsFromJson(const nlohmann::json& document, const std::string& source);

/// An index loaded from INDEX_DIR: the manifest, the FAISS index (its sha256 checked
/// against the manifest before FAISS reads a byte), the rows and the PCA model.
struct LoadedIndex {
  IndexManifest manifest;
  VectorIndex vectors;
  table::VectorRows rows;  ///< paths and labels only (dim 0)
  std::optional<pca::PcaModel> pca;
};

/// Loads INDEX_DIR. Fails naming the file and saying to rebuild when a file is missing,
/// not what the manifest says (size, sha256), truncated or unreadable.
Result<LoadedIndex> LoadIndex(const io::Location& index_dir);

/// The rows table of an index: row int64, path, label.
Result<std::shared_ptr<arrow::RecordBatch>> RowsBatch(const table::VectorRows& rows);

/// Reads INDEX_DIR/rows.parquet (paths and labels, in row order).
Result<table::VectorRows> ReadRows(const io::Location& location, int64_t expected_rows);

}  // namespace orchard::index
