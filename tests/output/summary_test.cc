#include "orchard/output/summary.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../test_util.h"
#include "orchard/output/layout.h"
#include "orchard/util/text.h"

namespace orchard::output {
namespace {

using nlohmann::json;

TEST(SummaryTest, FitPcaHasNoImagesSection) {
  JobSummary summary;
  summary.command = "fit-pca";
  summary.model_path = "m.onnx";
  summary.model_output = "features";
  summary.pca = PcaSummary{3, 60, 1280, 0.99, 0.5};
  summary.seconds["total"] = 1.5;
  const json out = ToJson(summary);
  EXPECT_EQ(out["command"], "fit-pca");
  EXPECT_EQ(out["model"], (json{{"path", "m.onnx"}, {"output", "features"}}));
  EXPECT_EQ(out["pca"]["k"], 3);
  EXPECT_EQ(out["pca"]["n"], 60);
  EXPECT_EQ(out["pca"]["cumulative_explained_variance_ratio"], 0.5);
  EXPECT_EQ(out["seconds"]["total"], 1.5);
  EXPECT_FALSE(out.contains("images"));
  EXPECT_FALSE(out.contains("busy_seconds"));
  EXPECT_FALSE(out.contains("engine"));
}

TEST(SummaryTest, FeaturizeAddsImagesModelAndBusySeconds) {
  JobSummary summary;
  summary.command = "featurize";
  FeaturizeSummary featurize;
  featurize.model_sha256 = "abc";
  featurize.model_dim = 1280;
  featurize.listed = 10;
  featurize.ok = 8;
  featurize.failed = 2;
  featurize.embed_seconds = 0.25;
  summary.featurize = featurize;
  const json out = ToJson(summary);
  EXPECT_EQ(out["model"]["sha256"], "abc");
  EXPECT_EQ(out["model"]["dim"], 1280);
  EXPECT_EQ(out["images"],
            (json{{"listed", 10}, {"ok", 8}, {"failed", 2}, {"reused_from_interrupted_run", 0}}));
  EXPECT_EQ(out["busy_seconds"]["embed"], 0.25);
  EXPECT_FALSE(out.contains("pca"));
}

// Every field set, to values a careless reader would get wrong: doubles without a short
// decimal form, large integers, text that is not ASCII.
JobSummary FullSummary() {
  JobSummary summary;
  summary.orchard_version = "1.2.3";
  summary.command = "run";
  summary.input = "s3://bucket/images/caf\xC3\xA9";
  summary.output = "/tmp/out \"quoted\"";
  summary.model_path = "models/mobilenet_v2.onnx";
  summary.model_output = "features";
  summary.threads = 7;
  summary.batch_size = 33;
  FeaturizeSummary featurize;
  featurize.model_sha256 = std::string(64, 'f');
  featurize.model_dim = 1280;
  featurize.listed = int64_t{1} << 40;
  featurize.ok = (int64_t{1} << 40) - 3;
  featurize.failed = 2;
  featurize.reused_from_interrupted_run = 1;
  featurize.images_per_second = 1.0 / 3.0;
  featurize.read_seconds = 0.1;
  featurize.decode_seconds = 2.0 / 3.0;
  featurize.embed_seconds = 1e-300;
  featurize.write_seconds = 12345.678901234567;
  summary.featurize = featurize;
  summary.pca = PcaSummary{47, 60, 1280, 0.99, 0.9908123456789};
  summary.seconds = {{"list", 0.001}, {"featurize", std::nextafter(3.0, 4.0)}, {"total", 50}};
  summary.peak_rss_mib = 297.31640625;
  return summary;
}

void ExpectSame(const JobSummary& a, const JobSummary& b) {
  // ToJson covers every field; comparing documents compares doubles exactly.
  EXPECT_EQ(ToJson(a), ToJson(b));
  EXPECT_EQ(a.featurize.has_value(), b.featurize.has_value());
  EXPECT_EQ(a.pca.has_value(), b.pca.has_value());
  EXPECT_EQ(a.engine.has_value(), b.engine.has_value());
  EXPECT_EQ(a.threads, b.threads);
  EXPECT_EQ(a.peak_rss_mib, b.peak_rss_mib);
  EXPECT_EQ(a.seconds, b.seconds);
}

// What a file round trip does: dump as the jobs do, parse back.
Result<JobSummary> ThroughText(const JobSummary& summary) {
  return SummaryFromJson(json::parse(util::DumpJson(ToJson(summary), 2)), "summary.json");
}

TEST(SummaryTest, RoundTripIsExactForEveryField) {
  const JobSummary full = FullSummary();
  ASSERT_OK_AND_ASSIGN(auto back, ThroughText(full));
  ExpectSame(full, back);
  EXPECT_EQ(back.featurize->write_seconds, 12345.678901234567);
  EXPECT_EQ(back.seconds.at("featurize"), std::nextafter(3.0, 4.0));
  EXPECT_EQ(back.featurize->listed, int64_t{1} << 40);
  EXPECT_EQ(back.input, full.input);

  // The parts are optional: a fit-pca summary has no images, a featurize one no pca.
  JobSummary fit_pca = full;
  fit_pca.command = "fit-pca";
  fit_pca.featurize.reset();
  fit_pca.seconds.clear();
  ASSERT_OK_AND_ASSIGN(back, ThroughText(fit_pca));
  ExpectSame(fit_pca, back);
  EXPECT_FALSE(back.featurize.has_value());
  JobSummary featurize = full;
  featurize.pca.reset();
  ASSERT_OK_AND_ASSIGN(back, ThroughText(featurize));
  ExpectSame(featurize, back);
}

TEST(SummaryTest, EngineHasTheKeysOfTheSparkJob) {
  JobSummary spark = FullSummary();
  spark.command = "spark";
  spark.engine = EngineSummary{"4.1.1", "yarn", 8, 2, 5, "maxExecutors", 0, 3, 700};
  json out = ToJson(spark);
  EXPECT_EQ(out["engine"], (json{{"spark_version", "4.1.1"},
                                 {"master", "yarn"},
                                 {"default_parallelism", 8},
                                 {"task_cpus", 2},
                                 {"shards", 5},
                                 {"shard_rule", "maxExecutors"},
                                 {"cluster_slots", nullptr},  // unbounded
                                 {"executors_used", 3},
                                 {"worker_peak_rss_bytes", 700}}));
  ASSERT_OK_AND_ASSIGN(auto back, ThroughText(spark));
  ExpectSame(spark, back);
  EXPECT_EQ(back.engine->master, "yarn");
  EXPECT_EQ(back.engine->cluster_slots, 0);
  spark.engine->cluster_slots = 4;
  EXPECT_EQ(ToJson(spark)["engine"]["cluster_slots"], 4);
  ASSERT_OK_AND_ASSIGN(back, ThroughText(spark));
  EXPECT_EQ(back.engine->cluster_slots, 4);
  EXPECT_EQ(back.engine->executors_used, 3);
  EXPECT_EQ(back.engine->worker_peak_rss_bytes, 700);
}

TEST(SummaryTest, ReadsTheSummaryTheSparkJobWritesInPython) {
  // The shape of spark.py's summary dict today: no threads, no peak_rss_mib.
  json spark = ToJson(FullSummary());
  spark.erase("threads");
  spark.erase("peak_rss_mib");
  spark["command"] = "spark";
  spark["engine"] = {{"spark_version", "3.5.1"},
                     {"master", "local[4]"},
                     {"default_parallelism", 4},
                     {"task_cpus", 1},
                     {"shards", 3}};
  ASSERT_OK_AND_ASSIGN(auto summary, SummaryFromJson(spark, "summary.json"));
  EXPECT_EQ(summary.threads, 0);
  EXPECT_EQ(summary.peak_rss_mib, 0);
  EXPECT_EQ(summary.engine->shards, 3);
  // Without an engine the same document is not a CLI summary: those fields are required.
  spark.erase("engine");
  auto cli = SummaryFromJson(spark, "summary.json");
  ASSERT_FALSE(cli.ok());
  EXPECT_EQ(cli.status().message(), "summary.json: 'threads' is missing");
}

// The message of reading `document` as a summary of "OUT/report/summary.json".
std::string ErrorOf(const json& document) {
  auto summary = SummaryFromJson(document, "OUT/report/summary.json");
  return summary.ok() ? "(read)" : summary.status().message();
}

TEST(SummaryTest, RefusesMissingFieldsAndWrongTypesNamingFileAndKey) {
  const json good = ToJson(FullSummary());
  EXPECT_EQ(ErrorOf(good), "(read)");
  EXPECT_EQ(ErrorOf(json::array()), "OUT/report/summary.json: not a JSON object");
  // Each required key, removed.
  for (const char* key : {"orchard_version", "command", "input", "output", "model", "batch_size",
                          "threads", "peak_rss_mib"}) {
    json document = good;
    document.erase(key);
    EXPECT_EQ(ErrorOf(document), std::string("OUT/report/summary.json: '") + key + "' is missing");
  }
  const std::pair<json::json_pointer, std::string> cases[] = {
      {json::json_pointer("/model/path"), "'model.path' is missing"},
      {json::json_pointer("/model/sha256"), "'model.sha256' is missing"},
      {json::json_pointer("/images/ok"), "'images.ok' is missing"},
      {json::json_pointer("/busy_seconds/embed"), "'busy_seconds.embed' is missing"},
      {json::json_pointer("/pca/k"), "'pca.k' is missing"},
  };
  for (const auto& [pointer, message] : cases) {
    json document = good;
    document[pointer.parent_pointer()].erase(pointer.back());
    EXPECT_EQ(ErrorOf(document), "OUT/report/summary.json: " + message) << pointer.to_string();
  }
  // Wrong types, and integers that are not integers.
  const std::pair<const char*, json> wrong[] = {
      {"/command", 3},
      {"/threads", 2.5},
      {"/threads", "2"},
      {"/threads", -1},
      {"/batch_size", json(std::numeric_limits<uint64_t>::max())},
      {"/images/ok", 1.0},
      {"/images/failed", -2},
      {"/images_per_second", "fast"},
      {"/seconds/total", nullptr},
      {"/seconds", json::array({1, 2})},
      {"/model", "m.onnx"},
      {"/pca", json::array()},
      {"/pca/variance_threshold", true},
      {"/peak_rss_mib", json::object()},
  };
  for (const auto& [pointer, value] : wrong) {
    json document = good;
    document[json::json_pointer(pointer)] = value;
    const std::string message = ErrorOf(document);
    std::string key = std::string(pointer).substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    EXPECT_EQ(message.rfind("OUT/report/summary.json: '" + key + "' ", 0), 0u)
        << pointer << ": " << message;
  }
  json engine = good;
  engine["engine"] = {{"spark_version", "4.1.1"}, {"master", 7}};
  EXPECT_EQ(ErrorOf(engine), "OUT/report/summary.json: 'engine.master' is not a string");
  // Unknown keys are someone else's (a newer orchard's): ignored.
  json extra = good;
  extra["something_new"] = {1, 2, 3};
  EXPECT_EQ(ErrorOf(extra), "(read)");
}

TEST(SummaryTest, ReadSummaryNamesTheFile) {
  orchard::testing::TempDir dir;
  io::Location output;
  ASSERT_OK_AND_ASSIGN(output, io::ResolveLocation(dir.str(), io::StorageOptions{}));
  const std::string file = output.Child(kSummaryJson).display;

  auto missing = ReadSummary(output);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message().rfind(file + " does not exist", 0), 0u)
      << missing.status().message();

  ASSERT_OK(io::WriteAll(output.Child(kSummaryJson), "{\"command\": "));
  auto broken = ReadSummary(output);
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().message().rfind(file + " is not valid JSON", 0), 0u)
      << broken.status().message();

  json document = ToJson(FullSummary());
  document["images"]["listed"] = "many";
  ASSERT_OK(io::WriteAll(output.Child(kSummaryJson), document.dump()));
  auto wrong = ReadSummary(output);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.status().message(), file + ": 'images.listed' is not an integer");

  ASSERT_OK(io::WriteAll(output.Child(kSummaryJson), util::DumpJson(ToJson(FullSummary()))));
  ASSERT_OK_AND_ASSIGN(auto read, ReadSummary(output));
  ExpectSame(read, FullSummary());
}

}  // namespace
}  // namespace orchard::output
