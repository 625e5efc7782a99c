#include "orchard/index/vector_index.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "orchard/util/stopwatch.h"

namespace orchard::index {
namespace {

using util::Clock;
using util::SecondsSince;
using FaissId = faiss::Index::idx_t;  // FAISS 1.7.3 has it in Index, later ones in faiss::

// IVF-PQ needs enough rows to train its 256 codewords per sub-quantizer (FAISS refuses
// fewer training points than centroids); below this, use the exact index.
constexpr int64_t kMinIvfPqRows = 256;
// Rows the coarse quantizer and the product quantizer are trained on: FAISS's k-means
// samples 256 points per centroid at most, so more is time for nothing.
constexpr int64_t kMaxTrainRows = 32768;
// The smallest recall@10 gain that is worth doubling nprobe for.
constexpr double kRecallPlateau = 0.005;
// k-means iterations of the coarse quantizer and of each sub-quantizer.
constexpr int kTrainIterations = 10;
// Bytes FAISS keeps per vector of an inverted list besides its code: the 64-bit id.
constexpr int64_t kIdBytes = 8;
// Sub-quantizers: one byte each, one per dimension up to 64 (two dimensions each loses
// ~10% recall@10 on clustered data; more than 64 bytes a vector would miss the 100-byte
// bound of issue 25).
constexpr int64_t kMaxSubQuantizers = 64;
// With re-ranking, the product-quantized code only has to bring the true neighbours into a
// shortlist: one byte per four dimensions does (16 bytes at 64 dimensions), and the 8-bit
// scalar-quantized copy (one byte per dimension) that re-ranks the shortlist makes the
// distances nearly exact. 16 + 64 + 8 (id) = 88 bytes a vector at 64 dimensions, under the
// 100-byte bound, where 64 PQ bytes alone capped recall@10 at 0.93 on 10^6 vectors.
constexpr int64_t kDimsPerRefinedSubQuantizer = 4;
// The shortlist re-ranked: this many times the neighbours asked for.
constexpr float kRefineShortlistFactor = 8;
constexpr float kMaxRefineShortlistFactor = 64;
// Queries handed to FAISS at once (VectorIndex::Search): bounds its temporaries.
constexpr int64_t kSearchBlock = 16384;

int64_t RoundUp(int64_t value, int64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// Sets FAISS's OpenMP threads for the life of the object (FAISS reads the global count).
class OmpThreads {
 public:
  explicit OmpThreads(int threads) : previous_(omp_get_max_threads()) {
    omp_set_num_threads(std::max(1, threads));
  }
  ~OmpThreads() { omp_set_num_threads(previous_); }
  OmpThreads(const OmpThreads&) = delete;
  OmpThreads& operator=(const OmpThreads&) = delete;

 private:
  int previous_;
};

// FAISS reports errors by exceptions: turned into a Status naming what was being done.
template <typename Fn>
Status CatchFaiss(const std::string& what, Fn&& fn) {
  try {
    fn();
    return Status::OK();
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory(what, ": out of memory");
  } catch (const std::exception& error) {
    return Status::Invalid(what, ": ", error.what());
  }
}

std::vector<int64_t> SampleRows(int64_t rows, int64_t count, uint64_t seed) {
  std::vector<int64_t> all(static_cast<size_t>(rows));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (count >= rows) return all;
  std::mt19937_64 engine(seed);
  // A partial Fisher-Yates shuffle: the first `count` are a uniform sample.
  for (int64_t idx = 0; idx < count; ++idx) {
    std::uniform_int_distribution<int64_t> pick(idx, rows - 1);
    std::swap(all[static_cast<size_t>(idx)], all[static_cast<size_t>(pick(engine))]);
  }
  all.resize(static_cast<size_t>(count));
  std::sort(all.begin(), all.end());
  return all;
}

std::vector<float> GatherRows(const float* values, int64_t dim, const std::vector<int64_t>& rows,
                              int64_t padded_dim) {
  std::vector<float> out(rows.size() * static_cast<size_t>(padded_dim), 0.0f);
  for (size_t idx = 0; idx < rows.size(); ++idx) {
    std::copy_n(values + rows[idx] * dim, dim, out.data() + idx * static_cast<size_t>(padded_dim));
  }
  return out;
}

// Rows of `dim` values copied into rows of `padded_dim` (zeros after): product
// quantization needs a dimension divisible by its sub-quantizers; zeros change no distance.
std::vector<float> Padded(const float* values, int64_t rows, int64_t dim, int64_t padded_dim) {
  std::vector<float> out(static_cast<size_t>(rows * padded_dim), 0.0f);
  for (int64_t row = 0; row < rows; ++row) {
    std::copy_n(values + row * dim, dim, out.data() + row * padded_dim);
  }
  return out;
}

// `neighbours` of the rows `self` (one per query) without the query's own row, cut to
// the first `at`.
Neighbours WithoutSelf(const Neighbours& neighbours, const std::vector<int64_t>& self, int64_t at) {
  Neighbours out;
  out.queries = neighbours.queries;
  out.k = at;
  out.ids.assign(static_cast<size_t>(out.queries * at), -1);
  out.distances.assign(static_cast<size_t>(out.queries * at),
                       std::numeric_limits<float>::infinity());
  for (int64_t query = 0; query < neighbours.queries; ++query) {
    int64_t kept = 0;
    for (int64_t rank = 0; rank < neighbours.k && kept < at; ++rank) {
      const size_t from = static_cast<size_t>(query * neighbours.k + rank);
      if (neighbours.ids[from] == self[static_cast<size_t>(query)]) continue;
      const size_t to = static_cast<size_t>(query * at + kept++);
      out.ids[to] = neighbours.ids[from];
      out.distances[to] = neighbours.distances[from];
    }
  }
  return out;
}

float CosineOfSquaredL2(float squared_l2) { return std::clamp(squared_l2 / 2.0f, 0.0f, 2.0f); }

}  // namespace

namespace {

// The inverted file of an ivf-pq index, re-ranked (IndexRefine around it) or not.
faiss::IndexIVF* InvertedFileOf(faiss::Index* index) {
  if (auto* refine = dynamic_cast<faiss::IndexRefine*>(index)) {
    return dynamic_cast<faiss::IndexIVF*>(refine->base_index);
  }
  return dynamic_cast<faiss::IndexIVF*>(index);
}

// An ivf-pq index is the inverted file alone or re-ranked by a scalar-quantized copy of
// the same vectors (what Train makes); anything else is not an index orchard wrote.
bool RefineIsScalarQuantized(faiss::Index* index, faiss::IndexIVF* ivf) {
  auto* refine = dynamic_cast<faiss::IndexRefine*>(index);
  if (refine == nullptr) return index == ivf;
  auto* copy = dynamic_cast<faiss::IndexScalarQuantizer*>(refine->refine_index);
  // The shortlist factor multiplies every search's allocation: bounded, so that bytes
  // read back (a staged shard has no manifest checksum) cannot ask for terabytes.
  return copy != nullptr && copy->d == ivf->d && copy->ntotal == ivf->ntotal &&
         refine->k_factor >= 1 && refine->k_factor <= kMaxRefineShortlistFactor;
}

}  // namespace

struct VectorIndex::Impl {
  std::unique_ptr<faiss::Index> faiss_index;
  int64_t dim = 0;         // of the vectors given
  int64_t padded_dim = 0;  // of the vectors FAISS holds (ivf-pq pads)
  int64_t nprobe = 0;
  std::string kind;
  int threads = 1;

