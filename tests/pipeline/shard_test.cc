// pipeline/shard.h: the unit of work of both front ends. JobFingerprint (what --resume
// compares), ProjectParts, FeaturizeShard on real images with the shipped model (parts,
// names, reuse, and staged parts that must not be reused), RemoveStrayStagedFiles.
#include "orchard/pipeline/shard.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/output/commit.h"
#include "orchard/output/layout.h"
#include "orchard/table/tables.h"

namespace orchard::pipeline {
namespace {

namespace fs = std::filesystem;

io::Location LocalLocation(const fs::path& path) {
  auto location = io::ResolveLocation(path.string(), io::StorageOptions{});
  EXPECT_TRUE(location.ok()) << location.status().ToString();
  return *location;
}

// The files (relative paths, folders marked with a trailing '/') below `root`.
std::set<std::string> TreeOf(const fs::path& root) {
  std::set<std::string> entries;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    std::string relative = fs::relative(entry.path(), root).string();
    if (entry.is_directory() && !entry.is_symlink()) relative += "/";
    entries.insert(relative);
  }
  return entries;
}

void WriteVectorPart(const fs::path& path, const char* column, const table::VectorRows& rows) {
  auto batch = table::MakeVectorBatch(column, rows);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  fs::create_directories(path.parent_path());
  ASSERT_OK(table::WriteParquet(LocalLocation(path), **batch));
}

// ---------------------------------------------------------------------------------------
// JobFingerprint

std::vector<ImageItem> SomeItems() {
  return {{"cat/a.jpg", "cat", "cat/a.jpg", 100, 1'700'000'000'000'000'001},
          {"cat/b.jpg", "cat", "cat/b.jpg", 200, 1'700'000'000'000'000'002},
          {"dog/c.png", "dog", "dog/c.png", 300, 1'700'000'000'000'000'003}};
}

struct FingerprintInputs {
  std::vector<ImageItem> items = SomeItems();
  std::string model_sha256 = std::string(64, 'a');
  std::string output_name = "features";
  int64_t rows_per_part = 1024;
  int batch_size = 32;
  int64_t max_pixels = int64_t{64} << 20;
  int64_t max_file_bytes = int64_t{256} << 20;

