// The index, search and dedup jobs as steps for a distributed front end (the Spark job),
// as run_driver.h and predict_driver.h are for run and predict: the front end calls the
// driver's steps on its driver and the task functions in its tasks; the sequence, the
// checks and every file written are the one-process jobs' (index_steps.h), so the results
// are the CLI's.
//
//   index:  IndexDriver::Begin   checks; OUT's vectors read and prepared; the index trained
//                                on Build's sample, staged (RESULT/_staging/trained.faiss)
//           IndexShard (tasks)   a run of OUT's parts added to a copy of the trained index,
//                                staged as shard-N.faiss; -> the rows added
//           IndexDriver::Finish  the shards appended in order, nprobe tuned (recall measured
//                                as Build does), INDEX_DIR written as `orchard index` does
//   search: SearchDriver::Begin  checks (index loaded, models compared)
//           SearchShard (tasks)  a run of OUT's parts searched in INDEX_DIR, neighbours and
//                                unsearchable rows staged; -> the rows searched
//           SearchDriver::Finish the staged tables concatenated in order, summary.json
//   dedup:  DedupDriver::Begin   checks; rows read; trained as index's Begin
//           IndexShard (tasks)   over the indexed rows' parts (OUT's, or OTHER's with --against)
//           DedupDriver::FinishIndex   shards appended, tuned, the index staged
//           DedupShard (tasks)   a run of OUT's parts searched in it, neighbours staged
//           DedupDriver::Finish  groups or matches from the neighbours, as `orchard dedup`
//
// A shard is a contiguous run of a vector table's parts (PlanParts); shards are appended
// and concatenated in their order, which is the parts' order.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "orchard/jobs/index_job.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// At most `num_shards` (>= 1) contiguous runs of `parts` parts, as even as possible:
/// [(first, count)], none empty.
std::vector<std::pair<int64_t, int64_t>> PlanParts(int64_t parts, int64_t num_shards);

/// What a task needs to add its shard: where the trained index is, its vectors.
struct ShardJob {
  std::string trained_index;  ///< staged trained index (a URI or path)
  std::string on;             ///< the vector column
  int64_t dim = 0;
  io::StorageOptions storage;
};

/// A task of index (and of dedup's index step): reads `parts` (URIs or paths of a vector
/// table's parts, in order), adds their indexable rows to a copy of the trained index and
/// writes it to `shard_index`. -> the rows added.
Result<int64_t> IndexShard(const ShardJob& job, const std::vector<std::string>& parts,
                           const std::string& shard_index);

class IndexDriver {
 public:
  static Result<std::unique_ptr<IndexDriver>> Begin(const IndexJobOptions& options);
  ~IndexDriver();

  const ShardJob& shard_job() const;
  /// The parts of OUT/on each task reads, at most `num_shards` runs.
  std::vector<std::vector<std::string>> PlanShards(int64_t num_shards) const;
  /// Where task `shard` writes its index.
  std::string ShardIndex(int64_t shard) const;
  /// `shard_rows`: each shard's IndexShard answer, in shard order.
  Result<index::IndexMetrics> Finish(const std::vector<int64_t>& shard_rows);

 private:
  struct State;
  explicit IndexDriver(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

/// What a search task needs.
struct SearchShardJob {
  std::string index_dir;
  int64_t k = 10;
  io::StorageOptions storage;
};

/// A task of batch search: the rows of `parts` searched in the index; their neighbours
/// table and unsearchable rows written to `neighbours_file` and `errors_file`.
/// -> [rows searched, rows skipped]
Result<std::pair<int64_t, int64_t>> SearchShard(const SearchShardJob& job,
                                                const std::vector<std::string>& parts,
                                                const std::string& neighbours_file,
                                                const std::string& errors_file);

class SearchDriver {
 public:
  static Result<std::unique_ptr<SearchDriver>> Begin(const SearchJobOptions& options);
  ~SearchDriver();

  const SearchShardJob& shard_job() const;
  std::vector<std::vector<std::string>> PlanShards(int64_t num_shards) const;
  std::string ShardNeighbours(int64_t shard) const;
  std::string ShardErrors(int64_t shard) const;
  /// `shard_counts`: each shard's SearchShard answer, in shard order.
  Result<NeighbourJobSummary> Finish(const std::vector<std::pair<int64_t, int64_t>>& shard_counts);

 private:
  struct State;
  explicit SearchDriver(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

/// What a dedup search task needs: the staged index and how it is searched.
struct DedupShardJob {
  std::string index_file;
  int64_t rows = 0;
  int64_t dim = 0;
  int64_t nprobe = 0;
  int64_t k = 1;
  std::string on;
  io::StorageOptions storage;
};

/// A task of dedup: the kept rows of `parts` searched in the staged index; their
/// neighbours (ids and distances, rows x k) written to `neighbours_file`. -> rows searched
Result<int64_t> DedupShard(const DedupShardJob& job, const std::vector<std::string>& parts,
                           const std::string& neighbours_file);

class DedupDriver {
 public:
  static Result<std::unique_ptr<DedupDriver>> Begin(const DedupJobOptions& options);
  ~DedupDriver();

  /// The index step: the indexed rows' parts (OUT's, or OTHER's with --against).
  const ShardJob& shard_job() const;
  std::vector<std::vector<std::string>> PlanIndexShards(int64_t num_shards) const;
  std::string ShardIndex(int64_t shard) const;
  Status FinishIndex(const std::vector<int64_t>& shard_rows);

  /// The search step (after FinishIndex): OUT's parts.
  const DedupShardJob& search_job() const;
  std::vector<std::vector<std::string>> PlanSearchShards(int64_t num_shards) const;
  std::string ShardNeighbours(int64_t shard) const;
  /// `shard_rows`: each search shard's DedupShard answer, in shard order.
  Result<NeighbourJobSummary> Finish(const std::vector<int64_t>& shard_rows);

 private:
  struct State;
  explicit DedupDriver(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace orchard::jobs
