// output/pca_files.h: the PCA model files of the output contract. WritePcaModel then
// ReadPcaModel gives back the very model (every float64 bit), components.parquet holds the
// model's components and variances exactly, and a model.json that is missing, damaged or
// not a file is refused with a message naming it.
#include "orchard/output/pca_files.h"

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/output/layout.h"
#include "orchard/pca/pca.h"

namespace orchard::output {
namespace {

namespace fs = std::filesystem;

// A model fitted from `rows` rows of `dim` correlated values (fixed seed: the same model
// on every run), so the numbers have full float64 mantissas, not round test values.
pca::PcaModel FittedModel(int64_t dim, int64_t rows, int64_t k) {
  std::mt19937 random(1234);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(dim * rows));
  for (int64_t row = 0; row < rows; ++row) {
    const float shared = normal(random);
    for (int64_t col = 0; col < dim; ++col) {
      values[static_cast<size_t>(row * dim + col)] =
          shared * static_cast<float>(col + 1) + 0.1f * normal(random) + static_cast<float>(col);
    }
  }
  pca::PcaStats stats(dim);
  stats.Add(values.data(), rows);
  pca::PcaFitOptions options;
  options.k = k;
  auto model = pca::FitPca(stats, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *model : pca::PcaModel{};
}

io::Location LocalRoot(const orchard::testing::TempDir& dir) {
  auto root = io::ResolveLocation(dir.str(), io::StorageOptions{});
  EXPECT_TRUE(root.ok()) << root.status().ToString();
  return *root;
}

void ExpectSameModel(const pca::PcaModel& got, const pca::PcaModel& want) {
  EXPECT_EQ(got.dim, want.dim);
  EXPECT_EQ(got.count, want.count);
  EXPECT_EQ(got.k, want.k);
  EXPECT_EQ(got.variance_threshold, want.variance_threshold);
  // Exact: == on doubles, so any rounding in the JSON text would show.
  EXPECT_EQ(got.mean, want.mean);
  EXPECT_EQ(got.components, want.components);
  EXPECT_EQ(got.explained_variance, want.explained_variance);
  EXPECT_EQ(got.explained_variance_ratio, want.explained_variance_ratio);
}

std::shared_ptr<arrow::Table> ReadParquet(const std::string& path) {
  auto file = arrow::io::ReadableFile::Open(path);
  EXPECT_TRUE(file.ok()) << file.status().ToString();
  auto reader = parquet::arrow::OpenFile(*file, arrow::default_memory_pool());
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  std::shared_ptr<arrow::Table> table;
  auto read = (*reader)->ReadTable(&table);
  EXPECT_TRUE(read.ok()) << read.ToString();
  auto combined = table->CombineChunks();
  EXPECT_TRUE(combined.ok());
  return *combined;
}

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

TEST(PcaFilesTest, ModelJsonRoundTripsExactly) {
  orchard::testing::TempDir dir;
  const io::Location root = LocalRoot(dir);
  for (const int64_t k : {1, 3, 6}) {  // one component, some, all of them
    const pca::PcaModel model = FittedModel(/*dim=*/6, /*rows=*/40, k);
    ASSERT_EQ(model.k, k);
    ASSERT_OK(WritePcaModel(model, root));
    pca::PcaModel read;
    ASSERT_OK_AND_ASSIGN(read, ReadPcaModel(root));
    ExpectSameModel(read, model);
    // Written again from what was read: the same bytes (a stable file).
    const std::string first = orchard::testing::ReadFile(dir.str() + "/" + kModelJson);
    ASSERT_OK(WritePcaModel(read, root));
    EXPECT_EQ(orchard::testing::ReadFile(dir.str() + "/" + kModelJson), first);
  }
}

TEST(PcaFilesTest, ComponentsParquetHoldsTheModelExactly) {
  orchard::testing::TempDir dir;
  const pca::PcaModel model = FittedModel(/*dim=*/5, /*rows=*/30, /*k=*/3);
  ASSERT_OK(WritePcaModel(model, LocalRoot(dir)));
  const auto table = ReadParquet(dir.str() + "/" + kComponentsParquet);
  ASSERT_EQ(table->num_rows(), model.k);
  ASSERT_EQ(table->schema()->ToString(),
            "component: int32\nexplained_variance: double\nexplained_variance_ratio: "
            "double\ncumulative_explained_variance_ratio: double\nvector: list<element: double>");
  const auto& component = static_cast<const arrow::Int32Array&>(*table->column(0)->chunk(0));
  const auto& variance = static_cast<const arrow::DoubleArray&>(*table->column(1)->chunk(0));
  const auto& ratio = static_cast<const arrow::DoubleArray&>(*table->column(2)->chunk(0));
  const auto& cumulative = static_cast<const arrow::DoubleArray&>(*table->column(3)->chunk(0));
  const auto& vectors = static_cast<const arrow::ListArray&>(*table->column(4)->chunk(0));
  const auto& values = static_cast<const arrow::DoubleArray&>(*vectors.values());
  ASSERT_EQ(table->column(0)->null_count() + table->column(4)->null_count(), 0);
  for (int64_t row = 0; row < model.k; ++row) {
    const auto idx = static_cast<size_t>(row);
    EXPECT_EQ(component.Value(row), row);
    EXPECT_EQ(variance.Value(row), model.explained_variance[idx]);
    EXPECT_EQ(ratio.Value(row), model.explained_variance_ratio[idx]);
    EXPECT_EQ(cumulative.Value(row), model.CumulativeRatio(row + 1));
    ASSERT_EQ(vectors.value_length(row), model.dim);
    for (int64_t col = 0; col < model.dim; ++col) {
      EXPECT_EQ(values.Value(vectors.value_offset(row) + col),
                model.components[static_cast<size_t>(row * model.dim + col)]);
    }
  }
  // The last cumulative ratio is the one model.json states.
  const auto json = nlohmann::json::parse(orchard::testing::ReadFile(dir.str() + "/" + kModelJson));
  EXPECT_EQ(json.at("cumulative_explained_variance_ratio").get<double>(),
            cumulative.Value(model.k - 1));
  // The scree plot is drawn by the report layer: jobs::WritePcaFiles writes it beside them.
  EXPECT_FALSE(fs::exists(dir.path() / kScreeSvg));
}

TEST(PcaFilesTest, AMissingModelSaysToRunFitPca) {
  orchard::testing::TempDir dir;
  auto read = ReadPcaModel(LocalRoot(dir));
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(read.status().IsInvalid());
  EXPECT_NE(read.status().message().find("orchard fit-pca"), std::string::npos)
      << read.status().ToString();
  EXPECT_NE(read.status().message().find(dir.str()), std::string::npos);
}

// Each damage of model.json, written over a good one: ReadPcaModel refuses it, names the
// file and, where there is one, the field.
TEST(PcaFilesTest, TamperedModelJsonIsRefusedNamingTheFile) {
  orchard::testing::TempDir dir;
  const io::Location root = LocalRoot(dir);
  const pca::PcaModel model = FittedModel(/*dim=*/4, /*rows=*/20, /*k=*/2);
  ASSERT_OK(WritePcaModel(model, root));
  const fs::path file = dir.path() / kModelJson;
  const std::string good_text = orchard::testing::ReadFile(file.string());
  const nlohmann::json good = nlohmann::json::parse(good_text);

  struct Damage {
    std::string name;
    std::string text;
    std::string field;  // what the message must name besides the file
  };
  auto edited = [&](const std::function<void(nlohmann::json&)>& edit) {
    nlohmann::json json = good;
    edit(json);
    return json.dump();
  };
  const std::vector<Damage> damages = {
      {"truncated", good_text.substr(0, good_text.size() / 2), "cannot parse"},
      {"empty", "", "cannot parse"},
      {"not an object", "[1, 2, 3]", "not a JSON object"},
      {"another format", edited([](auto& json) { json["format"] = "orchard-pca-0"; }), "format"},
      {"k above dim", edited([](auto& json) { json["k"] = 5; }), "'k'"},
      {"k zero", edited([](auto& json) { json["k"] = 0; }), "'k'"},
      {"fractional n", edited([](auto& json) { json["n"] = 20.5; }), "'n'"},
      {"a short mean", edited([](auto& json) { json["mean"].erase(0); }), "'mean'"},
      {"a null mean value", edited([](auto& json) { json["mean"][1] = nullptr; }), "'mean'[1]"},
      {"a negative variance", edited([](auto& json) { json["explained_variance"][0] = -1.0; }),
       "explained_variance"},
      {"a ratio above 1", edited([](auto& json) { json["explained_variance_ratio"][0] = 1.5; }),
       "ratio"},
      {"a missing component", edited([](auto& json) { json["components"].erase(1); }),
       "'components'"},
      {"a scaled component", edited([](auto& json) {
         for (auto& value : json["components"][1]) value = value.template get<double>() * 3;
       }),
       "'components'[1]"},
      {"a threshold above 1", edited([](auto& json) { json["variance_threshold"] = 2; }),
       "variance_threshold"},
  };
  for (const auto& damage : damages) {
    WriteText(file, damage.text);
    auto read = ReadPcaModel(root);
    ASSERT_FALSE(read.ok()) << damage.name;
    const std::string message = read.status().message();
    EXPECT_NE(message.find(dir.str() + "/" + kModelJson), std::string::npos)
        << damage.name << ": " << message;
    EXPECT_NE(message.find(damage.field), std::string::npos) << damage.name << ": " << message;
  }
  // The good text still reads: the refusals were the damage, not the file's place.
  WriteText(file, good_text);
  ASSERT_OK(ReadPcaModel(root).status());
}

TEST(PcaFilesTest, AModelJsonThatIsNotAFileIsRefusedWithoutBlocking) {
  orchard::testing::TempDir dir;
  const io::Location root = LocalRoot(dir);
  const fs::path file = dir.path() / kModelJson;
  fs::create_directories(file.parent_path());

  fs::create_directory(file);  // a folder
  auto folder = ReadPcaModel(root);
  ASSERT_FALSE(folder.ok());
  EXPECT_NE(folder.status().message().find(kModelJson), std::string::npos)
      << folder.status().ToString();
  fs::remove(file);

  // A FIFO with no writer: opening it would block forever.
  ASSERT_EQ(mkfifo(file.c_str(), 0600), 0);
  auto fifo = ReadPcaModel(root);
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find(kModelJson), std::string::npos)
      << fifo.status().ToString();
  fs::remove(file);

  // A dangling link.
  fs::create_symlink(dir.path() / "nowhere.json", file);
  auto dangling = ReadPcaModel(root);
  ASSERT_FALSE(dangling.ok());
  EXPECT_NE(dangling.status().message().find(kModelJson), std::string::npos)
      << dangling.status().ToString();
}

}  // namespace
}  // namespace orchard::output