  std::string Fingerprint() const {
    return JobFingerprint(items, model_sha256, output_name, rows_per_part, batch_size, max_pixels,
                          max_file_bytes);
  }
};

TEST(JobFingerprintTest, IsStableAndStatesTheJob) {
  const FingerprintInputs inputs;
  const std::string fingerprint = inputs.Fingerprint();
  EXPECT_EQ(inputs.Fingerprint(), fingerprint);
  FingerprintInputs copy;
  EXPECT_EQ(copy.Fingerprint(), fingerprint);
  // A versioned text that --resume compares whole; the listing enters as a digest.
  EXPECT_EQ(fingerprint.rfind("orchard-job-2\n", 0), 0u) << fingerprint;
  EXPECT_NE(fingerprint.find("model=" + inputs.model_sha256), std::string::npos);
  EXPECT_NE(fingerprint.find(" count=3\n"), std::string::npos) << fingerprint;
  EXPECT_EQ(fingerprint.find("cat/a.jpg"), std::string::npos) << "names are hashed, not listed";
}

TEST(JobFingerprintTest, ChangesWithEachInputItCovers) {
  const std::string base = FingerprintInputs{}.Fingerprint();
  std::vector<std::pair<std::string, std::function<void(FingerprintInputs&)>>> changes = {
      {"a path", [](auto& in) { in.items[1].path = "cat/B.jpg"; }},
      {"a size", [](auto& in) { in.items[1].size += 1; }},
      {"an mtime", [](auto& in) { in.items[2].mtime_ns += 1; }},
      {"one image fewer", [](auto& in) { in.items.pop_back(); }},
      {"one image more",
       [](auto& in) {
         in.items.push_back({"z.jpg", "", "z.jpg", 1, 1});
       }},
      {"no images", [](auto& in) { in.items.clear(); }},
      {"the model sha", [](auto& in) { in.model_sha256.back() = 'b'; }},
      {"the output name", [](auto& in) { in.output_name = "features2"; }},
      {"rows_per_part", [](auto& in) { in.rows_per_part = 1023; }},
      {"batch", [](auto& in) { in.batch_size = 16; }},
      {"max_pixels", [](auto& in) { in.max_pixels -= 1; }},
      {"max_file_bytes", [](auto& in) { in.max_file_bytes += 1; }},
  };
  std::set<std::string> seen = {base};
  for (const auto& [name, change] : changes) {
    FingerprintInputs inputs;
    change(inputs);
    const std::string changed = inputs.Fingerprint();
    EXPECT_NE(changed, base) << name;
    // Each change gives its own fingerprint, not one shared "something changed" value.
    EXPECT_TRUE(seen.insert(changed).second) << name;
  }
}

TEST(JobFingerprintTest, NamesWithTabsAndNewlinesDoNotCollide) {
  // Written with tab and newline separators and no lengths, both listings would read
  // "a\t1\t2\nb\t3\t4\nc\t5\t6\n": the first name swallows a whole row of the second.
  const std::vector<ImageItem> swallowing = {{"a\t1\t2\nb", "", "", 3, 4}, {"c", "", "", 5, 6}};
  const std::vector<ImageItem> plain = {{"a", "", "", 1, 2}, {"b\t3\t4\nc", "", "", 5, 6}};
  const std::string sha(64, '0');
  EXPECT_NE(JobFingerprint(swallowing, sha, "out", 8, 8, 1, 1),
            JobFingerprint(plain, sha, "out", 8, 8, 1, 1));
  // Lengths that look like the length prefix itself.
  const std::vector<ImageItem> digits = {{"1:a", "", "", 1, 1}};
  const std::vector<ImageItem> colon = {{"1", "", "", 1, 1}};
  EXPECT_NE(JobFingerprint(digits, sha, "out", 8, 8, 1, 1),
            JobFingerprint(colon, sha, "out", 8, 8, 1, 1));
}

TEST(JobFingerprintTest, OptionsCannotBleedIntoEachOther) {
  // The options are separated by names, so moving a digit from one to the next changes it.
  const std::vector<ImageItem> items = SomeItems();
  const std::string sha(64, 'c');
  EXPECT_NE(JobFingerprint(items, sha, "out", 12, 3, 45, 6),
            JobFingerprint(items, sha, "out", 1, 23, 4, 56));
  EXPECT_NE(JobFingerprint(items, sha, "out a", 1, 1, 1, 1),
            JobFingerprint(items, sha + " output=out", "a", 1, 1, 1, 1));
}

// ---------------------------------------------------------------------------------------
// ProjectParts

table::VectorRows RandomRows(int64_t count, int64_t dim, uint32_t seed, const std::string& prefix) {
  std::mt19937 random(seed);
  std::uniform_real_distribution<float> uniform(-3.0f, 3.0f);
  table::VectorRows rows;
  rows.dim = dim;
  for (int64_t row = 0; row < count; ++row) {
    rows.paths.push_back(prefix + std::to_string(row) + ".jpg");
    rows.labels.push_back(row % 2 == 0 ? "even" : "odd");
    for (int64_t col = 0; col < dim; ++col) {
      rows.values.push_back(uniform(random) * static_cast<float>(col + 1));
    }
  }
  return rows;
}

pca::PcaModel ModelOf(const std::vector<table::VectorRows>& parts, int64_t k) {
  pca::PcaStats stats(parts.front().dim);
  for (const auto& part : parts) stats.Add(part.values.data(), part.num_rows());
  pca::PcaFitOptions options;
  options.k = k;
  auto model = pca::FitPca(stats, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return *model;
}

TEST(ProjectPartsTest, ProjectsEachPartUnderItsNameRowByRow) {
  orchard::testing::TempDir dir;
  const std::vector<table::VectorRows> parts = {RandomRows(7, 5, 1, "a"), RandomRows(4, 5, 2, "b"),
                                                RandomRows(0, 5, 3, "c")};
  // Non-consecutive indices, as a shard starting at part 3 has.
  const std::vector<int64_t> indices = {3, 4, 9};
  std::vector<io::Location> locations;
  for (size_t idx = 0; idx < parts.size(); ++idx) {
    const fs::path path = dir.path() / "features" / table::PartName(indices[idx]);
    WriteVectorPart(path, table::kFeaturesColumn, parts[idx]);
    locations.push_back(LocalLocation(path));
  }
  const pca::PcaModel model = ModelOf(parts, /*k=*/3);
  ASSERT_OK(ProjectParts(locations, model, LocalLocation(dir.path() / "pca"), /*threads=*/2));

  std::set<std::string> expected_names;
  for (const int64_t index : indices) expected_names.insert(table::PartName(index));
  EXPECT_EQ(TreeOf(dir.path() / "pca"), expected_names);
  for (size_t idx = 0; idx < parts.size(); ++idx) {
    table::VectorRows projected;
    ASSERT_OK_AND_ASSIGN(
        projected,
        table::ReadVectorFile(LocalLocation(dir.path() / "pca" / table::PartName(indices[idx])),
                              table::kPcaColumn));
    EXPECT_EQ(projected.paths, parts[idx].paths);
    EXPECT_EQ(projected.labels, parts[idx].labels);
    ASSERT_EQ(projected.num_rows(), parts[idx].num_rows());
    if (projected.num_rows() > 0) {
      EXPECT_EQ(projected.dim, model.k);
    }
    // Row by row through PcaModel::Project: the same floats, not merely close ones.
    for (int64_t row = 0; row < parts[idx].num_rows(); ++row) {
      std::vector<float> want(static_cast<size_t>(model.k));
      model.Project(parts[idx].values.data() + row * parts[idx].dim, 1, want.data());
      for (int64_t comp = 0; comp < model.k; ++comp) {
        EXPECT_EQ(projected.values[static_cast<size_t>(row * model.k + comp)],
                  want[static_cast<size_t>(comp)])
            << "part " << indices[idx] << " row " << row << " component " << comp;
      }
    }
  }
}

TEST(ProjectPartsTest, RefusesAPartOfAnotherWidthNamingIt) {
  orchard::testing::TempDir dir;
  const auto good = RandomRows(6, 4, 1, "g");
  const auto narrow = RandomRows(3, 3, 2, "n");
  WriteVectorPart(dir.path() / "features" / table::PartName(0), table::kFeaturesColumn, good);
  WriteVectorPart(dir.path() / "features" / table::PartName(1), table::kFeaturesColumn, narrow);
  const pca::PcaModel model = ModelOf({good}, /*k=*/2);
  const std::vector<io::Location> locations = {
      LocalLocation(dir.path() / "features" / table::PartName(0)),
      LocalLocation(dir.path() / "features" / table::PartName(1))};
  for (const int threads : {1, 2}) {
    const Status status =
        ProjectParts(locations, model, LocalLocation(dir.path() / "pca"), threads);
    ASSERT_FALSE(status.ok()) << threads;
    EXPECT_TRUE(status.IsInvalid());
    EXPECT_NE(status.message().find(locations[1].display), std::string::npos) << status.ToString();
    EXPECT_NE(status.message().find("3-d"), std::string::npos) << status.ToString();
    EXPECT_NE(status.message().find("expects 4"), std::string::npos) << status.ToString();
  }
  // A features part that is not a table at all is refused too, not projected as empty.
  std::ofstream(dir.path() / "features" / table::PartName(1), std::ios::trunc) << "not parquet";
  EXPECT_FALSE(ProjectParts(locations, model, LocalLocation(dir.path() / "pca"), 1).ok());
}

// ---------------------------------------------------------------------------------------
// FeaturizeShard and RemoveStrayStagedFiles

// The shipped model, loaded once for the suite (it takes a while).
class ShardTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { embedder_ = orchard::testing::LoadTestEmbedder(); }
  static void TearDownTestSuite() {
    delete embedder_;
    embedder_ = nullptr;
  }
  void SetUp() override {
    ASSERT_NE(embedder_, nullptr);
    // 7 images in listing order: 5 real ones and one that is not an image, so that part
    // 1 of 2-row parts holds a failure: a/0.png a/1.png | a/2.png a/broken.jpg | b/0.png
    // b/1.png | b/2.png.
    for (const auto& [folder, count] : {std::pair{"a", 3}, std::pair{"b", 3}}) {
      fs::create_directories(dir_.path() / "in" / folder);
      for (int idx = 0; idx < count; ++idx) {
        cv::Mat image(24 + 8 * idx, 32, CV_8UC3,
                      cv::Scalar(40 * idx, folder[0] == 'a' ? 200 : 20, 90 + 30 * idx));
        cv::imwrite((dir_.path() / "in" / folder / (std::to_string(idx) + ".png")).string(), image);
      }
    }
    std::ofstream(dir_.path() / "in" / "a" / "broken.jpg") << "not an image";
    input_ = LocalLocation(dir_.path() / "in");
    staging_ = LocalLocation(dir_.path() / "staging");
    auto items = ListImages(input_);
    ASSERT_TRUE(items.ok()) << items.status().ToString();
    items_ = *items;
    ASSERT_EQ(items_.size(), 7u);
    ASSERT_EQ(items_[3].path, "a/broken.jpg");
    options_.batch_size = 2;
    options_.rows_per_part = 2;
    options_.prep_threads = 2;
    options_.on_warning = [this](const std::string& warning) { warnings_.push_back(warning); };
  }

  Result<ShardOutcome> Run() {
    return FeaturizeShard(items_, input_, *embedder_, staging_, options_, /*threads=*/2);
  }
  fs::path FeaturesPart(int64_t index) const {
    return dir_.path() / "staging" / output::kFeaturesDir / table::PartName(index);
  }
  fs::path ErrorsPart(int64_t index) const {
    return dir_.path() / "staging" / output::kErrorsDir / table::PartName(index);
  }
  table::VectorRows ReadFeatures(int64_t index) const {
    auto rows = table::ReadVectorFile(LocalLocation(FeaturesPart(index)), table::kFeaturesColumn);
    EXPECT_TRUE(rows.ok()) << rows.status().ToString();
    return rows.ok() ? *rows : table::VectorRows{};
  }

  static model::Embedder* embedder_;
  orchard::testing::TempDir dir_;
  io::Location input_;
  io::Location staging_;
  std::vector<ImageItem> items_;
  FeaturizeOptions options_;
  std::vector<std::string> warnings_;
};

model::Embedder* ShardTest::embedder_ = nullptr;

void ExpectSameStats(const pca::PcaStats& got, const pca::PcaStats& want) {
  EXPECT_EQ(got.dim(), want.dim());
  EXPECT_EQ(got.count(), want.count());
  EXPECT_EQ(got.sum(), want.sum());
  EXPECT_EQ(got.cross(), want.cross());
}

// Equal up to the order of float64 additions (a part merged at another place of the sum).
void ExpectNearStats(const pca::PcaStats& got, const pca::PcaStats& want) {
  ASSERT_EQ(got.dim(), want.dim());
  EXPECT_EQ(got.count(), want.count());
  ASSERT_EQ(got.sum().size(), want.sum().size());
  for (size_t idx = 0; idx < got.sum().size(); ++idx) {
    EXPECT_NEAR(got.sum()[idx], want.sum()[idx], 1e-9 * (1 + std::abs(want.sum()[idx])));
  }
  ASSERT_EQ(got.cross().size(), want.cross().size());
  for (size_t idx = 0; idx < got.cross().size(); ++idx) {
    ASSERT_NEAR(got.cross()[idx], want.cross()[idx], 1e-9 * (1 + std::abs(want.cross()[idx])))
        << idx;
  }
}

TEST_F(ShardTest, WritesThePartsAndRowsOfTheListing) {
  ShardOutcome outcome;
  ASSERT_OK_AND_ASSIGN(outcome, Run());
  EXPECT_EQ(outcome.stats.images, 7);
  EXPECT_EQ(outcome.stats.ok, 6);
  EXPECT_EQ(outcome.stats.failed, 1);
  EXPECT_EQ(outcome.stats.parts_written, 4);
  EXPECT_EQ(outcome.stats.parts_reused, 0);
  EXPECT_EQ(outcome.stats.images_reused, 0);
  EXPECT_EQ(outcome.stats.dim, 1280);
  EXPECT_EQ(outcome.pca.count(), 6);
  EXPECT_EQ(outcome.pca.dim(), 1280);
  EXPECT_EQ(outcome.stats.pca.count(), 0) << "the statistics are moved to outcome.pca";
  // Four features parts of the listing's images in order; an errors part only where an
  // image failed.
  EXPECT_EQ(TreeOf(dir_.path() / "staging"),
            (std::set<std::string>{"features/", "errors/", "features/part-00000.parquet",
                                   "features/part-00001.parquet", "features/part-00002.parquet",
                                   "features/part-00003.parquet", "errors/part-00001.parquet"}));
  const std::vector<std::vector<std::string>> expected_paths = {
      {"a/0.png", "a/1.png"}, {"a/2.png"}, {"b/0.png", "b/1.png"}, {"b/2.png"}};
  pca::PcaStats from_files(1280);
  for (int64_t part = 0; part < 4; ++part) {
    const auto rows = ReadFeatures(part);
    EXPECT_EQ(rows.paths, expected_paths[static_cast<size_t>(part)]) << part;
    for (size_t row = 0; row < rows.paths.size(); ++row) {
      EXPECT_EQ(rows.labels[row], rows.paths[row].substr(0, 1));
    }
    EXPECT_EQ(rows.dim, 1280);
    from_files.Add(rows.values.data(), rows.num_rows());
  }
  std::vector<table::ErrorRecord> errors;
  ASSERT_OK_AND_ASSIGN(errors, table::ReadErrorsFile(LocalLocation(ErrorsPart(1))));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].path, "a/broken.jpg");
  // outcome.pca are the statistics of the rows written.
  ExpectNearStats(outcome.pca, from_files);
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ShardTest, FirstPartIndexOffsetsThePartNames) {
  options_.first_part_index = 7;
  ShardOutcome outcome;
  ASSERT_OK_AND_ASSIGN(outcome, Run());
  EXPECT_EQ(outcome.stats.parts_written, 4);
  EXPECT_EQ(TreeOf(dir_.path() / "staging"),
            (std::set<std::string>{"features/", "errors/", "features/part-00007.parquet",
                                   "features/part-00008.parquet", "features/part-00009.parquet",
                                   "features/part-00010.parquet", "errors/part-00008.parquet"}));
  EXPECT_EQ(ReadFeatures(9).paths, (std::vector<std::string>{"b/0.png", "b/1.png"}));
}

