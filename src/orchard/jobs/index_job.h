// The jobs behind `orchard index`, `orchard search` and `orchard dedup` (issue 25). Like
// the other jobs they return typed summaries (JSON only at the edges, ToJson); front ends
// only parse options and print.
//
//   index:  OUT/pca (or features) -> INDEX_DIR (index/index_files.h)
//   search: photos -> their neighbours (embed + project + search), or an earlier output ->
//           NN/neighbours.parquet (batch kNN of every row) + NN/summary.json
//   dedup:  OUT (and --against OTHER) -> DUP/duplicates.parquet (groups) or
//           DUP/matches.parquet (rows of OUT with a near-copy in OTHER) + DUP/summary.json
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "orchard/index/dedup.h"
#include "orchard/index/index_files.h"
#include "orchard/jobs/options.h"
#include "orchard/jobs/predict_job.h"
#include "orchard/model/embedder.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// The files search and dedup write in their output folder.
inline constexpr const char* kNeighboursParquet = "neighbours.parquet";
inline constexpr const char* kDuplicatesParquet = "duplicates.parquet";
inline constexpr const char* kMatchesParquet = "matches.parquet";
inline constexpr const char* kResultSummaryJson = "summary.json";
/// dedup's page: the largest groups (or the matches) with thumbnails (report/dedup_report.h).
inline constexpr const char* kDedupReportHtml = "report/index.html";
/// The largest k search accepts (the neighbours table is rows x k).
inline constexpr int64_t kMaxNeighbours = 10000;

/// --max-memory's value: "512M", "4G" (K, M, G: powers of 1024), "1000000" bytes; "" is
/// 0 (no bound); a usage error otherwise.
Result<int64_t> ParseMaxMemory(const std::string& text);

struct IndexJobOptions {
  std::string input;          ///< an earlier `orchard run` output
  std::string output;         ///< INDEX_DIR
  std::string on = "pca";     ///< "pca" or "features"
  index::BuildOptions build;  ///< kind, max memory (threads: from `threads`)
  int threads = 0;            ///< 0: all cores
  io::StorageOptions storage;
  bool overwrite = false;
};

/// Builds INDEX_DIR from OUT's vectors; rows that cannot be indexed (NaN, infinite,
/// all-zero) go to INDEX_DIR/errors.parquet and the rest are indexed. manifest.json is
/// written last: a folder without it is no index.
Result<index::IndexMetrics> IndexJob(const IndexJobOptions& options);

struct Neighbour {
  std::string path;
  std::string label;
  float distance = 0;  ///< cosine distance
};

struct FileNeighbours {
  std::string path;
  std::vector<Neighbour> neighbours;
  std::string error;  ///< non-empty when the file could not be read, decoded or embedded
};

struct SearchJobOptions {
  std::string index_dir;
  /// The embedding model for photos (model, shipped_model, batch size, max pixels...);
  /// `job.input`/`job.output`: an earlier output and NN for batch search.
  JobOptions job;
  int64_t k = 10;
  bool overwrite = false;
};

/// The neighbours of single photos: embedded with the backbone (refused unless its sha256
/// is the index's, both named), projected with the index's PCA model, searched. A file that
/// cannot be read or decoded gets an `error`; the call fails only when the index or model
/// cannot be loaded.
Result<std::vector<FileNeighbours>> SearchFiles(const SearchJobOptions& options,
                                                const std::vector<std::string>& files);

/// SearchFiles with the index and the model loaded once: what a service answering one photo
/// at a time holds (and what bench/photo_query_bench.cc times). Search is const and may be
/// called from one thread at a time.
class PhotoSearcher {
 public:
  /// Loads the index and the model and checks that they belong together (as SearchFiles).
  static Result<std::unique_ptr<PhotoSearcher>> Open(const SearchJobOptions& options);
  ~PhotoSearcher();
  /// The neighbours of each file (an `error` for a file that cannot be read or embedded).
  Result<std::vector<FileNeighbours>> Search(const std::vector<std::string>& files) const;

 private:
  PhotoSearcher() = default;
  JobOptions job_;
  int64_t k_ = 10;
  std::unique_ptr<index::LoadedIndex> index_;
  std::unique_ptr<model::Embedder> embedder_;
};

/// What batch search and dedup did (their summary.json).
struct NeighbourJobSummary {
  std::string orchard_version;
  std::string command;  ///< "search" or "dedup"
  std::string input;
  std::string against;  ///< dedup --against; "" otherwise
  std::string output;
  std::string index_kind;
  int64_t rows = 0;     ///< rows searched (of input)
  int64_t skipped = 0;  ///< rows that could not be searched (NaN, infinite, all-zero)
  int64_t k = 0;
  double threshold = 0;      ///< dedup
  int64_t groups = 0;        ///< dedup: groups of near-duplicates
  int64_t grouped_rows = 0;  ///< dedup: rows in them
  int64_t matched_rows = 0;  ///< dedup --against: rows of input with a near-copy
  double seconds = 0;        ///< total ("seconds": {"total": ...})
  double peak_rss_mib = 0;
};
nlohmann::json ToJson(const NeighbourJobSummary& summary);
Result<NeighbourJobSummary> NeighbourJobSummaryFromJson(const nlohmann::json& document,
                                                        const std::string& source);

/// Batch kNN of every row of the earlier output `job.input` -> `job.output`/neighbours.parquet
/// (path, label, rank, neighbour_path, neighbour_label, distance). Refuses an output made
/// with another backbone or PCA model than the index's, naming both checksums.
Result<NeighbourJobSummary> SearchJob(const SearchJobOptions& options);

struct DedupJobOptions {
  std::string input;    ///< an earlier output
  std::string output;   ///< DUP
  std::string against;  ///< another output: rows of input with a near-copy there
  /// Raw features by default: their cosine distances do not depend on a PCA fit (one fitted
  /// on few rows distorts them), and two outputs of one backbone compare without sharing
  /// a PCA model.
  std::string on = "features";
  double threshold = index::kDefaultDuplicateDistance;
  int64_t k = index::kDedupNeighbours;
  index::BuildOptions build;
  int threads = 0;
  io::StorageOptions storage;
  bool overwrite = false;
};

/// Near-duplicate groups of input (duplicates.parquet: group, path, label, distance,
/// representative) and report/index.html (the largest groups with thumbnails of the images,
/// read from the folder input's report/summary.json names; a placeholder for an image
/// that cannot be read), or with `against` the rows of input whose nearest row of `against` is
/// within the threshold (matches.parquet: path, label, match_path, match_label, distance).
/// With `on` pca, `against` must share input's backbone and PCA model (it is projected
/// with the same model only if so; refused otherwise, naming both).
Result<NeighbourJobSummary> DedupJob(const DedupJobOptions& options);

/// `orchard predict --knn INDEX_DIR -i OUT -o PRED`: each row of the earlier output OUT
/// labelled by a distance-weighted vote (weight 1 / (distance + 1e-6)) of its `k` nearest
/// rows of the index; the same PRED/{predictions/part-00000.parquet, report/metrics.json,
/// report/summary.json} as the softmax classifier's predict (the probabilities are the vote
/// shares). Rows of the index itself find themselves: evaluate on another split.
struct KnnPredictOptions {
  std::string index_dir;
  std::string input;
  std::string output;
  int64_t k = 10;
  int threads = 0;
  io::StorageOptions storage;
  bool overwrite = false;
};
Result<PredictSummary> KnnPredictJob(const KnnPredictOptions& options);

}  // namespace orchard::jobs
