#include "orchard/report/html_report.h"

#include <arrow/api.h>
#include <parquet/arrow/reader.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <ctime>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <queue>
#include <utility>
#include <vector>

#include "orchard/pca/pca_json.h"
#include "orchard/report/report.h"
#include "orchard/report/svg_charts.h"
#include "orchard/table/tables.h"
#include "orchard/util/text.h"

namespace orchard::report {
namespace {

using nlohmann::json;

constexpr size_t kMaxMessageBytes = 400;
constexpr size_t kMaxPathBytes = 200;
constexpr int kWorstConfusions = 15;
// Past these, a chart of every class is no longer readable (or small): bar charts keep
// both ends of the sorted list, the heat map gives way to the worst-confusions table.
constexpr size_t kMaxBars = 240;
constexpr size_t kMaxHeatmapClasses = 300;

// ------------------------------------------------------------------------------ reading

// What the report is made of. Every part is optional; `notes` says what could not be read.
struct RunData {
  std::optional<json> summary;
  std::optional<pca::PcaModel> model;
  // Images per class, from the features table's label column.
  std::map<std::string, int64_t> class_counts;
  bool have_features = false;
  // The PCA sample.
  struct Sampled {
    uint64_t hash = 0;
    double x = 0, y = 0;
    std::string label, path;
    bool operator<(const Sampled& other) const {
      return hash != other.hash ? hash < other.hash : path < other.path;
    }
  };
  std::vector<Sampled> sample;
  int64_t pca_rows = 0;
  bool have_pca = false;
  // Errors.
  std::map<std::string, int64_t> errors_per_stage;
  std::vector<table::ErrorRecord> first_errors;
  int64_t error_count = 0;
  std::optional<json> metrics;
  std::vector<std::string> notes;
};

// 64-bit FNV-1a: a stable hash of the path, so the sample does not depend on how the
// table is split into parts.
uint64_t PathHash(std::string_view text) {
  uint64_t hash = 1469598103934665603ULL;
  for (char ch : text) {
    hash ^= static_cast<unsigned char>(ch);
    hash *= 1099511628211ULL;
  }
  // FNV's low bits mix poorly for similar strings; finish with a 64-bit mixer.
  hash ^= hash >> 33;
  hash *= 0xff51afd7ed558ccdULL;
  hash ^= hash >> 33;
  return hash;
}

class Sources {
 public:
  Sources(const io::Location& root, const HtmlReportOptions& options)
      : root_(root), fallback_(options.fallback_root) {}

  // The first of root/relative, fallback/relative that exists; nullopt when neither does.
  Result<std::optional<std::shared_ptr<arrow::Buffer>>> ReadFile(const std::string& relative) {
    for (const io::Location* base : Bases()) {
      ORCHARD_ASSIGN_OR_RAISE(bool exists, io::FileExists(base->Child(relative)));
      if (!exists) continue;
      ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadAll(base->Child(relative)));
      return std::optional<std::shared_ptr<arrow::Buffer>>(std::move(bytes));
    }
    return std::optional<std::shared_ptr<arrow::Buffer>>();
  }

  // The parts of the first of root/table, fallback/table that has any.
  Result<std::vector<io::Location>> Parts(const std::string& table) {
    for (const io::Location* base : Bases()) {
      ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(base->Child(table)));
      if (!parts.empty()) return parts;
    }
    return std::vector<io::Location>();
  }

 private:
  std::vector<const io::Location*> Bases() const {
    std::vector<const io::Location*> bases = {&root_};
    if (fallback_) bases.push_back(&*fallback_);
    return bases;
  }

  io::Location root_;
  std::optional<io::Location> fallback_;
};

Result<std::shared_ptr<arrow::ChunkedArray>> ReadColumn(parquet::arrow::FileReader& reader,
                                                        const io::Location& part,
                                                        const std::string& name) {
  std::shared_ptr<arrow::Schema> schema;
  ORCHARD_RETURN_NOT_OK(reader.GetSchema(&schema));
  const int field_idx = schema->GetFieldIndex(name);
  if (field_idx < 0) return Status::Invalid(part.display, " has no column '", name, "'");
  std::shared_ptr<arrow::ChunkedArray> column;
  ORCHARD_RETURN_NOT_OK(reader.ReadColumn(field_idx, &column));
  return column;
}

Result<std::unique_ptr<parquet::arrow::FileReader>> OpenParquet(const io::Location& part) {
  ORCHARD_ASSIGN_OR_RAISE(auto file, part.fs->OpenInputFile(part.path));
  return parquet::arrow::OpenFile(file, arrow::default_memory_pool());
}

// Calls fn(row_idx, value) for every row of a string column (null: "(null)").
template <typename Fn>
Status ForEachString(const arrow::ChunkedArray& column, const io::Location& part, Fn&& fn) {
  int64_t row_idx = 0;
  for (const auto& chunk : column.chunks()) {
    if (chunk->type_id() == arrow::Type::STRING) {
      const auto& strings = static_cast<const arrow::StringArray&>(*chunk);
      for (int64_t idx = 0; idx < strings.length(); ++idx, ++row_idx) {
        fn(row_idx, strings.IsNull(idx) ? std::string_view("(null)") : strings.GetView(idx));
      }
    } else if (chunk->type_id() == arrow::Type::LARGE_STRING) {
      const auto& strings = static_cast<const arrow::LargeStringArray&>(*chunk);
      for (int64_t idx = 0; idx < strings.length(); ++idx, ++row_idx) {
        fn(row_idx, strings.IsNull(idx) ? std::string_view("(null)") : strings.GetView(idx));
      }
    } else {
      return Status::Invalid(part.display, ": expected a string column, got ",
                             chunk->type()->ToString());
    }
  }
  return Status::OK();
}