  Result<Neighbours> Search(const float* unit_queries, int64_t queries, int64_t k) const {
    if (k < 1) return Status::Invalid("k must be at least 1, got ", k);
    Neighbours out;
    out.queries = queries;
    out.k = k;
    out.ids.assign(static_cast<size_t>(queries * k), -1);
    out.distances.assign(static_cast<size_t>(queries * k), std::numeric_limits<float>::infinity());
    const int64_t size = faiss_index->ntotal;
    const int64_t asked = std::min(k, size);
    if (asked == 0 || queries == 0) return out;
    // Blocks of queries: FAISS's temporaries (the padded copy, the re-ranking shortlist of
    // 8k candidates a query) grow with the queries of one call, so a dedup of 10^6 rows
    // would hold ~1 GB of them at once; per block they stay a few MB.
    OmpThreads omp(threads);
    for (int64_t first = 0; first < queries; first += kSearchBlock) {
      const int64_t count = std::min(kSearchBlock, queries - first);
      std::vector<float> padded = Padded(unit_queries + first * dim, count, dim, padded_dim);
      std::vector<FaissId> ids(static_cast<size_t>(count * asked));
      std::vector<float> squared(static_cast<size_t>(count * asked));
      ORCHARD_RETURN_NOT_OK(CatchFaiss("searching the index", [&] {
        if (auto* ivf = InvertedFileOf(faiss_index.get())) {
          ivf->nprobe = static_cast<size_t>(nprobe);
        }
        faiss_index->search(count, padded.data(), asked, squared.data(), ids.data());
      }));
      for (int64_t query = 0; query < count; ++query) {
        for (int64_t rank = 0; rank < asked; ++rank) {
          const size_t from = static_cast<size_t>(query * asked + rank);
          const size_t to = static_cast<size_t>((first + query) * k + rank);
          if (ids[from] < 0) continue;
          out.ids[to] = ids[from];
          out.distances[to] = CosineOfSquaredL2(squared[from]);
        }
      }
    }
    return out;
  }
};

std::vector<int64_t> UnindexableRows(const float* values, int64_t rows, int64_t dim) {
  std::vector<int64_t> bad;
  for (int64_t row = 0; row < rows; ++row) {
    const float* begin = values + row * dim;
    bool finite = true;
    bool nonzero = false;
    for (int64_t col = 0; col < dim; ++col) {
      finite = finite && std::isfinite(begin[col]);
      nonzero = nonzero || begin[col] != 0.0f;
    }
    if (!finite || !nonzero) bad.push_back(row);
  }
  return bad;
}

std::vector<float> Normalized(const float* values, int64_t rows, int64_t dim) {
  std::vector<float> out(values, values + rows * dim);
  for (int64_t row = 0; row < rows; ++row) {
    float* begin = out.data() + row * dim;
    double norm = 0;
    for (int64_t col = 0; col < dim; ++col) norm += double{begin[col]} * begin[col];
    norm = std::sqrt(norm);
    if (norm > 0 && std::isfinite(norm)) {
      for (int64_t col = 0; col < dim; ++col) {
        begin[col] = static_cast<float>(begin[col] / norm);
      }
    }
  }
  return out;
}

VectorIndex::VectorIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
VectorIndex::VectorIndex(VectorIndex&&) noexcept = default;
VectorIndex& VectorIndex::operator=(VectorIndex&&) noexcept = default;
VectorIndex::~VectorIndex() = default;

int64_t VectorIndex::size() const { return impl_->faiss_index->ntotal; }
int64_t VectorIndex::dim() const { return impl_->dim; }
std::string VectorIndex::kind() const { return impl_->kind; }
int64_t VectorIndex::nprobe() const { return impl_->nprobe; }
void VectorIndex::set_threads(int threads) { impl_->threads = std::max(1, threads); }

Result<VectorIndex> VectorIndex::Train(const float* unit_values, int64_t rows, int64_t dim,
                                       const BuildOptions& options, BuildReport* report) {
  if (dim < 1) return Status::Invalid("cannot index vectors of ", dim, " values");
  if (rows < 1) return Status::Invalid("no vectors to index");
  if (options.max_memory_bytes < 0) {
    return Status::Invalid("--max-memory must be positive, got ", options.max_memory_bytes);
  }
  const int64_t bound = options.max_memory_bytes;
  const int64_t flat_bytes = rows * dim * 4;
  BuildReport built;
  built.rows = rows;
  built.dim = dim;
  std::string kind = options.kind;
  if (kind == kKindAuto) {
    if (rows <= kExactRowLimit && (bound == 0 || flat_bytes <= bound)) {
      kind = kKindFlat;
      built.kind_reason = "at most " + std::to_string(kExactRowLimit) + " rows: exact search";
    } else if (rows < kMinIvfPqRows) {
      kind = kKindFlat;
      built.kind_reason = "too few rows to train ivf-pq";
    } else {
      kind = kKindIvfPq;
      built.kind_reason = rows > kExactRowLimit
                              ? "more than " + std::to_string(kExactRowLimit) + " rows"
                              : "an exact index would exceed --max-memory";
    }
  } else if (kind != kKindFlat && kind != kKindIvfPq) {
    return Status::Invalid("--kind must be auto, flat or ivf-pq, got '", kind, "'");
  } else {
    built.kind_reason = "--kind " + kind;
  }

  auto impl = std::make_unique<Impl>();
  impl->dim = dim;
  impl->kind = kind;
  impl->threads = std::max(1, options.threads);
  OmpThreads omp(impl->threads);
  if (kind == kKindFlat) {
    if (bound != 0 && flat_bytes > bound) {
      return Status::Invalid("an exact index of ", rows, " x ", dim, " needs ", flat_bytes,
                             " bytes, above --max-memory ", bound, ": use --kind ivf-pq");
    }
    impl->padded_dim = dim;
    impl->faiss_index = std::make_unique<faiss::IndexFlatL2>(dim);
    built.code_bytes = dim * 4;
  } else {
    if (rows < kMinIvfPqRows) {
      return Status::Invalid("an ivf-pq index needs at least ", kMinIvfPqRows,
                             " rows to train, got ", rows, ": use --kind flat");
    }
    const int64_t lists =
        std::clamp<int64_t>(static_cast<int64_t>(std::lround(4 * std::sqrt(double(rows)))), 1,
                            std::max<int64_t>(1, rows / 39));
    // Re-ranked codes (kDimsPerRefinedSubQuantizer) when the bound leaves room for them;
    // otherwise one PQ byte per dimension up to 64, fewer when the bound asks for it.
    const int64_t refined_sub_quantizers =
        std::clamp<int64_t>(dim / kDimsPerRefinedSubQuantizer, 1, kMaxSubQuantizers);
    const int64_t refined_padded_dim = RoundUp(dim, refined_sub_quantizers);
    int64_t sub_quantizers = refined_sub_quantizers;
    bool refined = true;
    if (bound != 0) {
      const int64_t fixed_bytes = lists * dim * 4 + 256 * dim * 4;  // centroids, codebooks
      const int64_t per_vector = (bound - fixed_bytes) / rows - kIdBytes;
      if (per_vector < 1) {
        return Status::Invalid("--max-memory ", bound, " is too small for ", rows,
                               " vectors: an ivf-pq index needs at least ",
                               fixed_bytes + rows * (kIdBytes + 1), " bytes");
      }
      if (per_vector < refined_sub_quantizers + refined_padded_dim) {
        refined = false;
        sub_quantizers = std::min({kMaxSubQuantizers, dim, per_vector});
      }
    }
    impl->padded_dim = refined ? refined_padded_dim : RoundUp(dim, sub_quantizers);
    auto quantizer = std::make_unique<faiss::IndexFlatL2>(impl->padded_dim);
    auto ivf = std::make_unique<faiss::IndexIVFPQ>(quantizer.get(), impl->padded_dim,
                                                   static_cast<size_t>(lists),
                                                   static_cast<size_t>(sub_quantizers), 8);
    ivf->own_fields = true;
    quantizer.release();
    ivf->cp.seed = static_cast<int>(options.seed & 0x7fffffff);
    ivf->pq.cp.seed = ivf->cp.seed;
    ivf->verbose = false;
    // The recall measured below is the judge of the training set's size: FAISS's warning
    // about few points per centroid would only be noise on stderr.
    ivf->cp.min_points_per_centroid = 1;
    ivf->pq.cp.min_points_per_centroid = 1;
    // Fewer k-means iterations than FAISS's 25: the centroids move little after 10, and
    // training was most of the build time (bench/index_bench.cc); recall is measured anyway.
    ivf->cp.niter = kTrainIterations;
    ivf->pq.cp.niter = kTrainIterations;
    // The re-ranking copy: 8 bits per dimension, each dimension's range its own, except
    // when the vectors are padded: a padding column's range is empty (FAISS would divide
    // by it), so one range is shared by all.
    std::unique_ptr<faiss::IndexScalarQuantizer> refine;
    if (refined) {
      refine = std::make_unique<faiss::IndexScalarQuantizer>(
          impl->padded_dim,
          impl->padded_dim == dim ? faiss::ScalarQuantizer::QT_8bit
                                  : faiss::ScalarQuantizer::QT_8bit_uniform,
          faiss::METRIC_L2);
    }
    const auto train_start = Clock::now();
    const auto train_rows = SampleRows(rows, kMaxTrainRows, options.seed);
    const auto train = GatherRows(unit_values, dim, train_rows, impl->padded_dim);
    ORCHARD_RETURN_NOT_OK(CatchFaiss("training the ivf-pq index", [&] {
      // IndexIVF::train in its two steps: the coarse quantizer (BLAS pays for 64-value
      // vectors), then the sub-quantizers of one value each, where FAISS's BLAS path
      // spends its time in sgemm call overhead (training took twice as long in
      // bench/index_bench.cc): for them, the BLAS threshold is raised for the call.
      const auto train_count = static_cast<FaissId>(train_rows.size());
      ivf->train_q1(train_count, train.data(), false, ivf->metric_type);
      const int blas_threshold = faiss::distance_compute_blas_threshold;
      faiss::distance_compute_blas_threshold = std::numeric_limits<int>::max();
      try {
        ivf->train_residual(train_count, train.data());
      } catch (...) {
        faiss::distance_compute_blas_threshold = blas_threshold;
        throw;
      }
      faiss::distance_compute_blas_threshold = blas_threshold;
      ivf->is_trained = true;
      if (refine) refine->train(train_count, train.data());
    }));
    built.train_seconds = SecondsSince(train_start);
    built.lists = lists;
    built.code_bytes = sub_quantizers + (refined ? impl->padded_dim : 0);
    if (refine) {
      auto wrapped = std::make_unique<faiss::IndexRefine>(ivf.get(), refine.get());
      wrapped->own_fields = true;
      wrapped->own_refine_index = true;
      wrapped->k_factor = kRefineShortlistFactor;
      ivf.release();
      refine.release();
      impl->faiss_index = std::move(wrapped);
    } else {
      impl->faiss_index = std::move(ivf);
    }
  }
  built.kind = kind;
  if (report != nullptr) *report = built;
  return VectorIndex(std::move(impl));
}

Status VectorIndex::Add(const float* unit_values, int64_t rows) {
  OmpThreads omp(impl_->threads);
  // Added in slices, so the padded copy stays small whatever the row count.
  constexpr int64_t kAddSlice = 65536;
  for (int64_t first = 0; first < rows; first += kAddSlice) {
    const int64_t count = std::min(kAddSlice, rows - first);
    if (impl_->padded_dim == impl_->dim) {
      ORCHARD_RETURN_NOT_OK(CatchFaiss("adding vectors to the index", [&] {
        impl_->faiss_index->add(count, unit_values + first * impl_->dim);
      }));
      continue;
    }
    const auto padded =
        Padded(unit_values + first * impl_->dim, count, impl_->dim, impl_->padded_dim);
    ORCHARD_RETURN_NOT_OK(CatchFaiss("adding vectors to the index",
                                     [&] { impl_->faiss_index->add(count, padded.data()); }));
  }
  return Status::OK();
}

Status VectorIndex::Append(VectorIndex&& other) {
  if (other.impl_->kind != impl_->kind || other.impl_->padded_dim != impl_->padded_dim ||
      other.impl_->dim != impl_->dim) {
    return Status::Invalid("cannot append a ", other.impl_->kind, " index of ", other.impl_->dim,
                           " dimensions to a ", impl_->kind, " index of ", impl_->dim);
  }
  faiss::Index* into = impl_->faiss_index.get();
  faiss::Index* from = other.impl_->faiss_index.get();
  const FaissId offset = into->ntotal;
  return CatchFaiss("merging the indexes of two shards", [&] {
    // IndexRefine has no merge_from: its two parts are merged one by one (same order).
    auto* into_refine = dynamic_cast<faiss::IndexRefine*>(into);
    auto* from_refine = dynamic_cast<faiss::IndexRefine*>(from);
    if ((into_refine == nullptr) != (from_refine == nullptr)) {
      throw std::invalid_argument("one index is re-ranked and the other not");
    }
    // An inverted file is given the other's first id; flat codes take none (they are
    // numbered by position, so appended ones continue from ntotal).
    if (into_refine != nullptr) {
      into_refine->base_index->merge_from(*from_refine->base_index, offset);
      into_refine->refine_index->merge_from(*from_refine->refine_index, 0);
      into_refine->ntotal = into_refine->base_index->ntotal;
      from_refine->ntotal = 0;
    } else {
      into->merge_from(*from, InvertedFileOf(into) != nullptr ? offset : 0);
    }
  });
}

Status VectorIndex::Tune(const float* unit_values, int64_t rows, uint64_t seed,
                         BuildReport* report) {
  if (rows != size()) {
    return Status::Invalid("the recall sample is drawn from the ", size(),
                           " vectors of the index, got ", rows);
  }
  Impl* impl = impl_.get();
  // Recall on a sample of the rows, each held out of its own answer: a row finds itself
  // (its code is nearest its own vector), which would flatter the index, so the row's own
  // id is dropped from both lists and the next `at` compared. For ivf-pq, nprobe doubles
  // until the target recall is reached.
  const auto sample = SampleRows(rows, kRecallSampleRows, seed + 1);
  const auto queries = GatherRows(unit_values, impl->dim, sample, impl->dim);
  const int64_t sample_rows = static_cast<int64_t>(sample.size());
  const int64_t at = std::min(kRecallAt, rows - 1);
  const bool flat = impl->kind == kKindFlat;
  const int64_t lists =
      flat ? 0 : static_cast<int64_t>(InvertedFileOf(impl->faiss_index.get())->nlist);
  report->recall_sample_rows = sample_rows;
  report->recall_at_10 = 1.0;
  impl->nprobe = 0;
  if (at >= 1) {
    const Neighbours exact =
        WithoutSelf(ExactNeighbours(unit_values, rows, queries.data(), sample_rows, impl->dim,
                                    at + 1, impl->threads),
                    sample, at);
    double previous_recall = -1;
    for (int64_t nprobe = 1;; nprobe *= 2) {
      const int64_t previous_nprobe = impl->nprobe;
      impl->nprobe = flat ? 0 : std::min(nprobe, lists);
      ORCHARD_ASSIGN_OR_RAISE(auto found, impl->Search(queries.data(), sample_rows, at + 1));
      const double recall = RecallAt(WithoutSelf(found, sample, at), exact, at);
      // The codes bound the recall: once doubling nprobe gains less than kRecallPlateau,
      // the target is out of reach and more lists only cost search time (at 10^6 vectors,
      // probing all 4,000 lists gained 0.003 over 64 and made queries 50 ms).
      if (!flat && previous_recall >= 0 && recall - previous_recall < kRecallPlateau) {
        impl->nprobe = previous_nprobe;
        report->recall_at_10 = previous_recall;
        break;
      }
      report->recall_at_10 = recall;
      previous_recall = recall;
      if (flat || recall >= kTargetRecall || impl->nprobe >= lists) break;
    }
  } else if (!flat) {
    impl->nprobe = 1;
  }
  report->nprobe = impl->nprobe;
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, Serialize());
  report->index_bytes = static_cast<int64_t>(bytes.size());
  return Status::OK();
}

Result<VectorIndex> VectorIndex::Build(const float* unit_values, int64_t rows, int64_t dim,
                                       const BuildOptions& options, BuildReport* report) {
  BuildReport built;
  ORCHARD_ASSIGN_OR_RAISE(auto index, Train(unit_values, rows, dim, options, &built));
  const auto add_start = Clock::now();
  ORCHARD_RETURN_NOT_OK(index.Add(unit_values, rows));
  built.add_seconds = SecondsSince(add_start);
  ORCHARD_RETURN_NOT_OK(index.Tune(unit_values, rows, options.seed, &built));
  if (report != nullptr) *report = built;
  return index;
}

Result<Neighbours> VectorIndex::Search(const float* unit_queries, int64_t queries,
                                       int64_t k) const {
  return impl_->Search(unit_queries, queries, k);
}

Result<std::string> VectorIndex::Serialize() const {
  faiss::VectorIOWriter writer;
  ORCHARD_RETURN_NOT_OK(CatchFaiss("serializing the index",
                                   [&] { faiss::write_index(impl_->faiss_index.get(), &writer); }));
  return std::string(writer.data.begin(), writer.data.end());
}

Result<VectorIndex> VectorIndex::Deserialize(std::string_view bytes, int64_t rows, int64_t dim,
                                             int64_t nprobe, const std::string& source) {
  faiss::VectorIOReader reader;
  reader.data.assign(bytes.begin(), bytes.end());
  faiss::Index* read = nullptr;
  ORCHARD_RETURN_NOT_OK(CatchFaiss(source + ": not an index orchard can read (rebuild it with "
                                            "`orchard index`)",
                                   [&] { read = faiss::read_index(&reader); }));
  std::unique_ptr<faiss::Index> owned(read);
  auto impl = std::make_unique<Impl>();
  impl->dim = dim;
  impl->padded_dim = owned->d;
  impl->nprobe = nprobe;
  if (dynamic_cast<faiss::IndexFlatL2*>(owned.get()) != nullptr && owned->d == dim) {
    impl->kind = kKindFlat;
  } else if (auto* ivf = dynamic_cast<faiss::IndexIVFPQ*>(InvertedFileOf(owned.get()));
             ivf != nullptr && owned->d >= dim && owned->d < dim + kMaxSubQuantizers &&
             nprobe >= 1 && nprobe <= static_cast<int64_t>(ivf->nlist) &&
             RefineIsScalarQuantized(owned.get(), ivf)) {
    impl->kind = kKindIvfPq;
  } else {
    return Status::Invalid(source, ": the index is not a flat index of ", dim,
                           " dimensions nor an ivf-pq one (probing ", nprobe,
                           " lists) as its manifest says: rebuild it with `orchard index`");
  }
  if (owned->ntotal != rows) {
    return Status::Invalid(source, ": the index holds ", owned->ntotal,
                           " vectors but its manifest says ", rows,
                           ": rebuild it with `orchard index`");
  }
  impl->faiss_index = std::move(owned);
  return VectorIndex(std::move(impl));
}

Neighbours ExactNeighbours(const float* unit_base, int64_t base_rows, const float* unit_queries,
                           int64_t queries, int64_t dim, int64_t k, int threads) {
  faiss::IndexFlatL2 flat(dim);
  OmpThreads omp(threads);
  flat.add(base_rows, unit_base);
  Neighbours out;
  out.queries = queries;
  out.k = k;
  out.ids.assign(static_cast<size_t>(queries * k), -1);
  out.distances.assign(static_cast<size_t>(queries * k), std::numeric_limits<float>::infinity());
  const int64_t asked = std::min(k, base_rows);
  if (asked == 0 || queries == 0) return out;
  std::vector<FaissId> ids(static_cast<size_t>(queries * asked));
  std::vector<float> squared(static_cast<size_t>(queries * asked));
  flat.search(queries, unit_queries, asked, squared.data(), ids.data());
  for (int64_t query = 0; query < queries; ++query) {
    for (int64_t rank = 0; rank < asked; ++rank) {
      const size_t from = static_cast<size_t>(query * asked + rank);
      const size_t to = static_cast<size_t>(query * k + rank);
      out.ids[to] = ids[from];
      if (ids[from] >= 0) out.distances[to] = CosineOfSquaredL2(squared[from]);
    }
  }
  return out;
}

double RecallAt(const Neighbours& found, const Neighbours& exact, int64_t at) {
  if (exact.queries == 0) return 1.0;
  int64_t hits = 0;
  int64_t wanted = 0;
  for (int64_t query = 0; query < exact.queries; ++query) {
    const int64_t* truth = exact.ids.data() + query * exact.k;
    const int64_t* got = found.ids.data() + query * found.k;
    const int64_t truth_count = std::min(at, exact.k);
    const int64_t got_count = std::min(at, found.k);
    for (int64_t idx = 0; idx < truth_count; ++idx) {
      if (truth[idx] < 0) continue;
      ++wanted;
      if (std::find(got, got + got_count, truth[idx]) != got + got_count) ++hits;
    }
  }
  return wanted == 0 ? 1.0 : static_cast<double>(hits) / static_cast<double>(wanted);
}

}  // namespace orchard::index
