#include "orchard/pipeline/staged_featurize.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

#include "orchard/output/layout.h"
#include "orchard/pipeline/listing.h"
#include "orchard/pipeline/model_loading.h"
#include "orchard/pipeline/shard.h"
#include "orchard/table/tables.h"
#include "orchard/util/fault.h"
#include "orchard/util/stopwatch.h"

namespace orchard::pipeline {
namespace {

using util::Clock;
using util::SecondsSince;

// A long run over a messy collection must not bury the terminal: the first warnings are
// shown, the rest are in the errors table.
constexpr int64_t kMaxWarnings = 20;

}  // namespace

FeaturizeOptions FeaturizeOptionsOf(const JobOptions& options) {
  FeaturizeOptions featurize;
  featurize.batch_size = options.batch_size;
  featurize.rows_per_part = options.rows_per_part;
  featurize.io_threads = options.io_threads;
  featurize.preprocess.max_pixels = options.max_pixels;
  featurize.preprocess.max_file_bytes = options.max_file_bytes;
  featurize.cancel = options.cancel;
  // Decoding needs a fraction of the cores inference needs; ONNX Runtime gets them all.
  featurize.prep_threads = std::max(1, options.threads / 2);
  return featurize;
}

ReportedFeaturizeOptions::ReportedFeaturizeOptions(const JobOptions& options, int64_t images_to_do)
    : warn_(options.warn),
      progress_("featurize", images_to_do, options.progress),
      featurize_(FeaturizeOptionsOf(options)) {
  featurize_.on_progress = [this](int64_t done, int64_t failed) { progress_.Update(done, failed); };
  featurize_.on_error = [this](const table::ErrorRecord& error) { Warn(error); };
  featurize_.on_warning = warn_;
}

void ReportedFeaturizeOptions::Warn(const table::ErrorRecord& error) {
  if (!warn_) return;
  const int64_t count = ++warnings_;
  if (count <= kMaxWarnings) {
    warn_(error.path + ": " + error.stage + ": " + error.message);
  } else if (count == kMaxWarnings + 1) {
    warn_("more failed images: see the errors table");
  }
}

Result<StagedFeaturize> FeaturizeIntoStaging(const JobOptions& options, const JobLocations& where,
                                             std::optional<table::OutputCommitter>* committer) {
  StagedFeaturize staged;
  const auto list_start = Clock::now();
  ORCHARD_ASSIGN_OR_RAISE(auto items, ListImages(where.input));
  staged.list_seconds = SecondsSince(list_start);
  staged.listed = static_cast<int64_t>(items.size());
  if (items.empty()) {
    return Status::Invalid("no files under input '", where.input.display,
                           "': expected one sub-folder of images per label");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto embedder, LoadEmbedder(options));
  staged.model_sha256 = embedder->info().sha256;
  staged.dim = embedder->info().output_dim;

  const int64_t rows_per_part = EffectiveRowsPerPart(FeaturizeOptionsOf(options));
  ORCHARD_ASSIGN_OR_RAISE(
      auto begun, table::OutputCommitter::Begin(
                      where.output, options.existing,
                      JobFingerprint(items, embedder->info().sha256, embedder->info().output_name,
                                     rows_per_part, options.batch_size, options.max_pixels,
                                     options.max_file_bytes),
                      &where.input));
  committer->emplace(std::move(begun));
  const io::Location staging = (*committer)->staging();
  // Parts an interrupted run finished are reused (FeaturizeShard); the progress line counts
  // only the rest.
  int64_t reused_rows = 0;
  if ((*committer)->resuming()) {
    const int64_t num_parts = (staged.listed + rows_per_part - 1) / rows_per_part;
    ORCHARD_RETURN_NOT_OK(RemoveStrayStagedFiles(staging, num_parts, options.warn));
    ORCHARD_ASSIGN_OR_RAISE(auto done_parts, table::ListParts(staging.Child(output::kFeaturesDir)));
    reused_rows =
        std::min<int64_t>(staged.listed, static_cast<int64_t>(done_parts.size()) * rows_per_part);
  }
  ReportedFeaturizeOptions featurize(options, staged.listed - reused_rows);
  ORCHARD_ASSIGN_OR_RAISE(auto shard, FeaturizeShard(items, where.input, *embedder, staging,
                                                     featurize.get(), options.threads));
  featurize.Finish();
  staged.stats = std::move(shard.stats);
  staged.pca = std::move(shard.pca);
  ORCHARD_RETURN_NOT_OK(table::EnsureErrorsTable(staging.Child(output::kErrorsDir)));
  util::MaybeDieAt("featurize:staged");  // every part staged, nothing published yet
  return staged;
}

output::FeaturizeSummary SummaryOf(const StagedFeaturize& staged) {
  const FeaturizeStats& stats = staged.stats;
  output::FeaturizeSummary summary;
  summary.model_sha256 = staged.model_sha256;
  summary.model_dim = staged.dim;
  summary.listed = staged.listed;
  summary.ok = stats.ok;
  summary.failed = stats.failed;
  summary.reused_from_interrupted_run = stats.images_reused;
  summary.images_per_second = stats.images_per_second();
  summary.read_seconds = stats.read_seconds;
  summary.decode_seconds = stats.decode_seconds;
  summary.embed_seconds = stats.embed_seconds;
  summary.write_seconds = stats.write_seconds;
  return summary;
}

}  // namespace orchard::pipeline
