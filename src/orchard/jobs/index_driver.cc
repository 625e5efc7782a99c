#include "orchard/jobs/index_driver.h"

#include <arrow/api.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "orchard/index/index_files.h"
#include "orchard/index/vector_index.h"
#include "orchard/jobs/index_steps.h"
#include "orchard/jobs/job_steps.h"
#include "orchard/table/parquet_reader.h"
#include "orchard/table/tables.h"
#include "orchard/util/stopwatch.h"

namespace orchard::jobs {
namespace {

using namespace index_steps;  // NOLINT: the steps this file runs in order
using util::Clock;
using util::SecondsSince;

constexpr const char* kTrainedIndex = "trained.faiss";
constexpr const char* kMergedIndex = "index.faiss";

// "<stem>-00003<extension>": a shard's staged file.
std::string Numbered(const char* stem, int64_t shard, const char* extension) {
  char number[32];
  std::snprintf(number, sizeof(number), "-%05lld", static_cast<long long>(shard));
  return std::string(stem) + number + extension;
}

// The staged file `name` of a job's result folder.
io::Location Staged(const io::Location& output, const std::string& name) {
  return output.Child(std::string(kStagingFolder) + "/" + name);
}

std::vector<std::vector<std::string>> PlanOf(const std::vector<io::Location>& parts,
                                             int64_t num_shards) {
  std::vector<std::vector<std::string>> shards;
  for (const auto& [first, count] : PlanParts(static_cast<int64_t>(parts.size()), num_shards)) {
    auto& names = shards.emplace_back();
    for (int64_t idx = first; idx < first + count; ++idx) {
      names.push_back(parts[static_cast<size_t>(idx)].display);
    }
  }
  return shards;
}

Result<std::vector<io::Location>> Resolved(const std::vector<std::string>& uris,
                                           const io::StorageOptions& storage) {
  std::vector<io::Location> out;
  for (const auto& uri : uris) {
    ORCHARD_ASSIGN_OR_RAISE(auto location, io::ResolveLocation(uri, storage));
    out.push_back(std::move(location));
  }
  return out;
}

Result<std::string> ReadText(const io::Location& location) {
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadAll(location));
  return std::string(reinterpret_cast<const char*>(bytes->data()),
                     static_cast<size_t>(bytes->size()));
}

// The kept rows of some parts, checked against the index's width.
Result<PreparedRows> ReadShardRows(const std::vector<std::string>& parts, const std::string& on,
                                   int64_t dim, const io::StorageOptions& storage,
                                   const std::string& stage) {
  ORCHARD_ASSIGN_OR_RAISE(auto locations, Resolved(parts, storage));
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadVectorParts(locations, on, /*threads=*/1));
  if (rows.num_rows() > 0 && rows.dim != dim) {
    return Status::Invalid(parts.front(), ": vectors of ", rows.dim, " values, the index's ", dim);
  }
  if (rows.num_rows() == 0) rows.dim = dim;
  return Prepare(std::move(rows), stage);
}

// The shards' indexes (each staged by IndexShard with the rows it reports) appended to
// `trained` in shard order.
Status AppendShards(const io::Location& output, const std::vector<int64_t>& shard_rows,
                    int64_t expected_rows, int64_t dim, index::VectorIndex* trained) {
  int64_t total = 0;
  for (size_t shard = 0; shard < shard_rows.size(); ++shard) {
    const io::Location file =
        Staged(output, Numbered("shard", static_cast<int64_t>(shard), ".faiss"));
    ORCHARD_ASSIGN_OR_RAISE(auto bytes, ReadText(file));
    ORCHARD_ASSIGN_OR_RAISE(auto piece, index::VectorIndex::Deserialize(bytes, shard_rows[shard],
                                                                        dim, 1, file.display));
    ORCHARD_RETURN_NOT_OK(trained->Append(std::move(piece)));
    total += shard_rows[shard];
  }
  if (total != expected_rows) {
    return Status::Invalid("the shards added ", total, " rows but the vectors hold ", expected_rows,
                           " indexable rows: were they changed during the job?");
  }
  return Status::OK();
}