TEST_F(ShardTest, ASecondCallReusesEveryCompletePart) {
  ShardOutcome first;
  ASSERT_OK_AND_ASSIGN(first, Run());
  const std::string part_bytes = orchard::testing::ReadFile(FeaturesPart(2).string());
  ShardOutcome second;
  ASSERT_OK_AND_ASSIGN(second, Run());
  EXPECT_EQ(second.stats.parts_reused, 4);
  EXPECT_EQ(second.stats.parts_written, 0);
  EXPECT_EQ(second.stats.images_reused, 7);
  EXPECT_EQ(second.stats.images, 0);
  // Read back part by part and merged in part order, as the first call summed them: the
  // very same float64 statistics, so a resumed job fits the very same PCA.
  ExpectSameStats(second.pca, first.pca);
  EXPECT_EQ(orchard::testing::ReadFile(FeaturesPart(2).string()), part_bytes) << "not rewritten";
  EXPECT_TRUE(fs::exists(ErrorsPart(1)));
  EXPECT_TRUE(warnings_.empty());
}

TEST_F(ShardTest, PartsOutsideTheShardAreNeitherReusedNorTouched) {
  // Another shard's part (index 4, beyond this shard's 0..3) in the same staging folder.
  ShardOutcome first;
  ASSERT_OK_AND_ASSIGN(first, Run());
  fs::copy_file(FeaturesPart(0), FeaturesPart(4));
  const std::string foreign = orchard::testing::ReadFile(FeaturesPart(4).string());
  ShardOutcome second;
  ASSERT_OK_AND_ASSIGN(second, Run());
  EXPECT_EQ(second.stats.parts_reused, 4);
  ExpectSameStats(second.pca, first.pca);
  EXPECT_EQ(orchard::testing::ReadFile(FeaturesPart(4).string()), foreign);
}

