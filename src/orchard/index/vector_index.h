// The nearest-neighbour index of orchard (issue 25): FAISS behind a small value type, so
// no other layer sees FAISS. Vectors are L2-normalized when added and when searched, so
// the squared L2 distance FAISS computes is twice the cosine distance; every distance
// this layer returns is the cosine distance 1 - cos(a, b), in [0, 2] (scale-free, so a
// dedup threshold means the same for PCA and raw features).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/util/status.h"

namespace orchard::index {

/// The kinds of index: exact (every vector kept as float32) and compressed approximate
/// (an inverted file of product-quantized codes, whose shortlist is re-ranked by 8-bit
/// scalar-quantized copies of the vectors when the memory bound leaves room for them).
inline constexpr const char* kKindFlat = "flat";
inline constexpr const char* kKindIvfPq = "ivf-pq";
inline constexpr const char* kKindAuto = "auto";

/// Up to this many vectors an automatic index is exact (when it fits the memory bound):
/// exact search over 10^5 vectors of 64 values is about a millisecond a query.
inline constexpr int64_t kExactRowLimit = 100000;
/// The recall@10 (against exact search) the approximate index is tuned to reach on its
/// held-out sample: nprobe doubles until it does (or every list is probed).
inline constexpr double kTargetRecall = 0.95;
/// Rows sampled to measure recall (and to tune nprobe).
inline constexpr int64_t kRecallSampleRows = 1000;
/// The neighbours recall is measured at.
inline constexpr int64_t kRecallAt = 10;

struct BuildOptions {
  std::string kind = kKindAuto;  ///< flat, ivf-pq or auto
  int64_t max_memory_bytes = 0;  ///< bound on the index's size; 0: none
  int threads = 1;
  uint64_t seed = 42;  ///< training sample and recall sample
};

/// What Build measured (INDEX_DIR/metrics.json holds it).
struct BuildReport {
  std::string kind;
  std::string kind_reason;  ///< why this kind was chosen
  int64_t rows = 0;
  int64_t dim = 0;
  int64_t lists = 0;         ///< ivf-pq: inverted lists (0 for flat)
  int64_t code_bytes = 0;    ///< bytes of one vector's code (4*dim for flat)
  int64_t nprobe = 0;        ///< ivf-pq: lists probed per query
  int64_t index_bytes = 0;   ///< the serialized index
  double train_seconds = 0;  ///< ivf-pq: k-means + PQ training
  double add_seconds = 0;
  double recall_at_10 = 0;  ///< on the sample, against exact search (1 for flat)
  int64_t recall_sample_rows = 0;
};

/// The k nearest neighbours of each query, row-major (queries x k). `ids` are rows of the
/// index, -1 where the index holds fewer than k vectors; `distances` cosine distances,
/// ascending per query (+inf where the id is -1).
struct Neighbours {
  int64_t queries = 0;
  int64_t k = 0;
  std::vector<int64_t> ids;
  std::vector<float> distances;
};

/// Rows of `values` (rows x dim) that cannot be indexed: a value that is NaN or infinite,
/// or an all-zero vector (no direction). Their indices, ascending.
std::vector<int64_t> UnindexableRows(const float* values, int64_t rows, int64_t dim);

/// Copies `values` with each row scaled to unit length (rows must be indexable).
std::vector<float> Normalized(const float* values, int64_t rows, int64_t dim);

class VectorIndex {
 public:
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;
  ~VectorIndex();

  /// Indexes `rows` unit vectors (Normalized) of `dim` values, row i gets id i. The kind
  /// is options.kind; auto chooses flat up to kExactRowLimit rows when 4*dim bytes a vector
  /// fit max_memory_bytes, else ivf-pq with codes sized to the bound. Fails (naming the
  /// bound) when no kind fits max_memory_bytes, or on fewer rows than ivf-pq needs to train.
  static Result<VectorIndex> Build(const float* unit_values, int64_t rows, int64_t dim,
                                   const BuildOptions& options, BuildReport* report);

  /// Build in its three steps, for a front end that adds the vectors in shards (Spark):
  /// Train chooses the kind for `rows` vectors as Build does and trains it on Build's sample
  /// of `unit_values` (rows x dim), holding no vector; Add appends vectors (ids continue
  /// from size()); Append moves another index's vectors after this one's (the other must
  /// come from the same trained index, e.g. Serialize + Deserialize of it, then Add);
  /// Tune measures recall@10 on Build's sample of the index's own `unit_values` (all of
  /// them, in id order) and sets nprobe as Build does. Train + Add(all) + Tune == Build.
  static Result<VectorIndex> Train(const float* unit_values, int64_t rows, int64_t dim,
                                   const BuildOptions& options, BuildReport* report);
  Status Add(const float* unit_values, int64_t rows);
  Status Append(VectorIndex&& other);
  Status Tune(const float* unit_values, int64_t rows, uint64_t seed, BuildReport* report);

  /// The k nearest neighbours of `queries` unit vectors. k >= 1; k above size() gives -1
  /// ids for the missing ones (never an error).
  Result<Neighbours> Search(const float* unit_queries, int64_t queries, int64_t k) const;

  int64_t size() const;
  int64_t dim() const;
  std::string kind() const;
  int64_t nprobe() const;
  /// FAISS threads of later calls (a deserialized index starts with 1).
  void set_threads(int threads);

  /// The index as bytes (FAISS's format).
  Result<std::string> Serialize() const;
  /// Reads what Serialize wrote; `source` names the file. Refuses bytes FAISS cannot read,
  /// and an index whose size or dimension is not `rows` x `dim` (what the manifest says).
  /// A trained index holding no vector yet (a shard's start) has rows 0 and nprobe 1.
  static Result<VectorIndex> Deserialize(std::string_view bytes, int64_t rows, int64_t dim,
                                         int64_t nprobe, const std::string& source);

 private:
  struct Impl;
  explicit VectorIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Exact k nearest neighbours of `queries` among `base` (both unit vectors), by brute
/// force: the reference recall is measured against.
Neighbours ExactNeighbours(const float* unit_base, int64_t base_rows, const float* unit_queries,
                           int64_t queries, int64_t dim, int64_t k, int threads);

/// Mean share of each query's true neighbours (`exact`, the first `at`) found among the
/// first `at` of `found`.
double RecallAt(const Neighbours& found, const Neighbours& exact, int64_t at);

}  // namespace orchard::index