// Trains the index of `rows` as Build would and stages it for the shards.
Result<index::VectorIndex> TrainAndStage(const PreparedRows& rows, const index::BuildOptions& build,
                                         const io::Location& output, index::BuildReport* report) {
  ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(output.Child(kStagingFolder)));
  const table::VectorRows& kept = rows.kept;
  ORCHARD_ASSIGN_OR_RAISE(
      auto trained,
      index::VectorIndex::Train(kept.values.data(), kept.num_rows(), kept.dim, build, report));
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, trained.Serialize());
  ORCHARD_RETURN_NOT_OK(io::WriteAll(Staged(output, kTrainedIndex), bytes));
  return trained;
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> PlanParts(int64_t parts, int64_t num_shards) {
  std::vector<std::pair<int64_t, int64_t>> out;
  const int64_t shards = std::clamp<int64_t>(num_shards, 1, std::max<int64_t>(1, parts));
  for (int64_t shard = 0, first = 0; shard < shards && first < parts; ++shard) {
    const int64_t count = (parts - first) / (shards - shard);
    if (count == 0) continue;
    out.emplace_back(first, count);
    first += count;
  }
  return out;
}

Result<int64_t> IndexShard(const ShardJob& job, const std::vector<std::string>& parts,
                           const std::string& shard_index) {
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadShardRows(parts, job.on, job.dim, job.storage, "index"));
  ORCHARD_ASSIGN_OR_RAISE(auto trained_location,
                          io::ResolveLocation(job.trained_index, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto trained, ReadText(trained_location));
  ORCHARD_ASSIGN_OR_RAISE(auto index, index::VectorIndex::Deserialize(trained, 0, job.dim, 1,
                                                                      trained_location.display));
  ORCHARD_RETURN_NOT_OK(index.Add(rows.kept.values.data(), rows.kept.num_rows()));
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, index.Serialize());
  ORCHARD_ASSIGN_OR_RAISE(auto out, io::ResolveLocation(shard_index, job.storage));
  ORCHARD_RETURN_NOT_OK(io::WriteAll(out, bytes));
  return rows.kept.num_rows();
}

// ------------------------------------------------------------------------------ index
struct IndexDriver::State {
  IndexJobOptions options;
  IndexInputs inputs;
  std::optional<index::VectorIndex> trained;
  std::vector<io::Location> parts;
  ShardJob shard_job;
  util::Clock::time_point build_start;
};

IndexDriver::IndexDriver(std::unique_ptr<State> state) : state_(std::move(state)) {}
IndexDriver::~IndexDriver() = default;

Result<std::unique_ptr<IndexDriver>> IndexDriver::Begin(const IndexJobOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  ORCHARD_ASSIGN_OR_RAISE(state->inputs, BeginIndex(options));
  IndexInputs& inputs = state->inputs;
  ORCHARD_ASSIGN_OR_RAISE(state->parts, VectorParts(inputs.where.input, options.on));
  state->build_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(
      state->trained,
      TrainAndStage(inputs.prepared, inputs.build, inputs.where.output, &inputs.metrics.build));
  state->shard_job = {Staged(inputs.where.output, kTrainedIndex).display, options.on,
                      inputs.prepared.kept.dim, options.storage};
  return std::unique_ptr<IndexDriver>(new IndexDriver(std::move(state)));
}

const ShardJob& IndexDriver::shard_job() const { return state_->shard_job; }

std::vector<std::vector<std::string>> IndexDriver::PlanShards(int64_t num_shards) const {
  return PlanOf(state_->parts, num_shards);
}

std::string IndexDriver::ShardIndex(int64_t shard) const {
  return Staged(state_->inputs.where.output, Numbered("shard", shard, ".faiss")).display;
}

Result<index::IndexMetrics> IndexDriver::Finish(const std::vector<int64_t>& shard_rows) {
  IndexInputs& inputs = state_->inputs;
  const table::VectorRows& kept = inputs.prepared.kept;
  const auto add_start = Clock::now();
  ORCHARD_RETURN_NOT_OK(
      AppendShards(inputs.where.output, shard_rows, kept.num_rows(), kept.dim, &*state_->trained));
  inputs.metrics.build.add_seconds = SecondsSince(add_start);
  ORCHARD_RETURN_NOT_OK(state_->trained->Tune(kept.values.data(), kept.num_rows(),
                                              inputs.build.seed, &inputs.metrics.build));
  inputs.metrics.build_seconds = SecondsSince(state_->build_start);
  ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(inputs.where.output.Child(kStagingFolder)));
  return WriteIndexDir(state_->options, &inputs, *state_->trained);
}