// Each way a staged part can fail to be this shard's part: the call warns naming it,
// featurizes it again, and ends with the same files and statistics as a clean run.
TEST_F(ShardTest, ATamperedStagedPartIsRedoneAndReported) {
  ShardOutcome clean;
  ASSERT_OK_AND_ASSIGN(clean, Run());
  std::vector<table::VectorRows> clean_parts;
  for (int64_t part = 0; part < 4; ++part) clean_parts.push_back(ReadFeatures(part));
  const std::string part0_bytes = orchard::testing::ReadFile(FeaturesPart(0).string());
  const std::string part2_bytes = orchard::testing::ReadFile(FeaturesPart(2).string());

  struct Tamper {
    std::string name;
    int64_t part;
    std::function<void()> apply;
    std::string reason;  // in the warning
  };
  auto overwrite = [](const fs::path& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  };
  const std::vector<Tamper> tampers = {
      {"another part's rows", 2, [&] { overwrite(FeaturesPart(2), part0_bytes); }, "no row for"},
      {"truncated", 2,
       [&] { overwrite(FeaturesPart(2), part2_bytes.substr(0, part2_bytes.size() / 2)); },
       "Parquet"},
      {"wrong width", 2,
       [&] {
         table::VectorRows narrow = clean_parts[2];
         narrow.dim = 3;
         narrow.values.resize(static_cast<size_t>(narrow.num_rows() * 3));
         WriteVectorPart(FeaturesPart(2), table::kFeaturesColumn, narrow);
       },
       "3-d features"},
      {"a non-finite value", 3,
       [&] {
         table::VectorRows poisoned = clean_parts[3];
         poisoned.values[5] = std::numeric_limits<float>::quiet_NaN();
         WriteVectorPart(FeaturesPart(3), table::kFeaturesColumn, poisoned);
       },
       "non-finite"},
      {"a relabelled row", 0,
       [&] {
         table::VectorRows relabelled = clean_parts[0];
         relabelled.labels[1] = "b";
         WriteVectorPart(FeaturesPart(0), table::kFeaturesColumn, relabelled);
       },
       "another label"},
      {"its errors part lost", 1, [&] { fs::remove(ErrorsPart(1)); }, "a/broken.jpg"},
      {"an extra row", 1,
       [&] {
         table::VectorRows extra = clean_parts[1];
         extra.paths.push_back("b/0.png");
         extra.labels.push_back("b");
         extra.values.insert(extra.values.end(), clean_parts[2].values.begin(),
                             clean_parts[2].values.begin() + 1280);
         WriteVectorPart(FeaturesPart(1), table::kFeaturesColumn, extra);
       },
       "not its part"},
  };
  for (const auto& tamper : tampers) {
    SCOPED_TRACE(tamper.name);
    tamper.apply();
    warnings_.clear();
    ShardOutcome redone;
    ASSERT_OK_AND_ASSIGN(redone, Run());
    EXPECT_EQ(redone.stats.parts_reused, 3);
    EXPECT_EQ(redone.stats.parts_written, 1);
    ASSERT_EQ(warnings_.size(), 1u);
    EXPECT_NE(warnings_[0].find(staging_.display + "/features/" + table::PartName(tamper.part)),
              std::string::npos)
        << warnings_[0];
    EXPECT_NE(warnings_[0].find("is not reused"), std::string::npos) << warnings_[0];
    EXPECT_NE(warnings_[0].find(tamper.reason), std::string::npos) << warnings_[0];
    // The part is this shard's again: its images, its labels, the model's features.
    const auto rows = ReadFeatures(tamper.part);
    EXPECT_EQ(rows.paths, clean_parts[static_cast<size_t>(tamper.part)].paths);
    EXPECT_EQ(rows.labels, clean_parts[static_cast<size_t>(tamper.part)].labels);
    EXPECT_EQ(rows.dim, 1280);
    EXPECT_TRUE(fs::exists(ErrorsPart(1)));
    ExpectSameStats(redone.pca, clean.pca);
  }
}