// The first two values of every row of a list<float|double> column (NaN where missing).
Result<std::vector<std::pair<double, double>>> FirstTwo(const arrow::ChunkedArray& column,
                                                        const io::Location& part) {
  std::vector<std::pair<double, double>> out;
  out.reserve(static_cast<size_t>(column.length()));
  for (const auto& chunk : column.chunks()) {
    if (chunk->type_id() != arrow::Type::LIST) {
      return Status::Invalid(part.display, ": expected a list column, got ",
                             chunk->type()->ToString());
    }
    const auto& lists = static_cast<const arrow::ListArray&>(*chunk);
    const auto& values = *lists.values();
    auto value_at = [&](int64_t idx) -> double {
      if (values.IsNull(idx)) return std::nan("");
      if (values.type_id() == arrow::Type::FLOAT)
        return static_cast<const arrow::FloatArray&>(values).Value(idx);
      if (values.type_id() == arrow::Type::DOUBLE)
        return static_cast<const arrow::DoubleArray&>(values).Value(idx);
      return std::nan("");
    };
    for (int64_t row = 0; row < lists.length(); ++row) {
      const int64_t begin = lists.value_offset(row);
      const int64_t length = lists.IsNull(row) ? 0 : lists.value_length(row);
      out.emplace_back(length > 0 ? value_at(begin) : std::nan(""),
                       length > 1 ? value_at(begin + 1) : std::nan(""));
    }
  }
  return out;
}

Status ReadSummaryAndModel(Sources& sources, RunData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto summary, sources.ReadFile("report/summary.json"));
  if (summary) {
    try {
      data->summary = json::parse((*summary)->ToString());
    } catch (const json::exception& error) {
      data->notes.push_back(std::string("report/summary.json is not valid JSON: ") + error.what());
    }
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model, sources.ReadFile("pca_model/model.json"));
  if (model) {
    try {
      auto parsed = pca::ModelFromJson(json::parse((*model)->ToString()));
      if (parsed.ok()) {
        data->model = std::move(parsed).ValueOrDie();
      } else {
        data->notes.push_back("pca_model/model.json: " + parsed.status().message());
      }
    } catch (const json::exception& error) {
      data->notes.push_back(std::string("pca_model/model.json is not valid JSON: ") + error.what());
    }
  }
  return Status::OK();
}

Status ReadClassCounts(Sources& sources, RunData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, sources.Parts("features"));
  data->have_features = !parts.empty();
  for (const auto& part : parts) {
    ORCHARD_ASSIGN_OR_RAISE(auto reader, OpenParquet(part));
    // Only the label column: the features themselves are 5 KB a row.
    ORCHARD_ASSIGN_OR_RAISE(auto labels, ReadColumn(*reader, part, table::kLabelColumn));
    ORCHARD_RETURN_NOT_OK(ForEachString(*labels, part, [&](int64_t, std::string_view label) {
      ++data->class_counts[std::string(label)];
    }));
  }
  return Status::OK();
}

Status ReadPcaSample(Sources& sources, const HtmlReportOptions& options, RunData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, sources.Parts("pca"));
  data->have_pca = !parts.empty();
  const auto limit = static_cast<size_t>(std::max<int64_t>(0, options.max_scatter_points));
  // A max-heap of the smallest hashes seen so far.
  std::priority_queue<RunData::Sampled> kept;
  int64_t vector_length = -1;
  for (const auto& part : parts) {
    ORCHARD_ASSIGN_OR_RAISE(auto reader, OpenParquet(part));
    ORCHARD_ASSIGN_OR_RAISE(auto paths, ReadColumn(*reader, part, table::kPathColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto labels, ReadColumn(*reader, part, table::kLabelColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto vectors, ReadColumn(*reader, part, table::kPcaColumn));
    ORCHARD_ASSIGN_OR_RAISE(auto xy, FirstTwo(*vectors, part));
    if (vector_length < 0 && vectors->length() > 0) {
      const auto& first = static_cast<const arrow::ListArray&>(*vectors->chunk(0));
      if (first.length() > 0) vector_length = first.value_length(0);
    }
    std::vector<std::string_view> label_of(xy.size());
    ORCHARD_RETURN_NOT_OK(ForEachString(*labels, part, [&](int64_t row, std::string_view label) {
      if (static_cast<size_t>(row) < label_of.size()) label_of[static_cast<size_t>(row)] = label;
    }));
    ORCHARD_RETURN_NOT_OK(ForEachString(*paths, part, [&](int64_t row, std::string_view path) {
      const auto idx = static_cast<size_t>(row);
      if (idx >= xy.size() || !std::isfinite(xy[idx].first) || !std::isfinite(xy[idx].second))
        return;
      const uint64_t hash = PathHash(path);
      if (kept.size() >= limit && (limit == 0 || hash >= kept.top().hash)) return;
      kept.push(
          {hash, xy[idx].first, xy[idx].second, std::string(label_of[idx]), std::string(path)});
      if (kept.size() > limit) kept.pop();
    }));
    data->pca_rows += vectors->length();
  }
  if (data->model && vector_length >= 0 && vector_length != data->model->k) {
    data->notes.push_back(
        "the pca table has " + std::to_string(vector_length) +
        " components but the PCA model has k = " + std::to_string(data->model->k) +
        ": it was projected with another model (run `orchard project`)");
  }
  while (!kept.empty()) {
    data->sample.push_back(kept.top());
    kept.pop();
  }
  std::sort(data->sample.begin(), data->sample.end());
  return Status::OK();
}

Status ReadErrors(Sources& sources, const HtmlReportOptions& options, RunData* data) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, sources.Parts("errors"));
  for (const auto& part : parts) {
    ORCHARD_ASSIGN_OR_RAISE(auto errors, table::ReadErrorsFile(part));
    for (auto& error : errors) {
      ++data->error_count;
      ++data->errors_per_stage[error.stage];
      if (static_cast<int64_t>(data->first_errors.size()) < options.max_error_rows) {
        // Keep a bounded copy: a message can be megabytes.
        error.message = TruncateUtf8(error.message, kMaxMessageBytes);
        data->first_errors.push_back(std::move(error));
      }
    }
  }
  return Status::OK();
}