// ----------------------------------------------------------------------------- search
struct SearchDriver::State {
  SearchJobOptions options;
  SearchInputs inputs;
  std::vector<io::Location> parts;
  SearchShardJob shard_job;
};

SearchDriver::SearchDriver(std::unique_ptr<State> state) : state_(std::move(state)) {}
SearchDriver::~SearchDriver() = default;

Result<std::unique_ptr<SearchDriver>> SearchDriver::Begin(const SearchJobOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  ORCHARD_ASSIGN_OR_RAISE(state->inputs, BeginSearch(options));
  const SearchInputs& inputs = state->inputs;
  ORCHARD_ASSIGN_OR_RAISE(state->parts,
                          VectorParts(inputs.where.input, inputs.loaded->manifest.vectors));
  if (state->parts.empty()) {
    return Status::Invalid("no parts in '",
                           inputs.where.input.Child(inputs.loaded->manifest.vectors).display,
                           "': give the output of `orchard run`");
  }
  ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(inputs.where.output.Child(kStagingFolder)));
  state->shard_job = {options.index_dir, options.k, options.job.storage};
  return std::unique_ptr<SearchDriver>(new SearchDriver(std::move(state)));
}

const SearchShardJob& SearchDriver::shard_job() const { return state_->shard_job; }

std::vector<std::vector<std::string>> SearchDriver::PlanShards(int64_t num_shards) const {
  return PlanOf(state_->parts, num_shards);
}

std::string SearchDriver::ShardNeighbours(int64_t shard) const {
  return Staged(state_->inputs.where.output, Numbered("neighbours", shard, ".parquet")).display;
}

std::string SearchDriver::ShardErrors(int64_t shard) const {
  return Staged(state_->inputs.where.output, Numbered("errors", shard, ".parquet")).display;
}

Result<std::pair<int64_t, int64_t>> SearchShard(const SearchShardJob& job,
                                                const std::vector<std::string>& parts,
                                                const std::string& neighbours_file,
                                                const std::string& errors_file) {
  ORCHARD_RETURN_NOT_OK(CheckK(job.k));
  ORCHARD_ASSIGN_OR_RAISE(auto loaded, LoadIndexAt(job.index_dir, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadShardRows(parts, loaded.manifest.vectors,
                                                   loaded.manifest.dim, job.storage, "search"));
  const int64_t count = rows.kept.num_rows();
  ORCHARD_ASSIGN_OR_RAISE(auto found, loaded.vectors.Search(rows.kept.values.data(), count, job.k));
  ORCHARD_ASSIGN_OR_RAISE(auto batch, NeighboursBatch(rows.kept, loaded.rows, found));
  ORCHARD_ASSIGN_OR_RAISE(auto neighbours_location,
                          io::ResolveLocation(neighbours_file, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto errors_location, io::ResolveLocation(errors_file, job.storage));
  ORCHARD_RETURN_NOT_OK(table::WriteParquet(neighbours_location, *batch));
  ORCHARD_RETURN_NOT_OK(WriteSkipped(errors_location, rows.skipped));
  return std::pair<int64_t, int64_t>{count, static_cast<int64_t>(rows.skipped.size())};
}

Result<NeighbourJobSummary> SearchDriver::Finish(
    const std::vector<std::pair<int64_t, int64_t>>& shard_counts) {
  const io::Location& output = state_->inputs.where.output;
  std::vector<std::shared_ptr<arrow::Table>> tables;
  std::vector<table::ErrorRecord> skipped;
  int64_t rows = 0;
  for (size_t shard = 0; shard < shard_counts.size(); ++shard) {
    const auto id = static_cast<int64_t>(shard);
    ORCHARD_ASSIGN_OR_RAISE(auto neighbours,
                            io::ResolveLocation(ShardNeighbours(id), state_->options.job.storage));
    ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(neighbours));
    ORCHARD_ASSIGN_OR_RAISE(auto table, reader->ReadTable());
    tables.push_back(std::move(table));
    ORCHARD_ASSIGN_OR_RAISE(auto errors,
                            io::ResolveLocation(ShardErrors(id), state_->options.job.storage));
    ORCHARD_ASSIGN_OR_RAISE(auto shard_errors, table::ReadErrorsFile(errors));
    if (static_cast<int64_t>(shard_errors.size()) != shard_counts[shard].second) {
      return Status::Invalid(errors.display, " holds ", shard_errors.size(),
                             " rows, its task reported ", shard_counts[shard].second);
    }
    skipped.insert(skipped.end(), shard_errors.begin(), shard_errors.end());
    rows += shard_counts[shard].first;
  }
  if (tables.empty()) return Status::Invalid("search: no shard was searched");
  ORCHARD_ASSIGN_OR_RAISE(auto all, arrow::ConcatenateTables(tables));
  ORCHARD_ASSIGN_OR_RAISE(auto batch, all->CombineChunksToBatch());
  ORCHARD_RETURN_NOT_OK(WriteSkipped(output.Child(index::kErrorsParquet), skipped));
  ORCHARD_RETURN_NOT_OK(table::WriteParquet(output.Child(kNeighboursParquet), *batch));
  ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(output.Child(kStagingFolder)));
  return FinishSearch(state_->options, state_->inputs, rows, static_cast<int64_t>(skipped.size()));
}