TEST_F(ShardTest, AStaleErrorsPartOfARedonePartIsRemoved) {
  ShardOutcome clean;
  ASSERT_OK_AND_ASSIGN(clean, Run());
  // Part 2 (b/0.png, b/1.png: no failures) lost its features file, and an earlier attempt
  // left an errors part for it: redone, it has no failures, so no errors part may remain.
  fs::remove(FeaturesPart(2));
  auto stale = table::MakeErrorsBatch({{"b/0.png", "decode", "an earlier attempt failed"}});
  ASSERT_TRUE(stale.ok());
  ASSERT_OK(table::WriteParquet(LocalLocation(ErrorsPart(2)), **stale));
  ShardOutcome redone;
  ASSERT_OK_AND_ASSIGN(redone, Run());
  EXPECT_EQ(redone.stats.parts_written, 1);
  EXPECT_EQ(redone.stats.failed, clean.stats.failed);  // part 1's, reused
  EXPECT_FALSE(fs::exists(ErrorsPart(2)));
  EXPECT_TRUE(fs::exists(ErrorsPart(1)));  // a reused part keeps its errors
  EXPECT_EQ(ReadFeatures(2).paths, (std::vector<std::string>{"b/0.png", "b/1.png"}));
  ExpectSameStats(redone.pca, clean.pca);
}