Status ReadMetrics(Sources& sources, const HtmlReportOptions& options, RunData* data) {
  std::optional<std::shared_ptr<arrow::Buffer>> bytes;
  if (options.metrics) {
    ORCHARD_ASSIGN_OR_RAISE(auto buffer, io::ReadAll(*options.metrics));
    bytes = std::move(buffer);
  } else {
    ORCHARD_ASSIGN_OR_RAISE(bytes, sources.ReadFile("report/metrics.json"));
  }
  if (!bytes) return Status::OK();
  try {
    data->metrics = json::parse((*bytes)->ToString());
  } catch (const json::exception& error) {
    data->notes.push_back(std::string("the predict metrics are not valid JSON: ") + error.what());
  }
  return Status::OK();
}

// Runs one reader; a failure becomes a note on the page instead of failing the report.
void Gather(const char* what, const Status& status, RunData* data) {
  if (!status.ok())
    data->notes.push_back(std::string("could not read ") + what + ": " + status.message());
}

// ------------------------------------------------------------------------------ writing

std::string Html(std::string_view text) { return EscapeXml(text); }

std::string Thousands(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t idx = 0; idx < digits.size(); ++idx) {
    if (idx > 0 && (digits.size() - idx) % 3 == 0) out += ',';
    out += digits[idx];
  }
  return value < 0 ? "-" + out : out;
}

std::string UtcNow() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buffer[64];
  std::strftime(buffer, sizeof(buffer), "%Y-%m-%d %H:%M:%S UTC", &utc);
  return buffer;
}

// The value at `keys` below `root` ({"images", "ok"}); nullptr when absent.
// sqrt(dx^2 + dy^2). Not std::hypot: glibc 2.35 versioned hypot anew, and the wheel must
// run on glibc 2.34 (EMR 7); the values here are small, so no overflow to guard against.
double Distance(double dx, double dy) { return std::sqrt(dx * dx + dy * dy); }