// ------------------------------------------------------------------------------ dedup
struct DedupDriver::State {
  DedupJobOptions options;
  DedupInputs inputs;
  index::BuildReport report;
  std::optional<index::VectorIndex> index;
  std::vector<io::Location> index_parts;
  std::vector<io::Location> search_parts;
  ShardJob shard_job;
  DedupShardJob search_job;
  bool indexed = false;
};

DedupDriver::DedupDriver(std::unique_ptr<State> state) : state_(std::move(state)) {}
DedupDriver::~DedupDriver() = default;

Result<std::unique_ptr<DedupDriver>> DedupDriver::Begin(const DedupJobOptions& options) {
  auto state = std::make_unique<State>();
  state->options = options;
  ORCHARD_ASSIGN_OR_RAISE(state->inputs, BeginDedup(options));
  DedupInputs& inputs = state->inputs;
  if (inputs.indexed().kept.num_rows() == 0) {
    return Status::Invalid("dedup: no row of '", inputs.across ? options.against : options.input,
                           "' can be indexed (NaN, infinite or all-zero vectors)");
  }
  ORCHARD_ASSIGN_OR_RAISE(state->search_parts, VectorParts(inputs.where.input, options.on));
  ORCHARD_ASSIGN_OR_RAISE(state->index_parts,
                          inputs.across ? VectorParts(inputs.against, options.on)
                                        : Result<std::vector<io::Location>>(state->search_parts));
  ORCHARD_ASSIGN_OR_RAISE(state->index, TrainAndStage(inputs.indexed(), inputs.build,
                                                      inputs.where.output, &state->report));
  state->shard_job = {Staged(inputs.where.output, kTrainedIndex).display, options.on,
                      inputs.indexed().kept.dim, options.storage};
  return std::unique_ptr<DedupDriver>(new DedupDriver(std::move(state)));
}

const ShardJob& DedupDriver::shard_job() const { return state_->shard_job; }

std::vector<std::vector<std::string>> DedupDriver::PlanIndexShards(int64_t num_shards) const {
  return PlanOf(state_->index_parts, num_shards);
}

std::string DedupDriver::ShardIndex(int64_t shard) const {
  return Staged(state_->inputs.where.output, Numbered("shard", shard, ".faiss")).display;
}

Status DedupDriver::FinishIndex(const std::vector<int64_t>& shard_rows) {
  DedupInputs& inputs = state_->inputs;
  const table::VectorRows& kept = inputs.indexed().kept;
  ORCHARD_RETURN_NOT_OK(
      AppendShards(inputs.where.output, shard_rows, kept.num_rows(), kept.dim, &*state_->index));
  ORCHARD_RETURN_NOT_OK(
      state_->index->Tune(kept.values.data(), kept.num_rows(), inputs.build.seed, &state_->report));
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, state_->index->Serialize());
  const io::Location staged = Staged(inputs.where.output, kMergedIndex);
  ORCHARD_RETURN_NOT_OK(io::WriteAll(staged, bytes));
  state_->search_job = {staged.display,          kept.num_rows(),           kept.dim,
                        state_->index->nprobe(), inputs.k(state_->options), state_->options.on,
                        state_->options.storage};
  state_->indexed = true;
  return Status::OK();
}