// A shard that redoes one part and reuses the others sums the statistics of every part in
// part order, as a fresh run does: float64 addition is not associative, and any other
// order would give a resumed job a PCA that differs from a fresh job's in its last bits.
// The counts cover the reused parts' rows too (summary.json's ok and failed are the rows
// of the tables).
TEST_F(ShardTest, ARedonePartSumsAsAFreshRun) {
  ShardOutcome clean;
  ASSERT_OK_AND_ASSIGN(clean, Run());
  const table::VectorRows clean_part0 = ReadFeatures(0);
  fs::remove(FeaturesPart(0));
  ShardOutcome redone;
  ASSERT_OK_AND_ASSIGN(redone, Run());
  ASSERT_EQ(redone.stats.parts_reused, 3);
  const table::VectorRows redone_part0 = ReadFeatures(0);
  ASSERT_EQ(redone_part0.paths, clean_part0.paths);
  ASSERT_EQ(redone_part0.values, clean_part0.values) << "the model gave other features";
  ExpectSameStats(redone.pca, clean.pca);
  EXPECT_EQ(redone.stats.ok, clean.stats.ok);
  EXPECT_EQ(redone.stats.failed, clean.stats.failed);
  fs::remove(FeaturesPart(2));
  ASSERT_OK_AND_ASSIGN(redone, Run());  // a part in the middle
  ExpectSameStats(redone.pca, clean.pca);
}