const json* Find(const json& root, std::initializer_list<const char*> keys) {
  const json* node = &root;
  for (const char* key : keys) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(key);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

std::string Text(const json* value) {
  if (value == nullptr || value->is_null()) return "";
  if (value->is_string()) return value->get<std::string>();
  if (value->is_number_integer()) return Thousands(value->get<int64_t>());
  if (value->is_number()) return FormatFixed(value->get<double>(), 2);
  return util::DumpJson(*value);
}

double Number(const json* value, double fallback = std::nan("")) {
  return value != nullptr && value->is_number() ? value->get<double>() : fallback;
}

constexpr const char* kStyle = R"css(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;background:#f4f5f7;color:#222}
main{max-width:1160px;margin:0 auto;padding:16px 24px 48px}
header{background:#1f3a5f;color:#fff;padding:18px 24px}
header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;opacity:.85;word-break:break-all}
nav{margin-top:8px}nav a{color:#cfe3ff;margin-right:14px}
section{background:#fff;border-radius:6px;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:14px 20px;margin:18px 0}
h2{font-size:18px;margin:4px 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0 14px}
.card{border:1px solid #dde;border-radius:6px;padding:8px 14px;min-width:110px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#666}
.card.bad b{color:#c0392b}
table{border-collapse:collapse;font-size:13px}
td,th{border-bottom:1px solid #eee;padding:4px 10px 4px 0;text-align:left;vertical-align:top}
th{color:#555;font-weight:600}
table.kv th{width:150px}
table.stages{margin-bottom:6px}
h3{font-size:15px;margin:16px 0 6px}
td.num,th.num{text-align:right}
.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12px;word-break:break-all}
.errors td{word-break:break-word}
.note{background:#fff6e5;border-left:4px solid #f0a020;padding:6px 10px;margin:8px 0;font-size:13px}
.muted{color:#777;font-size:13px}
.chart{overflow-x:auto}
.chart svg{max-width:100%;height:auto;display:block}
)css";

void Card(std::string* out, const std::string& value, const std::string& label, bool bad = false) {
  *out += std::string("<div class=\"card") + (bad ? " bad" : "") + "\"><b>" + Html(value) +
          "</b><span>" + Html(label) + "</span></div>";
}

// "list 0.10 s · featurize 2.50 s · ...": the pipeline's stages in their order, then the
// others in the summary's.
std::string StageTimes(const json* seconds, int digits) {
  if (seconds == nullptr || !seconds->is_object()) return "";
  static const std::vector<std::string> kOrder = {"list",  "read",      "decode",  "embed",
                                                  "write", "featurize", "fit_pca", "project"};
  std::vector<std::string> names;
  for (const auto& name : kOrder) {
    if (seconds->contains(name)) names.push_back(name);
  }
  for (const auto& [name, value] : seconds->items()) {
    if (std::find(kOrder.begin(), kOrder.end(), name) == kOrder.end() && name != "total") {
      names.push_back(name);
    }
  }
  if (seconds->contains("total")) names.push_back("total");
  std::string text;
  for (const auto& name : names) {
    const json& value = seconds->at(name);
    if (!value.is_number()) continue;
    if (!text.empty()) text += " \xC2\xB7 ";
    text += name + " " + FormatFixed(value.get<double>(), digits) + " s";
  }
  return text;
}

void KeyValue(std::string* out, const std::string& key, const std::string& value,
              bool mono = false) {
  if (value.empty()) return;
  *out += "<tr><th>" + Html(key) + "</th><td" + (mono ? " class=\"mono\"" : "") + ">" +
          Html(value) + "</td></tr>\n";
}

void WriteRunSection(const RunData& data, const io::Location& root, std::string* out) {
  *out += "<section id=\"run\"><h2>Run</h2>\n";
  const json empty = json::object();
  const json& summary = data.summary ? *data.summary : empty;
  if (!data.summary) *out += "<p class=\"muted\">No report/summary.json in this output.</p>";
  const json* listed = Find(summary, {"images", "listed"});
  const json* ok = Find(summary, {"images", "ok"});
  const json* failed = Find(summary, {"images", "failed"});
  *out += "<div class=\"cards\">";
  if (listed) Card(out, Text(listed), "images listed");
  if (ok) Card(out, Text(ok), "featurized");
  if (failed) Card(out, Text(failed), "failed", Number(failed, 0) > 0);
  if (const json* rate = Find(summary, {"images_per_second"}))
    Card(out, FormatFixed(Number(rate), 1), "images / s");
  if (const json* total = Find(summary, {"seconds", "total"}))
    Card(out, FormatFixed(Number(total), 1) + " s", "total time");
  if (const json* rss = Find(summary, {"peak_rss_mib"}))
    Card(out, Thousands(std::llround(Number(rss, 0))) + " MiB", "peak memory (RSS)");
  if (data.model) {
    Card(out, std::to_string(data.model->k), "PCA components (k)");
    Card(out, FormatFixed(data.model->CumulativeRatio(data.model->k) * 100, 2) + " %",
         "variance explained");
  }
  *out += "</div>\n<table class=\"kv\">\n";
  KeyValue(out, "input", Text(Find(summary, {"input"})), true);
  KeyValue(out, "output", data.summary ? Text(Find(summary, {"output"})) : root.display, true);
  KeyValue(out, "model", Text(Find(summary, {"model", "path"})), true);
  KeyValue(out, "model sha256", Text(Find(summary, {"model", "sha256"})), true);
  KeyValue(out, "orchard version", Text(Find(summary, {"orchard_version"})));
  std::string engine;
  if (const json* master = Find(summary, {"engine", "master"})) {
    engine = "Spark, master " + Text(master);
    if (const json* version = Find(summary, {"engine", "spark_version"}))
      engine += " (Spark " + Text(version) + ")";
  } else if (data.summary) {
    engine = "CLI";
    if (const json* threads = Find(summary, {"threads"}))
      engine += ", " + Text(threads) + " threads";
  }
  KeyValue(out, "engine", engine);
  KeyValue(out, "command", Text(Find(summary, {"command"})));
  KeyValue(out, "report built", UtcNow());
  KeyValue(out, "seconds per stage", StageTimes(Find(summary, {"seconds"}), 2));
  KeyValue(out, "busy (all threads)", StageTimes(Find(summary, {"busy_seconds"}), 1));
  *out += "</table>\n</section>\n";
}

// Which classes of `by_size` (largest first) the scatter names: the `named` largest. Where
// classes of equal size compete for the last places (a balanced data set: every class
// ties), the places go to the classes whose sample centroids lie farthest from those
// already chosen, so the coloured classes spread over the plane instead of being, say,
// the first ten names in alphabetical order. Sets *spread when that tie-break was used.
std::vector<size_t> ChooseNamedClasses(const std::vector<RunData::Sampled>& sample,
                                       const std::vector<std::pair<std::string, int64_t>>& by_size,
                                       size_t named, bool* spread) {
  std::vector<size_t> chosen;
  if (named == 0) return chosen;
  if (named >= by_size.size() || by_size[named - 1].second > by_size[named].second) {
    for (size_t idx = 0; idx < named && idx < by_size.size(); ++idx) chosen.push_back(idx);
    return chosen;
  }
  *spread = true;
  const int64_t tied = by_size[named - 1].second;
  // Centroids in units of the sample's standard deviation along each axis.
  double sum_x = 0, sum_y = 0, sum_xx = 0, sum_yy = 0;
  std::map<std::string, std::array<double, 3>> sums;  // x, y, count
  for (const auto& point : sample) {
    auto& entry = sums[point.label];
    entry[0] += point.x, entry[1] += point.y, entry[2] += 1;
    sum_x += point.x, sum_y += point.y;
    sum_xx += point.x * point.x, sum_yy += point.y * point.y;
  }
  const double n = std::max<double>(1, static_cast<double>(sample.size()));
  const double mean_x = sum_x / n, mean_y = sum_y / n;
  const double sd_x = std::sqrt(std::max(1e-12, sum_xx / n - mean_x * mean_x));
  const double sd_y = std::sqrt(std::max(1e-12, sum_yy / n - mean_y * mean_y));
  auto centroid = [&](size_t idx) {
    const auto& entry = sums[by_size[idx].first];
    return std::pair<double, double>{(entry[0] / entry[2] - mean_x) / sd_x,
                                     (entry[1] / entry[2] - mean_y) / sd_y};
  };
  std::vector<size_t> candidates;
  for (size_t idx = 0; idx < by_size.size(); ++idx) {
    if (by_size[idx].second > tied) chosen.push_back(idx);
    if (by_size[idx].second == tied) candidates.push_back(idx);
  }
  std::vector<bool> taken(by_size.size(), false);
  while (chosen.size() < named) {
    size_t best = candidates.front();
    double best_distance = -1;
    for (size_t idx : candidates) {
      if (taken[idx]) continue;
      const auto [x, y] = centroid(idx);
      // Distance to the nearest chosen centroid (to the centre of the plot at first).
      double nearest = Distance(x, y);
      if (!chosen.empty()) nearest = std::numeric_limits<double>::infinity();
      for (size_t other : chosen) {
        const auto [ox, oy] = centroid(other);
        nearest = std::min(nearest, Distance(x - ox, y - oy));
      }
      if (nearest > best_distance) best = idx, best_distance = nearest;
    }
    taken[best] = true;
    chosen.push_back(best);
  }
  std::sort(chosen.begin(), chosen.end());
  return chosen;
}

void WritePcaSection(const RunData& data, const HtmlReportOptions& options, std::string* out) {
  if (!data.model && !data.have_pca) return;
  *out += "<section id=\"pca\"><h2>PCA</h2>\n";
  if (data.model) {
    const auto& model = *data.model;
    *out += "<p>" + Thousands(model.count) + " feature vectors of " + std::to_string(model.dim) +
            " dimensions; k = " + std::to_string(model.k) + " components explain " +
            FormatFixed(model.CumulativeRatio(model.k) * 100, 2) + " % of the variance" +
            (model.variance_threshold > 0
                 ? " (threshold " + FormatFixed(model.variance_threshold * 100, 1) + " %)"
                 : std::string()) +
            ".</p>\n";
    const std::string title = "Cumulative explained variance (k = " + std::to_string(model.k) + ")";
    *out += "<div class=\"chart\">" + ScreePlotSvg(model, title) + "</div>\n";
  }
  if (data.have_pca && !data.sample.empty()) {
    // Colour the largest classes; the rest are grey (131 colours cannot be told apart).
    std::map<std::string, int64_t> sample_counts;
    for (const auto& point : data.sample) ++sample_counts[point.label];
    const auto& counts = data.class_counts.empty() ? sample_counts : data.class_counts;
    std::vector<std::pair<std::string, int64_t>> by_size(sample_counts.begin(),
                                                         sample_counts.end());
    for (auto& entry : by_size) {
      auto it = counts.find(entry.first);
      entry.second = it == counts.end() ? entry.second : it->second;
    }
    std::stable_sort(by_size.begin(), by_size.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    const auto& colors = CategoricalColors();
    const size_t named = std::min({by_size.size(), colors.size(),
                                   static_cast<size_t>(std::max(0, options.max_named_classes))});
    bool spread = false;
    const std::vector<size_t> chosen = ChooseNamedClasses(data.sample, by_size, named, &spread);
    ScatterChart chart;
    chart.title = "First two principal components, coloured by label";
    chart.x_label = "PC 1";
    chart.y_label = "PC 2";
    std::map<std::string, int> group_of;
    std::vector<bool> is_named(by_size.size(), false);
    for (size_t idx : chosen) {
      is_named[idx] = true;
      group_of[by_size[idx].first] = static_cast<int>(chart.groups.size());
      chart.groups.push_back(
          {by_size[idx].first, colors[chart.groups.size()], by_size[idx].second, 3.5, 0.85});
    }
    int64_t other_images = 0;
    for (size_t idx = 0; idx < by_size.size(); ++idx) {
      if (!is_named[idx]) other_images += by_size[idx].second;
    }
    const size_t others = by_size.size() - named;
    if (others > 0) {
      // The unnamed rest: smaller and lighter, so the named classes stand out above them.
      chart.groups.push_back(
          {std::to_string(others) + (others == 1 ? " other class" : " other classes"), "#a8a8a8",
           other_images, 2.2, 0.45});
    }
    for (const auto& point : data.sample) {
      auto it = group_of.find(point.label);
      const int group = it == group_of.end() ? static_cast<int>(chosen.size()) : it->second;
      chart.points.push_back(
          {point.x, point.y, group, point.label + "\n" + TruncateUtf8(point.path, kMaxPathBytes)});
    }
    *out += "<div class=\"chart\">" + ScatterSvg(chart) + "</div>\n";
    *out += "<p class=\"muted\">" +
            (static_cast<int64_t>(data.sample.size()) < data.pca_rows
                 ? Thousands(static_cast<int64_t>(data.sample.size())) + " of " +
                       Thousands(data.pca_rows) +
                       " images shown (a fixed sample chosen by a hash of the path)"
                 : "All " + Thousands(data.pca_rows) + " images shown") +
            (others > 0 && spread ? "; the " + std::to_string(named) +
                                        " largest classes are coloured (among classes of "
                                        "equal size, those far apart in this plane), the "
                                        "others grey"
             : others > 0 ? "; the " + std::to_string(named) +
                                " largest classes are coloured, the others grey"
                          : std::string()) +
            ". Hover over a point for its label and path.</p>\n";
  } else if (data.have_pca) {
    *out += "<p class=\"muted\">The pca table has no rows to plot.</p>\n";
  }
  *out += "</section>\n";
}

void WriteClassesSection(const RunData& data, std::string* out) {
  if (!data.have_features) return;
  *out += "<section id=\"classes\"><h2>Images per class</h2>\n";
  if (data.class_counts.empty()) {
    *out += "<p class=\"muted\">The features table has no rows.</p></section>\n";
    return;
  }
  std::vector<std::pair<std::string, int64_t>> sorted(data.class_counts.begin(),
                                                      data.class_counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::vector<int64_t> values;
  int64_t total = 0;
  for (const auto& entry : sorted) {
    values.push_back(entry.second);
    total += entry.second;
  }
  const double median =
      static_cast<double>(values[values.size() / 2] + values[(values.size() - 1) / 2]) / 2;
  // A class with less than half the median count is worth a look.
  const double few = median / 2;
  BarChart chart;
  chart.title = std::to_string(sorted.size()) + (sorted.size() == 1 ? " class, " : " classes, ") +
                Thousands(total) + " featurized images";
  chart.value_label = "images";
  chart.columns = sorted.size() > 40 ? 2 : 1;
  chart.reference = median;
  chart.reference_label = "median " + FormatFixed(median, median == std::floor(median) ? 0 : 1);
  std::vector<std::string> small;
  for (size_t idx = 0; idx < sorted.size(); ++idx) {
    const auto& [label, count] = sorted[idx];
    const bool highlight = sorted.size() > 1 && static_cast<double>(count) < few;
    if (highlight) small.push_back(label);
    // The largest and the smallest classes; the middle of a very long list is left out.
    if (sorted.size() > kMaxBars && idx >= kMaxBars / 2 && idx < sorted.size() - kMaxBars / 2) {
      continue;
    }
    chart.bars.push_back({label, static_cast<double>(count), highlight,
                          label + ": " + Thousands(count) + " images"});
  }
  if (sorted.size() > kMaxBars) {
    chart.title += " (the " + std::to_string(kMaxBars / 2) + " largest and the " +
                   std::to_string(kMaxBars / 2) + " smallest)";
  }
  *out +=
      "<p>" +
      (sorted.front().second == sorted.back().second
           ? (sorted.size() == 1 ? "The class has " : "Every class has ") +
                 Thousands(sorted.front().second) + " images."
           : "From " + Thousands(sorted.back().second) + " to " + Thousands(sorted.front().second) +
                 " images per class (median " + chart.reference_label.substr(7) + ").") +
      "</p>\n";
  if (!small.empty()) {
    *out += "<p class=\"note\">" + std::to_string(small.size()) +
            (small.size() == 1 ? " class has" : " classes have") +
            " fewer than half the median number of images (" +
            FormatFixed(few, few == std::floor(few) ? 0 : 1) + "), shown in orange: ";
    for (size_t idx = 0; idx < small.size() && idx < 20; ++idx) {
      *out += (idx ? ", " : "") + Html(small[idx]);
    }
    if (small.size() > 20) *out += ", \xE2\x80\xA6";
    *out += "</p>\n";
  }
  *out += "<div class=\"chart\">" + HorizontalBarSvg(chart) + "</div>\n</section>\n";
}

void WriteErrorsSection(const RunData& data, std::string* out) {
  *out += "<section id=\"errors\"><h2>Errors</h2>\n";
  if (data.error_count == 0) {
    *out += "<p>No image failed.</p></section>\n";
    return;
  }
  *out += "<p>" + Thousands(data.error_count) + (data.error_count == 1 ? " image" : " images") +
          " failed.</p>\n";
  *out += "<table class=\"stages\"><tr><th>stage</th><th class=\"num\">images</th></tr>\n";
  for (const auto& [stage, count] : data.errors_per_stage) {
    *out +=
        "<tr><td>" + Html(stage) + "</td><td class=\"num\">" + Thousands(count) + "</td></tr>\n";
  }
  *out += "</table>\n";
  *out += "<h3>" +
          (static_cast<int64_t>(data.first_errors.size()) < data.error_count
               ? "The first " + std::to_string(data.first_errors.size()) + " rows"
               : std::string("All rows")) +
          " of the errors table</h3>\n";
  *out += "<table class=\"errors\"><tr><th>path</th><th>stage</th><th>message</th></tr>\n";
  for (const auto& error : data.first_errors) {
    *out += "<tr><td class=\"mono\">" + Html(TruncateUtf8(error.path, kMaxPathBytes)) +
            "</td><td>" + Html(error.stage) + "</td><td>" + Html(error.message) + "</td></tr>\n";
  }
  *out += "</table>\n</section>\n";
}

// The class names of the metrics, in confusion-matrix order.
std::vector<std::string> MetricClasses(const json& metrics) {
  std::vector<std::string> classes;
  const json* names = Find(metrics, {"classes"});
  if (!names) names = Find(metrics, {"confusion_matrix", "classes"});
  if (!names) names = Find(metrics, {"confusion_matrix", "labels"});
  if (names && names->is_array()) {
    for (const auto& name : *names)
      classes.push_back(name.is_string() ? name.get<std::string>() : util::DumpJson(name));
  }
  return classes;
}

void WritePredictSection(const RunData& data, std::string* out) {
  if (!data.metrics) return;
  const json& metrics = *data.metrics;
  *out += "<section id=\"predict\"><h2>Predictions</h2>\n<div class=\"cards\">";
  if (const json* accuracy = Find(metrics, {"accuracy"}))
    Card(out, FormatFixed(Number(accuracy) * 100, 2) + " %", "accuracy");
  if (const json* top5 = Find(metrics, {"top5_accuracy"}))
    Card(out, FormatFixed(Number(top5) * 100, 2) + " %", "top-5 accuracy");
  const json* labelled = Find(metrics, {"labelled_rows"});  // orchard predict's key
  if (labelled == nullptr) labelled = Find(metrics, {"n"});
  if (labelled != nullptr) Card(out, Text(labelled), "labelled images");
  *out += "</div>\n";
  const std::vector<std::string> classes = MetricClasses(metrics);

  // Per-class recall, worst first.
  struct ClassScore {
    std::string name;
    double precision, recall, f1, support;
  };
  std::vector<ClassScore> scores;
  if (const json* per_class = Find(metrics, {"per_class"})) {
    auto add = [&](const std::string& name, const json& entry) {
      if (!entry.is_object()) return;
      scores.push_back({name, Number(Find(entry, {"precision"})), Number(Find(entry, {"recall"})),
                        Number(Find(entry, {"f1"})), Number(Find(entry, {"support"}))});
    };
    if (per_class->is_object()) {
      for (const auto& [name, entry] : per_class->items()) add(name, entry);
    } else if (per_class->is_array()) {
      for (size_t idx = 0; idx < per_class->size(); ++idx) {
        const json& entry = (*per_class)[idx];
        std::string name = Text(Find(entry, {"class"}));
        if (name.empty()) name = Text(Find(entry, {"label"}));
        if (name.empty() && idx < classes.size()) name = classes[idx];
        add(name, entry);
      }
    }
  }
  if (!scores.empty()) {
    std::stable_sort(scores.begin(), scores.end(), [](const auto& a, const auto& b) {
      const double ra = std::isfinite(a.recall) ? a.recall : 2,
                   rb = std::isfinite(b.recall) ? b.recall : 2;
      return ra < rb;
    });
    const double accuracy = Number(Find(metrics, {"accuracy"}));
    BarChart chart;
    chart.title = "Recall per class, worst first";
    chart.value_label = "recall";
    chart.value_digits = 3;
    chart.max_value = 1;
    chart.columns = scores.size() > 40 ? 2 : 1;
    if (std::isfinite(accuracy)) {
      chart.reference = accuracy;
      chart.reference_label = "accuracy " + FormatFixed(accuracy, 3);
    }
    if (scores.size() > kMaxBars) {
      chart.title = "Recall per class: the " + std::to_string(kMaxBars) + " worst of " +
                    std::to_string(scores.size());
      scores.resize(kMaxBars);
    }
    for (const auto& score : scores) {
      const double recall = std::isfinite(score.recall) ? score.recall : 0;
      chart.bars.push_back({score.name, recall, std::isfinite(accuracy) && recall < accuracy - 0.1,
                            score.name + ": recall " + FormatFixed(score.recall, 3) +
                                ", precision " + FormatFixed(score.precision, 3) + ", F1 " +
                                FormatFixed(score.f1, 3) + ", support " +
                                FormatFixed(score.support, 0)});
    }
    *out += "<div class=\"chart\">" + HorizontalBarSvg(chart) + "</div>\n";
  }

  // Confusion matrix.
  const json* matrix = Find(metrics, {"confusion_matrix"});
  if (matrix && matrix->is_object()) {
    // orchard predict writes {labels, rows_true_columns_predicted}.
    const json* inner = Find(*matrix, {"rows_true_columns_predicted"});
    if (inner == nullptr) inner = Find(*matrix, {"matrix"});
    matrix = inner ? inner : Find(*matrix, {"counts"});
  }
  if (matrix && matrix->is_array() && matrix->size() > kMaxHeatmapClasses) {
    *out += "<p class=\"muted\">The confusion matrix has " + std::to_string(matrix->size()) +
            " classes: too many to draw (the per-class metrics above still cover them).</p>\n";
  } else if (matrix && matrix->is_array() && !matrix->empty()) {
    const size_t n = matrix->size();
    Heatmap map;
    map.title = "Confusion matrix (rows: true class, normalised per row)";
    map.row_axis = "true class";
    map.column_axis = "predicted class";
    map.counts.assign(n * n, 0);
    bool square = true;
    for (size_t row = 0; row < n; ++row) {
      const json& cells = (*matrix)[row];
      if (!cells.is_array() || cells.size() != n) {
        square = false;
        break;
      }
      for (size_t col = 0; col < n; ++col) map.counts[row * n + col] = Number(&cells[col], 0);
    }
    if (!square) {
      *out += "<p class=\"note\">The confusion matrix in the metrics is not square.</p>\n";
    } else {
      for (size_t idx = 0; idx < n; ++idx) {
        map.labels.push_back(idx < classes.size() ? classes[idx] : "class " + std::to_string(idx));
      }
      // Worst confusions: the largest off-diagonal cells.
      struct Confusion {
        size_t row, col;
        double count, share;
      };
      std::vector<Confusion> confusions;
      for (size_t row = 0; row < n; ++row) {
        double row_sum = 0;
        for (size_t col = 0; col < n; ++col) row_sum += map.counts[row * n + col];
        for (size_t col = 0; col < n; ++col) {
          const double count = map.counts[row * n + col];
          if (row != col && count > 0) confusions.push_back({row, col, count, count / row_sum});
        }
      }
      std::sort(confusions.begin(), confusions.end(), [](const auto& a, const auto& b) {
        return a.count != b.count ? a.count > b.count : a.share > b.share;
      });
      *out += "<div class=\"chart\">" + HeatmapSvg(map) + "</div>\n";
      if (confusions.empty()) {
        *out += "<p>No confusions: every labelled image was predicted as its class.</p>\n";
      } else {
        *out +=
            "<h3>Worst confusions</h3>\n<table><tr><th>true class</th><th>predicted as"
            "</th><th class=\"num\">images</th><th class=\"num\">share of the true class"
            "</th></tr>\n";
        for (size_t idx = 0; idx < confusions.size() && idx < kWorstConfusions; ++idx) {
          const auto& confusion = confusions[idx];
          *out += "<tr><td>" + Html(map.labels[confusion.row]) + "</td><td>" +
                  Html(map.labels[confusion.col]) + "</td><td class=\"num\">" +
                  FormatFixed(confusion.count, 0) + "</td><td class=\"num\">" +
                  FormatFixed(confusion.share * 100, 1) + " %</td></tr>\n";
        }
        *out += "</table>\n";
      }
    }
  }
  *out += "</section>\n";
}

}  // namespace

Result<std::string> RenderHtmlReport(const io::Location& root, const HtmlReportOptions& options) {
  Sources sources(root, options);
  RunData data;
  Gather("the summary and the PCA model", ReadSummaryAndModel(sources, &data), &data);
  Gather("the features table's labels", ReadClassCounts(sources, &data), &data);
  Gather("the pca table", ReadPcaSample(sources, options, &data), &data);
  Gather("the errors table", ReadErrors(sources, options, &data), &data);
  Gather("the predict metrics", ReadMetrics(sources, options, &data), &data);

  const std::string output = data.summary ? Text(Find(*data.summary, {"output"})) : std::string();
  const std::string shown = output.empty() ? root.display : output;
  std::string html;
  html.reserve(1 << 20);
  html +=
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n"
      // Nothing may load or run: the page is data only, whatever its labels say.
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src data:\"/>\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n"
      "<title>orchard report: " +
      Html(TruncateUtf8(shown, 120)) + "</title>\n<style>" + kStyle +
      "</style>\n</head>\n<body>\n<header><h1>orchard report</h1><p>" + Html(shown) +
      "</p><nav><a href=\"#run\">run</a>";
  if (data.model || data.have_pca) html += "<a href=\"#pca\">PCA</a>";
  if (data.have_features) html += "<a href=\"#classes\">classes</a>";
  html += "<a href=\"#errors\">errors</a>";
  if (data.metrics) html += "<a href=\"#predict\">predictions</a>";
  html += "</nav></header>\n<main>\n";
  for (const auto& note : data.notes) {
    html += "<p class=\"note\">" + Html(TruncateUtf8(note, 2000)) + "</p>\n";
  }
  WriteRunSection(data, root, &html);
  WritePredictSection(data, &html);
  WritePcaSection(data, options, &html);
  WriteClassesSection(data, &html);
  WriteErrorsSection(data, &html);
  html += "</main>\n</body>\n</html>\n";
  return html;
}

Status WriteHtmlReport(const io::Location& root, const io::Location& target,
                       const HtmlReportOptions& options) {
  ORCHARD_ASSIGN_OR_RAISE(auto html, RenderHtmlReport(root, options));
  return io::WriteAll(target, html);
}

}  // namespace orchard::report
