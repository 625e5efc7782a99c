// The index layer on synthetic vectors (blobs): exact search is brute force, the
// approximate index reaches its recall bound, an index survives serialization and refuses
// damaged bytes, unindexable rows are found, dedup groups planted copies and nothing else.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <set>

#include "../test_util.h"
#include "orchard/index/dedup.h"
#include "orchard/index/index_files.h"
#include "orchard/index/vector_index.h"

namespace orchard::index {
namespace {

// `rows` points around `centers` random centres in `dim` dimensions, unit-normalized.
std::vector<float> Blobs(int64_t rows, int64_t dim, int64_t centers, double spread, uint64_t seed) {
  std::mt19937_64 engine(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centre_values(static_cast<size_t>(centers * dim));
  for (auto& value : centre_values) value = normal(engine);
  std::vector<float> values(static_cast<size_t>(rows * dim));
  std::uniform_int_distribution<int64_t> pick(0, centers - 1);
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t centre = pick(engine);
    for (int64_t col = 0; col < dim; ++col) {
      values[static_cast<size_t>(row * dim + col)] =
          centre_values[static_cast<size_t>(centre * dim + col)] +
          static_cast<float>(spread) * normal(engine);
    }
  }
  return Normalized(values.data(), rows, dim);
}

// The k nearest rows of `query` by a plain loop over every row (ties by row).
std::vector<int64_t> BruteForce(const std::vector<float>& base, int64_t dim, const float* query,
                                int64_t k) {
  const int64_t rows = static_cast<int64_t>(base.size()) / dim;
  std::vector<std::pair<double, int64_t>> scored;
  for (int64_t row = 0; row < rows; ++row) {
    double squared = 0;
    for (int64_t col = 0; col < dim; ++col) {
      const double diff = double{base[static_cast<size_t>(row * dim + col)]} - query[col];
      squared += diff * diff;
    }
    scored.emplace_back(squared, row);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<int64_t> out;
  for (int64_t idx = 0; idx < std::min(k, rows); ++idx) {
    out.push_back(scored[static_cast<size_t>(idx)].second);
  }
  return out;
}

BuildOptions Options(const std::string& kind) {
  BuildOptions options;
  options.kind = kind;
  options.threads = 1;  // FAISS's k-means is then the same on every machine
  return options;
}

TEST(VectorIndexTest, ExactSearchEqualsBruteForce) {
  constexpr int64_t kDim = 16;
  const auto base = Blobs(2000, kDim, 20, 0.3, 1);
  const auto queries = Blobs(50, kDim, 20, 0.3, 2);
  BuildReport report;
  ASSERT_OK_AND_ASSIGN(auto index,
                       VectorIndex::Build(base.data(), 2000, kDim, Options(kKindAuto), &report));
  EXPECT_EQ(report.kind, kKindFlat);  // 2,000 rows: exact
  EXPECT_DOUBLE_EQ(report.recall_at_10, 1.0);
  ASSERT_OK_AND_ASSIGN(auto found, index.Search(queries.data(), 50, 10));
  for (int64_t query = 0; query < 50; ++query) {
    const auto truth = BruteForce(base, kDim, queries.data() + query * kDim, 10);
    // Compared as sets of the first 9 with the 10th's distance equal: float ties may swap.
    for (int64_t rank = 0; rank < 10; ++rank) {
      const int64_t got = found.ids[static_cast<size_t>(query * 10 + rank)];
      const float expected_distance =
          CosineDistance(base.data() + truth[static_cast<size_t>(rank)] * kDim,
                         queries.data() + query * kDim, kDim);
      EXPECT_NEAR(found.distances[static_cast<size_t>(query * 10 + rank)], expected_distance, 1e-4)
          << "query " << query << " rank " << rank << " got row " << got;
    }
    EXPECT_EQ(found.ids[static_cast<size_t>(query * 10)], truth[0]);
  }
}

TEST(VectorIndexTest, ManyQueriesAreSearchedInBlocksWithTheSameAnswers) {
  // More queries than one FAISS call takes (blocks of 16,384): every query still gets its
  // own neighbours, in its own place, whichever block it fell in.
  constexpr int64_t kDim = 8;
  constexpr int64_t kQueries = 40000;
  const auto base = Blobs(300, kDim, 10, 0.3, 3);
  const auto queries = Blobs(kQueries, kDim, 10, 0.3, 4);
  BuildReport report;
  ASSERT_OK_AND_ASSIGN(auto index,
                       VectorIndex::Build(base.data(), 300, kDim, Options(kKindFlat), &report));
  ASSERT_OK_AND_ASSIGN(auto all, index.Search(queries.data(), kQueries, 3));
  ASSERT_EQ(all.ids.size(), static_cast<size_t>(kQueries * 3));
  for (const int64_t query :
       {int64_t{0}, int64_t{16383}, int64_t{16384}, int64_t{32768}, int64_t{39999}}) {
    ASSERT_OK_AND_ASSIGN(auto one, index.Search(queries.data() + query * kDim, 1, 3));
    for (int64_t rank = 0; rank < 3; ++rank) {
      EXPECT_EQ(all.ids[static_cast<size_t>(query * 3 + rank)], one.ids[static_cast<size_t>(rank)])
          << "query " << query;
    }
    EXPECT_EQ(all.ids[static_cast<size_t>(query * 3)],
              BruteForce(base, kDim, queries.data() + query * kDim, 1)[0]);
  }
}

TEST(VectorIndexTest, ApproximateIndexReachesItsRecallBound) {
  constexpr int64_t kRows = 6000;
  constexpr int64_t kDim = 16;
  // The last 300 rows are queries from the same blobs that the index never sees.
  const auto all = Blobs(kRows + 300, kDim, 50, 0.4, 3);
  const std::vector<float> base(all.begin(), all.begin() + kRows * kDim);
  const std::vector<float> queries(all.begin() + kRows * kDim, all.end());
  BuildReport report;
  ASSERT_OK_AND_ASSIGN(auto index,
                       VectorIndex::Build(base.data(), kRows, kDim, Options(kKindIvfPq), &report));
  EXPECT_EQ(report.kind, kKindIvfPq);
  EXPECT_GE(report.recall_at_10, kTargetRecall)
      << "nprobe " << report.nprobe << " of " << report.lists;
  EXPECT_GT(report.lists, 1);
  // Compressed: well under the 64 bytes a float32 vector of 16 values takes (codes + ids).
  EXPECT_LT(static_cast<double>(report.index_bytes) / kRows, 48.0);
  // Recall on queries the index never saw, against exact search.
  ASSERT_OK_AND_ASSIGN(auto found, index.Search(queries.data(), 300, 10));
  const auto exact = ExactNeighbours(base.data(), kRows, queries.data(), 300, kDim, 10, 1);
  EXPECT_GE(RecallAt(found, exact, 10), 0.9);
}

// What the Spark job does: train on the driver, add shards to copies of the trained index
// (serialized and read back, as each task does), append them in order, tune. The result
// must be the one-process Build's, byte for byte, for both kinds.
TEST(VectorIndexTest, ShardedBuildEqualsBuild) {
  constexpr int64_t kRows = 3000;
  constexpr int64_t kDim = 16;
  const auto base = Blobs(kRows, kDim, 30, 0.4, 7);
  for (const char* kind : {kKindFlat, kKindIvfPq}) {
    SCOPED_TRACE(kind);
    BuildReport whole_report;
    ASSERT_OK_AND_ASSIGN(
        auto whole, VectorIndex::Build(base.data(), kRows, kDim, Options(kind), &whole_report));
    BuildReport report;
    ASSERT_OK_AND_ASSIGN(auto merged,
                         VectorIndex::Train(base.data(), kRows, kDim, Options(kind), &report));
    ASSERT_OK_AND_ASSIGN(const std::string trained, merged.Serialize());
    // Uneven shards, one of them empty.
    const std::vector<int64_t> bounds = {0, 1000, 1000, 2200, kRows};
    for (size_t shard = 0; shard + 1 < bounds.size(); ++shard) {
      ASSERT_OK_AND_ASSIGN(auto copy, VectorIndex::Deserialize(trained, 0, kDim, 1, "trained"));
      ASSERT_OK(copy.Add(base.data() + bounds[shard] * kDim, bounds[shard + 1] - bounds[shard]));
      ASSERT_OK_AND_ASSIGN(const std::string shard_bytes, copy.Serialize());
      ASSERT_OK_AND_ASSIGN(
          auto read, VectorIndex::Deserialize(shard_bytes, bounds[shard + 1] - bounds[shard], kDim,
                                              1, "shard"));
      ASSERT_OK(merged.Append(std::move(read)));
    }
    ASSERT_EQ(merged.size(), kRows);
    ASSERT_OK(merged.Tune(base.data(), kRows, Options(kind).seed, &report));
    EXPECT_EQ(report.nprobe, whole_report.nprobe);
    EXPECT_DOUBLE_EQ(report.recall_at_10, whole_report.recall_at_10);
    ASSERT_OK_AND_ASSIGN(const std::string merged_bytes, merged.Serialize());
    ASSERT_OK_AND_ASSIGN(const std::string whole_bytes, whole.Serialize());
    EXPECT_TRUE(merged_bytes == whole_bytes) << "the merged index differs from Build's";
  }
  // An index of another kind is not appended.
  ASSERT_OK_AND_ASSIGN(auto flat,
                       VectorIndex::Build(base.data(), kRows, kDim, Options(kKindFlat), nullptr));
  ASSERT_OK_AND_ASSIGN(auto ivf,
                       VectorIndex::Build(base.data(), kRows, kDim, Options(kKindIvfPq), nullptr));
  EXPECT_FALSE(flat.Append(std::move(ivf)).ok());
}

// A memory bound with room for PQ codes but not for the re-ranking copy gives the plain
// inverted file within the bound (the re-ranking copy is dropped, not the bound).
TEST(VectorIndexTest, TightBoundDropsReRanking) {
  constexpr int64_t kRows = 4000;
  constexpr int64_t kDim = 16;
  const auto base = Blobs(kRows, kDim, 10, 0.3, 8);
  BuildReport roomy;
  ASSERT_OK(VectorIndex::Build(base.data(), kRows, kDim, Options(kKindIvfPq), &roomy).status());
  EXPECT_EQ(roomy.code_bytes, kDim / 4 + kDim);  // PQ + 8-bit copy
  BuildOptions tight = Options(kKindIvfPq);
  // 102 lists: centroids and codebooks, then 8 code bytes and the 8-byte id a vector.
  tight.max_memory_bytes = (102 + 256) * kDim * 4 + kRows * (8 + 8) + kRows - 1;
  BuildReport report;
  ASSERT_OK(VectorIndex::Build(base.data(), kRows, kDim, tight, &report).status());
  EXPECT_EQ(report.code_bytes, 8);
  EXPECT_LE(report.index_bytes, tight.max_memory_bytes);
}

TEST(VectorIndexTest, AutoChoosesIvfPqWhenExactWouldExceedTheMemoryBound) {
  constexpr int64_t kRows = 4000;
  constexpr int64_t kDim = 16;
  const auto base = Blobs(kRows, kDim, 10, 0.3, 4);
  BuildOptions options = Options(kKindAuto);
  options.max_memory_bytes = kRows * kDim * 4 / 2;  // half an exact index
  BuildReport report;
  ASSERT_OK_AND_ASSIGN(auto index, VectorIndex::Build(base.data(), kRows, kDim, options, &report));
  EXPECT_EQ(report.kind, kKindIvfPq);
  EXPECT_LE(report.index_bytes, options.max_memory_bytes);
  // --kind flat under the same bound is refused, naming the bound.
  auto refused = VectorIndex::Build(
      base.data(), kRows, kDim, BuildOptions{kKindFlat, options.max_memory_bytes, 1, 42}, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--max-memory"), std::string::npos);
  // Too few rows to train product quantizers.
  auto few = VectorIndex::Build(base.data(), 100, kDim, Options(kKindIvfPq), nullptr);
  ASSERT_FALSE(few.ok());
  EXPECT_NE(few.status().message().find("--kind flat"), std::string::npos);
}

TEST(VectorIndexTest, KLargerThanTheIndexGivesMissingNeighbours) {
  const auto base = Blobs(5, 8, 2, 0.3, 5);
  ASSERT_OK_AND_ASSIGN(auto index,
                       VectorIndex::Build(base.data(), 5, 8, Options(kKindAuto), nullptr));
  ASSERT_OK_AND_ASSIGN(auto found, index.Search(base.data(), 1, 8));
  std::set<int64_t> seen;
  for (int64_t rank = 0; rank < 8; ++rank) {
    const int64_t id = found.ids[static_cast<size_t>(rank)];
    if (rank < 5) {
      EXPECT_GE(id, 0);
      seen.insert(id);
    } else {
      EXPECT_EQ(id, -1);
      EXPECT_TRUE(std::isinf(found.distances[static_cast<size_t>(rank)]));
    }
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(found.ids[0], 0);  // a row's nearest neighbour is itself
  EXPECT_FALSE(index.Search(base.data(), 1, 0).ok());
}

TEST(VectorIndexTest, SerializedIndexRoundTripsAndDamagedBytesAreRefused) {
  for (const char* kind : {kKindFlat, kKindIvfPq}) {
    SCOPED_TRACE(kind);
    constexpr int64_t kRows = 3000;
    constexpr int64_t kDim = 12;
    const auto base = Blobs(kRows, kDim, 10, 0.3, 6);
    BuildReport report;
    ASSERT_OK_AND_ASSIGN(auto index,
                         VectorIndex::Build(base.data(), kRows, kDim, Options(kind), &report));
    ASSERT_OK_AND_ASSIGN(auto bytes, index.Serialize());
    ASSERT_OK_AND_ASSIGN(auto loaded,
                         VectorIndex::Deserialize(bytes, kRows, kDim, report.nprobe, "test.faiss"));
    ASSERT_OK_AND_ASSIGN(auto before, index.Search(base.data(), 20, 5));
    ASSERT_OK_AND_ASSIGN(auto after, loaded.Search(base.data(), 20, 5));
    EXPECT_EQ(before.ids, after.ids);
    EXPECT_EQ(before.distances, after.distances);
    // Truncated anywhere: refused, never a crash.
    for (size_t keep : {size_t{0}, size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
      auto truncated = VectorIndex::Deserialize(std::string_view(bytes).substr(0, keep), kRows,
                                                kDim, report.nprobe, "test.faiss");
      EXPECT_FALSE(truncated.ok()) << keep << " bytes";
    }
    // Not the size or dimension the manifest says.
    EXPECT_FALSE(VectorIndex::Deserialize(bytes, kRows + 1, kDim, report.nprobe, "t").ok());
    EXPECT_FALSE(VectorIndex::Deserialize(bytes, kRows, kDim + 100, report.nprobe, "t").ok());
    if (std::string(kind) == kKindIvfPq) {
      // The re-ranked index ends with its shortlist factor (FAISS's IndexRefine format): one
      // that would multiply every search's memory by 10^9 is refused.
      auto with_factor = [&](float factor) {
        std::string changed = bytes;
        std::memcpy(changed.data() + changed.size() - sizeof(factor), &factor, sizeof(factor));
        return changed;
      };
      EXPECT_TRUE(VectorIndex::Deserialize(with_factor(2), kRows, kDim, report.nprobe, "t").ok());
      EXPECT_FALSE(
          VectorIndex::Deserialize(with_factor(1e9f), kRows, kDim, report.nprobe, "t").ok());
    }
  }
}

TEST(VectorIndexTest, UnindexableRowsAreNanInfiniteOrZero) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> values = {1, 0, nan, 1, 0, 0, 0, inf, 0.5f, 0.5f};
  EXPECT_EQ(UnindexableRows(values.data(), 5, 2), (std::vector<int64_t>{1, 2, 3}));
}

TEST(DedupTest, PlantedCopiesAreGroupedAndDistinctRowsAreNot) {
  constexpr int64_t kDim = 24;
  constexpr int64_t kDistinct = 400;
  // Distinct rows: one centre plus noise as large, about 0.5 apart in cosine distance.
  auto values = Blobs(kDistinct, kDim, 1, 1.0, 7);
  // Plant 3 copies (tiny noise) of rows 10, 50 and 300: 9 more rows.
  std::mt19937_64 engine(8);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  std::vector<int64_t> originals = {10, 50, 300};
  std::vector<float> raw(values);
  for (int64_t original : originals) {
    for (int copy = 0; copy < 3; ++copy) {
      for (int64_t col = 0; col < kDim; ++col) {
        raw.push_back(values[static_cast<size_t>(original * kDim + col)] + noise(engine));
      }
    }
  }
  const int64_t rows = static_cast<int64_t>(raw.size()) / kDim;
  const auto unit = Normalized(raw.data(), rows, kDim);
  ASSERT_OK_AND_ASSIGN(auto index,
                       VectorIndex::Build(unit.data(), rows, kDim, Options(kKindFlat), nullptr));
  ASSERT_OK_AND_ASSIGN(auto neighbours, index.Search(unit.data(), rows, kDedupNeighbours));
  const auto members = GroupDuplicates(neighbours, unit.data(), kDim, kDefaultDuplicateDistance);
  ASSERT_EQ(members.size(), 12u);
  for (int64_t group = 0; group < 3; ++group) {
    const auto* first = &members[static_cast<size_t>(group * 4)];
    EXPECT_TRUE(first->representative);
    EXPECT_EQ(first->row, originals[static_cast<size_t>(group)]);
    for (int idx = 1; idx < 4; ++idx) {
      EXPECT_EQ(first[idx].group, group);
      EXPECT_FALSE(first[idx].representative);
      EXPECT_EQ(first[idx].row, kDistinct + group * 3 + idx - 1);
      EXPECT_GT(first[idx].distance, 0.0f);
      EXPECT_LT(first[idx].distance, kDefaultDuplicateDistance);
    }
  }
}

TEST(IndexFilesTest, ManifestAndMetricsRoundTripAndRefuseDamage) {
  IndexManifest manifest;
  manifest.orchard_version = "1.0";
  manifest.source = "out";
  manifest.vectors = "pca";
  manifest.rows = 7;
  manifest.dim = 3;
  manifest.kind = kKindIvfPq;
  manifest.nprobe = 4;
  manifest.backbone_sha256 = "ab";
  manifest.pca_sha256 = "cd";
  manifest.index_sha256 = "ef";
  manifest.index_bytes = 99;
  manifest.rows_sha256 = "01";
  ASSERT_OK_AND_ASSIGN(auto back, ManifestFromJson(ToJson(manifest), "m.json"));
  EXPECT_EQ(ToJson(back), ToJson(manifest));
  auto wrong = ToJson(manifest);
  wrong["rows"] = "seven";
  auto refused = ManifestFromJson(wrong, "m.json");
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("m.json: 'rows'"), std::string::npos);
  wrong = ToJson(manifest);
  wrong["format_version"] = 2;
  EXPECT_FALSE(ManifestFromJson(wrong, "m.json").ok());

  IndexMetrics metrics;
  metrics.vectors = "pca";
  metrics.build.kind = kKindFlat;
  metrics.build.recall_at_10 = 0.987654321;
  metrics.read_seconds = 1.25;
  metrics.threads = 2;
  ASSERT_OK_AND_ASSIGN(auto metrics_back, MetricsFromJson(ToJson(metrics), "metrics.json"));
  EXPECT_EQ(ToJson(metrics_back), ToJson(metrics));
}

}  // namespace
}  // namespace orchard::index