TEST_F(ShardTest, APartWithAFailedReadIsReadAgain) {
  ShardOutcome clean;
  ASSERT_OK_AND_ASSIGN(clean, Run());
  // As if the store had refused a/broken.jpg on the first run: a "read" error row, which a
  // later run must retry (a throttled store answers the next time), not keep.
  auto refused = table::MakeErrorsBatch({{"a/broken.jpg", "read", "503 SlowDown"}});
  ASSERT_TRUE(refused.ok());
  ASSERT_OK(table::WriteParquet(LocalLocation(ErrorsPart(1)), **refused));
  ShardOutcome again;
  ASSERT_OK_AND_ASSIGN(again, Run());
  EXPECT_EQ(again.stats.parts_reused, 3);
  EXPECT_EQ(again.stats.parts_written, 1);
  std::vector<table::ErrorRecord> errors;
  ASSERT_OK_AND_ASSIGN(errors, table::ReadErrorsFile(LocalLocation(ErrorsPart(1))));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].stage, "decode");  // read this time; it is not an image
  EXPECT_EQ(again.stats.failed, clean.stats.failed);
  ExpectSameStats(again.pca, clean.pca);
}

TEST_F(ShardTest, AnEmptyShardWritesNothing) {
  items_.clear();
  ShardOutcome outcome;
  ASSERT_OK_AND_ASSIGN(outcome, Run());
  EXPECT_EQ(outcome.stats.images, 0);
  EXPECT_EQ(outcome.stats.parts_written, 0);
  EXPECT_EQ(outcome.pca.count(), 0);
}