const DedupShardJob& DedupDriver::search_job() const { return state_->search_job; }

std::vector<std::vector<std::string>> DedupDriver::PlanSearchShards(int64_t num_shards) const {
  return PlanOf(state_->search_parts, num_shards);
}

std::string DedupDriver::ShardNeighbours(int64_t shard) const {
  return Staged(state_->inputs.where.output, Numbered("neighbours", shard, ".parquet")).display;
}

Result<int64_t> DedupShard(const DedupShardJob& job, const std::vector<std::string>& parts,
                           const std::string& neighbours_file) {
  ORCHARD_ASSIGN_OR_RAISE(auto rows, ReadShardRows(parts, job.on, job.dim, job.storage, "dedup"));
  ORCHARD_ASSIGN_OR_RAISE(auto index_location, io::ResolveLocation(job.index_file, job.storage));
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, ReadText(index_location));
  ORCHARD_ASSIGN_OR_RAISE(
      auto index,
      index::VectorIndex::Deserialize(bytes, job.rows, job.dim, std::max<int64_t>(1, job.nprobe),
                                      index_location.display));
  const int64_t count = rows.kept.num_rows();
  ORCHARD_ASSIGN_OR_RAISE(auto found, index.Search(rows.kept.values.data(), count, job.k));
  TableBuilder table(static_cast<int64_t>(found.ids.size()));
  ORCHARD_RETURN_NOT_OK(table.Int64s("id", found.ids));
  ORCHARD_RETURN_NOT_OK(table.Floats("distance", found.distances));
  ORCHARD_ASSIGN_OR_RAISE(auto out, io::ResolveLocation(neighbours_file, job.storage));
  ORCHARD_RETURN_NOT_OK(table.Write(out));
  return count;
}

Result<NeighbourJobSummary> DedupDriver::Finish(const std::vector<int64_t>& shard_rows) {
  if (!state_->indexed) return Status::Invalid("dedup: FinishIndex was not called");
  DedupInputs& inputs = state_->inputs;
  const int64_t k = state_->search_job.k;
  index::Neighbours found;
  found.k = k;
  for (size_t shard = 0; shard < shard_rows.size(); ++shard) {
    ORCHARD_ASSIGN_OR_RAISE(
        auto location,
        io::ResolveLocation(ShardNeighbours(static_cast<int64_t>(shard)), state_->options.storage));
    ORCHARD_ASSIGN_OR_RAISE(auto reader, table::ParquetReader::Open(location));
    if (reader->num_rows() != shard_rows[shard] * k) {
      return Status::Invalid(location.display, " holds ", reader->num_rows(),
                             " neighbours, its task reported ", shard_rows[shard], " rows of ", k);
    }
    ORCHARD_ASSIGN_OR_RAISE(auto ids, reader->ReadColumn("id"));
    ORCHARD_ASSIGN_OR_RAISE(auto distances, reader->ReadColumn("distance"));
    if (ids->type()->id() != arrow::Type::INT64 || distances->type()->id() != arrow::Type::FLOAT) {
      return Status::Invalid(location.display, ": not the neighbours a dedup task writes");
    }
    for (const auto& chunk : ids->chunks()) {
      const auto& values = static_cast<const arrow::Int64Array&>(*chunk);
      for (int64_t idx = 0; idx < values.length(); ++idx) found.ids.push_back(values.Value(idx));
    }
    for (const auto& chunk : distances->chunks()) {
      const auto& values = static_cast<const arrow::FloatArray&>(*chunk);
      for (int64_t idx = 0; idx < values.length(); ++idx) {
        found.distances.push_back(values.Value(idx));
      }
    }
    found.queries += shard_rows[shard];
  }
  if (found.ids.size() != found.distances.size() ||
      static_cast<int64_t>(found.ids.size()) != found.queries * k) {
    return Status::Invalid("dedup: the staged neighbours are not rows x ", k);
  }
  const int64_t indexed_rows = inputs.indexed().kept.num_rows();
  for (const int64_t id : found.ids) {
    if (id >= indexed_rows) {
      return Status::Invalid("dedup: a staged neighbour names row ", id, " of ", indexed_rows);
    }
  }
  ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(inputs.where.output.Child(kStagingFolder)));
  return FinishDedup(state_->options, &inputs, state_->report.kind, found);
}

}  // namespace orchard::jobs
