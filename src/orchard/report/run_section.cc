#include <algorithm>
#include <cmath>
#include <vector>

#include "orchard/report/html_text.h"
#include "orchard/report/sections.h"
#include "orchard/report/svg_charts.h"

namespace orchard::report {
namespace {

// "list 0.10 s · featurize 2.50 s · ...": the pipeline's stages in their order, then the
// others in the summary's (by name), the total last.
std::string StageTimes(const std::map<std::string, double>& seconds, int digits) {
  static const std::vector<std::string> kOrder = {"list",  "read",      "decode",  "embed",
                                                  "write", "featurize", "fit_pca", "project"};
  std::vector<std::string> names;
  for (const auto& name : kOrder) {
    if (seconds.count(name)) names.push_back(name);
  }
  for (const auto& [name, value] : seconds) {
    if (std::find(kOrder.begin(), kOrder.end(), name) == kOrder.end() && name != "total") {
      names.push_back(name);
    }
  }
  if (seconds.count("total")) names.push_back("total");
  std::string text;
  for (const auto& name : names) {
    if (!text.empty()) text += " \xC2\xB7 ";
    text += name + " " + FormatFixed(seconds.at(name), digits) + " s";
  }
  return text;
}

}  // namespace

void WriteRunSection(const ReportData& data, const io::Location& root, std::string* out) {
  *out += "<section id=\"run\"><h2>Run</h2>\n";
  const RunFacts facts = data.summary ? *data.summary : RunFacts();
  if (!data.summary) *out += "<p class=\"muted\">No report/summary.json in this output.</p>";
  *out += "<div class=\"cards\">";
  if (facts.images) {
    Card(out, Thousands(facts.images->listed), "images listed");
    Card(out, Thousands(facts.images->ok), "featurized");
    Card(out, Thousands(facts.images->failed), "failed", facts.images->failed > 0);
    Card(out, FormatFixed(facts.images->per_second, 1), "images / s");
  }
  if (auto total = facts.seconds.find("total"); total != facts.seconds.end())
    Card(out, FormatFixed(total->second, 1) + " s", "total time");
  if (facts.peak_rss_mib)
    Card(out, Thousands(std::llround(*facts.peak_rss_mib)) + " MiB", "peak memory (RSS)");
  if (data.model) {
    Card(out, std::to_string(data.model->k), "PCA components (k)");
    Card(out, FormatFixed(data.model->CumulativeRatio(data.model->k) * 100, 2) + " %",
         "variance explained");
  }
  *out += "</div>\n<table class=\"kv\">\n";
  KeyValue(out, "input", facts.input, true);
  KeyValue(out, "output", data.summary ? facts.output : root.display, true);
  KeyValue(out, "model", facts.model_path, true);
  KeyValue(out, "model sha256", facts.model_sha256, true);
  KeyValue(out, "orchard version", facts.orchard_version);
  std::string engine;
  if (facts.engine) {
    engine =
        "Spark, master " + facts.engine->master + " (Spark " + facts.engine->spark_version + ")";
  } else if (data.summary) {
    engine = "CLI";
    if (facts.threads) engine += ", " + Thousands(*facts.threads) + " threads";
  }
  KeyValue(out, "engine", engine);
  KeyValue(out, "command", facts.command);
  KeyValue(out, "report built", UtcNow());
  KeyValue(out, "seconds per stage", StageTimes(facts.seconds, 2));
  KeyValue(out, "busy (all threads)", StageTimes(facts.busy_seconds, 1));
  *out += "</table>\n</section>\n";
}

}  // namespace orchard::report