TEST(RemoveStrayStagedFilesTest, RemovesExactlyTheStrays) {
  orchard::testing::TempDir dir;
  const fs::path staging = dir.path() / "staging";
  auto touch = [](const fs::path& path) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << "x";
  };
  // What the job makes again itself, for 3 parts: kept.
  const std::set<std::string> kept = {
      "features/",
      "errors/",
      "job.fingerprint",
      "features/part-00000.parquet",
      "features/part-00002.parquet",
      "errors/part-00001.parquet",
  };
  for (const auto& name : kept) {
    if (name.back() != '/') touch(staging / name);
  }
  // Strays in features/ and errors/: each is removed and reported.
  const std::set<std::string> reported = {
      "features/part-00003.parquet",      // a part beyond the job's
      "features/part-99999.parquet",      // far beyond it
      "features/notes.txt",               // not a part name
      "features/part-00001.parquet.tmp",  // a name PartName does not make
      "features/part-1.parquet",          // nor this
      "features/part-00001.parquet/",     // a folder with a part's name
      "errors/part-00003.parquet",
      "errors/.hidden",
  };
  for (const auto& name : reported) {
    if (name.back() == '/') {
      fs::create_directories(staging / name);
      touch(staging / name / "inside.parquet");
    } else {
      touch(staging / name);
    }
  }
  // Other staged entries: the PCA, projection and report of the interrupted run and
  // anything planted beside them; removed (they are always made anew).
  for (const auto& name : {"pca/part-00000.parquet", "pca_model/model.json", "report/summary.json",
                           "planted.txt", "_SUCCESS"}) {
    touch(staging / name);
  }

  std::vector<std::string> warnings;
  ASSERT_OK(
      RemoveStrayStagedFiles(LocalLocation(staging), /*num_parts=*/3,
                             [&](const std::string& warning) { warnings.push_back(warning); }));
  EXPECT_EQ(TreeOf(staging), kept);
  ASSERT_EQ(warnings.size(), reported.size());
  for (const auto& name : reported) {
    std::string bare = name.back() == '/' ? name.substr(0, name.size() - 1) : name;
    bool found = false;
    for (const auto& warning : warnings) {
      found = found || warning.find("'" + staging.string() + "/" + bare + "'") != std::string::npos;
    }
    EXPECT_TRUE(found) << name;
  }

  // Idempotent, and an absent staging folder is nothing to remove.
  warnings.clear();
  ASSERT_OK(RemoveStrayStagedFiles(LocalLocation(staging), 3, nullptr));
  EXPECT_EQ(TreeOf(staging), kept);
  ASSERT_OK(RemoveStrayStagedFiles(LocalLocation(dir.path() / "absent"), 3, nullptr));
}

TEST(RemoveStrayStagedFilesTest, ZeroPartsKeepsNoPart) {
  orchard::testing::TempDir dir;
  const fs::path staging = dir.path() / "staging";
  fs::create_directories(staging / "features");
  std::ofstream(staging / "features" / table::PartName(0)) << "x";
  std::ofstream(staging / output::kJobFingerprintFile) << "orchard-job-2\n";
  ASSERT_OK(RemoveStrayStagedFiles(LocalLocation(staging), 0, nullptr));
  EXPECT_EQ(TreeOf(staging), (std::set<std::string>{"features/", "job.fingerprint"}));
}

TEST(RemoveStrayStagedFilesTest, ALinkWithAPartNameIsRemovedNotItsTarget) {
  orchard::testing::TempDir dir;
  const fs::path staging = dir.path() / "staging";
  fs::create_directories(staging / "features");
  std::ofstream(dir.path() / "precious.txt") << "keep me";
  fs::create_directory(dir.path() / "precious-dir");
  std::ofstream(dir.path() / "precious-dir" / "file") << "keep me too";
  // Planted links: one to a folder under a part's name (a folder is never a part) and one
  // at the top of staging.
  fs::create_directory_symlink(dir.path() / "precious-dir",
                               staging / "features" / table::PartName(1));
  fs::create_symlink(dir.path() / "precious.txt", staging / "planted-link");
  ASSERT_OK(RemoveStrayStagedFiles(LocalLocation(staging), 2, nullptr));
  EXPECT_FALSE(fs::exists(fs::symlink_status(staging / "planted-link")));
  EXPECT_FALSE(fs::exists(fs::symlink_status(staging / "features" / table::PartName(1))));
  EXPECT_EQ(orchard::testing::ReadFile((dir.path() / "precious.txt").string()), "keep me");
  EXPECT_EQ(orchard::testing::ReadFile((dir.path() / "precious-dir" / "file").string()),
            "keep me too");
}

}  // namespace
}  // namespace orchard::pipeline
