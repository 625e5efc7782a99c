#include "summary_output.h"

#include <cstdio>

#include "orchard/util/text.h"

// Every string printed here may hold a user's path: each goes through util::ForTerminal.
namespace orchard::cli {

void PrintSeconds(const std::map<std::string, double>& seconds) {
  std::string line;
  for (const auto& [stage, value] : seconds) {
    char part[64];
    std::snprintf(part, sizeof(part), "%s%s %.2fs", line.empty() ? "" : ", ",
                  util::ForTerminal(stage).c_str(), value);
    line += part;
  }
  std::fprintf(stderr, "time       %s\n", line.c_str());
}

namespace {

// `reused` < 0: the job cannot resume, so there is nothing to say about reuse.
void PrintImages(int64_t ok, int64_t failed, int64_t listed, int64_t reused,
                 double images_per_second) {
  std::string reuse;
  if (reused >= 0) reuse = "; " + std::to_string(reused) + " reused";
  std::fprintf(stderr, "images     %lld ok, %lld failed (of %lld listed%s)\n",
               static_cast<long long>(ok), static_cast<long long>(failed),
               static_cast<long long>(listed), reuse.c_str());
  std::fprintf(stderr, "speed      %.1f images/s\n", images_per_second);
}

void PrintTail(const std::map<std::string, double>& seconds, double peak_rss_mib,
               const std::string& output) {
  if (!seconds.empty()) PrintSeconds(seconds);
  std::fprintf(stderr, "peak RSS   %.0f MiB\n", peak_rss_mib);
  std::fprintf(stderr, "output     %s\n", util::ForTerminal(output).c_str());
}

}  // namespace

void PrintSummary(const output::JobSummary& summary) {
  std::fprintf(stderr, "\n");
  if (const auto& images = summary.featurize) {
    PrintImages(images->ok, images->failed, images->listed,
                images->update ? -1 : images->reused_from_interrupted_run,
                images->images_per_second);
    if (const auto& update = images->update) {
      std::fprintf(stderr,
                   "update     %lld reused, %lld added, %lld changed, %lld retried, "
                   "%lld removed\n",
                   static_cast<long long>(update->reused), static_cast<long long>(update->added),
                   static_cast<long long>(update->changed), static_cast<long long>(update->retried),
                   static_cast<long long>(update->removed));
    }
  }
  if (const auto& pca = summary.pca) {
    std::fprintf(stderr, "pca        k=%lld explains %.2f %% of the variance (n=%lld)\n",
                 static_cast<long long>(pca->k), 100 * pca->cumulative_explained_variance_ratio,
                 static_cast<long long>(pca->n));
  }
  PrintTail(summary.seconds, summary.peak_rss_mib, summary.output);
}

void PrintSummary(const jobs::PredictSummary& summary) {
  std::fprintf(stderr, "\n");
  if (const auto& images = summary.images) {
    PrintImages(images->ok, images->failed, images->listed, -1, images->images_per_second);
  }
  std::fprintf(stderr, "predicted  %lld rows\n", static_cast<long long>(summary.rows));
  if (const auto& accuracy = summary.accuracy) {
    std::fprintf(stderr, "accuracy   %.2f %% (top-5 %.2f %%) on %lld labelled rows\n",
                 100 * accuracy->accuracy, 100 * accuracy->top5_accuracy,
                 static_cast<long long>(accuracy->labelled_rows));
  }
  PrintTail(summary.seconds, summary.peak_rss_mib, summary.output);
}

void PrintSummary(const jobs::TrainSummary& summary) {
  const classify::TrainReport& training = summary.training;
  std::fprintf(stderr, "trained    %lld rows, %lld classes, %lld-d %s, C=%g\n",
               static_cast<long long>(training.rows), static_cast<long long>(training.classes),
               static_cast<long long>(training.dim), util::ForTerminal(summary.on).c_str(),
               training.c);
  if (training.validation_accuracy) {
    std::fprintf(stderr, "validation %.2f %% accuracy (%lld rows)\n",
                 100 * *training.validation_accuracy,
                 static_cast<long long>(training.validation_rows));
  }
  std::fprintf(stderr, "time       %.2fs\n", summary.total_seconds);
  std::fprintf(stderr, "model      %s\n", util::ForTerminal(summary.output).c_str());
}

}  // namespace orchard::cli
