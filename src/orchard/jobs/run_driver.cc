#include "orchard/jobs/run_driver.h"

#include <fnmatch.h>

#include <algorithm>
#include <utility>

#include "orchard/jobs/job_steps.h"
#include "orchard/jobs/model_loading.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/table/tables.h"
#include "orchard/util/fault.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/text.h"

namespace orchard::jobs {
namespace {

// In staging, for `run --update`: the images featurized again, before they are assembled
// with the output's own rows.
constexpr const char* kUpdateFolder = "update";

using util::Clock;
using util::SecondsSince;

// A long run over a messy collection must not bury the terminal: the first warnings are
// shown, the rest are in the errors table.
constexpr int64_t kMaxWarnings = 20;

}  // namespace

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

std::vector<ShardPlan> PlanShards(int64_t num_items, int64_t rows_per_part, int64_t num_shards) {
  const int64_t num_parts = (num_items + rows_per_part - 1) / rows_per_part;
  num_shards = std::max<int64_t>(1, std::min(num_shards, num_parts));
  std::vector<ShardPlan> shards;
  for (int64_t index = 0; index < num_shards && num_parts > 0; ++index) {
    ShardPlan shard;
    shard.first_part = index * num_parts / num_shards;
    const int64_t last_part = (index + 1) * num_parts / num_shards;
    shard.num_parts = last_part - shard.first_part;
    shard.first_item = shard.first_part * rows_per_part;
    shard.num_items = std::min(num_items, last_part * rows_per_part) - shard.first_item;
    shards.push_back(shard);
  }
  return shards;
}

int64_t FeaturizeInputs::num_parts() const {
  return (num_items() + rows_per_part - 1) / rows_per_part;
}

void FeaturizeInputs::Plan(int64_t num_shards) {
  const pipeline::ListingFile& planned = shard_listing();
  shards = PlanShards(planned.num_items(), rows_per_part, std::max<int64_t>(1, num_shards));
  const auto& offsets = planned.part_offsets();
  for (auto& shard : shards) {
    shard.begin_byte = offsets[static_cast<size_t>(shard.first_part)];
    shard.end_byte = offsets[static_cast<size_t>(shard.first_part + shard.num_parts)];
  }
}

Status FeaturizeInputs::StageListing(const io::Location& staging) {
  listing_location = staging.Child(output::kListingDir).Child(pipeline::kListingFileName);
  return listing.CopyTo(listing_location);
}

pipeline::ListingRange FeaturizeInputs::RangeOf(const ShardPlan& shard) const {
  return {update_work ? update_work_location : listing_location, shard.begin_byte, shard.end_byte,
          shard.num_items};
}

pipeline::FeaturizeOptions FeaturizeInputs::ShardOptions(const JobOptions& options,
                                                         const ShardPlan& shard) const {
  pipeline::FeaturizeOptions featurize = FeaturizeOptionsOf(options);
  featurize.rows_per_part = rows_per_part;
  featurize.first_part_index = shard.first_part;
  return featurize;
}

Result<FeaturizeInputs> PrepareFeaturize(const io::Location& input, const JobOptions& options,
                                         const std::string& expected, int embedder_threads) {
  FeaturizeInputs inputs;
  inputs.rows_per_part = pipeline::EffectiveRowsPerPart(FeaturizeOptionsOf(options));
  const auto list_start = Clock::now();
  pipeline::ListOptions list_options;
  list_options.label_from = options.label_from;
  pipeline::ListingWriter writer(inputs.rows_per_part);
  ORCHARD_RETURN_NOT_OK(
      pipeline::ListImagesTo(input, list_options, [&](pipeline::ImageItem item) -> Status {
        if (!options.path_glob.empty()) {
          // The image's own name: a tar member's, not its shard's (the path's last part).
          const auto raw = util::UnescapeName(item.path);
          const std::string& whole = raw.ok() ? *raw : item.path;
          const std::string name = whole.substr(whole.rfind('/') + 1);
          if (::fnmatch(options.path_glob.c_str(), name.c_str(), 0) != 0) return Status::OK();
        }
        return writer.Add(std::move(item));
      }));
  ORCHARD_ASSIGN_OR_RAISE(inputs.listing, writer.Finish());
  inputs.list_seconds = SecondsSince(list_start);
  if (inputs.num_items() == 0) {
    return Status::Invalid("no files under input '", input.display, "'",
                           options.path_glob.empty() ? "" : " match --path-glob '",
                           options.path_glob.empty() ? "" : options.path_glob + "'", ": expected ",
                           expected);
  }
  ORCHARD_ASSIGN_OR_RAISE(inputs.model_bytes, ReadModelBytes(options));
  ORCHARD_ASSIGN_OR_RAISE(inputs.embedder,
                          MakeEmbedder(inputs.model_bytes, options, embedder_threads));
  inputs.Plan(1);
  return inputs;
}

Result<std::unique_ptr<FeaturizeDriver>> FeaturizeDriver::Begin(const JobOptions& requested,
                                                                FeaturizeJobKind kind,
                                                                const std::string& command,
                                                                int64_t num_shards,
                                                                int embedder_threads) {
  std::unique_ptr<FeaturizeDriver> driver(new FeaturizeDriver());
  driver->start_ = Clock::now();
  driver->kind_ = kind;
  ORCHARD_ASSIGN_OR_RAISE(driver->options_, ResolveJobOptions(requested));
  const JobOptions& options = driver->options_;
  driver->summary_ = BaseSummary(command, options);
  ORCHARD_ASSIGN_OR_RAISE(driver->where_,
                          ResolveJobLocations(options.input, options.output, options.storage,
                                              /*need_input=*/true));
  const JobLocations& where = driver->where_;
  ORCHARD_ASSIGN_OR_RAISE(
      driver->inputs_, PrepareFeaturize(where.input, options, "one sub-folder of images per label",
                                        embedder_threads));
  const FeaturizeInputs& inputs = driver->inputs_;
  driver->summary_.seconds["list"] = inputs.list_seconds;
  const int64_t listed = inputs.num_items();

  ORCHARD_ASSIGN_OR_RAISE(
      auto committer, output::OutputCommitter::Begin(
                          where.output, options.existing,
                          pipeline::JobFingerprint(
                              inputs.listing.identity_digest(), listed, driver->model_info().sha256,
                              driver->model_info().output_name, inputs.rows_per_part,
                              options.batch_size, options.max_pixels, options.max_file_bytes),
                          &where.input));
  driver->committer_.emplace(std::move(committer));
  driver->images_to_do_ = listed;
  if (driver->committer_->resuming()) {
    // Nothing but this job's own part names stays in staging; the parts left are checked
    // one by one when their shard runs (FeaturizeShard).
    const io::Location staging = driver->staging();
    ORCHARD_RETURN_NOT_OK(
        pipeline::RemoveStrayStagedFiles(staging, inputs.num_parts(), options.warn));
    ORCHARD_ASSIGN_OR_RAISE(auto done, table::ListParts(staging.Child(output::kFeaturesDir)));
    driver->images_to_do_ -=
        std::min<int64_t>(listed, static_cast<int64_t>(done.size()) * inputs.rows_per_part);
  }
  ORCHARD_RETURN_NOT_OK(driver->inputs_.StageListing(driver->staging()));
  if (options.existing == output::ExistingOutput::kUpdate) {
    ORCHARD_RETURN_NOT_OK(driver->PlanUpdate());
  }
  driver->PlanShards(num_shards);
  return driver;
}

io::Location FeaturizeDriver::featurize_staging() const {
  return update_counts_ ? staging().Child(kUpdateFolder) : staging();
}

Status FeaturizeDriver::PlanUpdate() {
  const io::Location& out = where_.output;
  const io::Location old_listing = out.Child(output::kListingDir).Child(pipeline::kListingFileName);
  ORCHARD_ASSIGN_OR_RAISE(const bool has_listing, io::FileExists(old_listing));
  if (!has_listing) {
    return Status::Invalid("output '", out.display, "' has no ", output::kListingDir,
                           "/ (an older orchard made it): --update needs the listing it was "
                           "made of; rerun with --overwrite once");
  }
  // Rows of another model cannot be mixed with new ones.
  const std::string recorded = RecordedModelSha256(out);
  if (recorded != model_info().sha256) {
    return UsageError("output '", out.display, "' was made with model sha256 ",
                      recorded.empty() ? "(unknown)" : recorded, ", this run's is ",
                      model_info().sha256,
                      ": --update keeps the output's model; rerun with --overwrite");
  }
  ORCHARD_ASSIGN_OR_RAISE(
      auto old_rows,
      pipeline::OutputRows::Open(old_listing, out.Child(output::kFeaturesDir),
                                 out.Child(output::kErrorsDir), /*with_features=*/false));
  pipeline::ListingWriter work(inputs_.rows_per_part);
  const pipeline::ListingRange whole{inputs_.listing_location,
                                     inputs_.listing.part_offsets().front(),
                                     inputs_.listing.part_offsets().back(), inputs_.num_items()};
  ORCHARD_ASSIGN_OR_RAISE(update_counts_, pipeline::PlanUpdate(whole, old_rows.get(), &work));
  ORCHARD_ASSIGN_OR_RAISE(auto work_file, work.Finish());
  inputs_.update_work = std::make_unique<pipeline::ListingFile>(std::move(work_file));
  inputs_.update_work_location =
      featurize_staging().Child(output::kListingDir).Child(pipeline::kListingFileName);
  ORCHARD_RETURN_NOT_OK(inputs_.update_work->CopyTo(inputs_.update_work_location));
  images_to_do_ = inputs_.update_work->num_items();
  return Status::OK();
}

Status FeaturizeDriver::AssembleUpdate(pipeline::ShardOutcome* merged) {
  const io::Location& out = where_.output;
  const io::Location work = featurize_staging();
  ORCHARD_ASSIGN_OR_RAISE(
      auto old_rows,
      pipeline::OutputRows::Open(out.Child(output::kListingDir).Child(pipeline::kListingFileName),
                                 out.Child(output::kFeaturesDir), out.Child(output::kErrorsDir)));
  ORCHARD_ASSIGN_OR_RAISE(
      auto featurized,
      pipeline::OutputRows::Open(inputs_.update_work_location, work.Child(output::kFeaturesDir),
                                 work.Child(output::kErrorsDir)));
  const pipeline::ListingRange whole{inputs_.listing_location,
                                     inputs_.listing.part_offsets().front(),
                                     inputs_.listing.part_offsets().back(), inputs_.num_items()};
  ORCHARD_ASSIGN_OR_RAISE(
      auto assembled,
      pipeline::AssembleUpdate(
          whole, inputs_.rows_per_part, model_info().output_dim, old_rows.get(), featurized.get(),
          staging().Child(output::kFeaturesDir), staging().Child(output::kErrorsDir)));
  merged->stats.ok = assembled.stats.ok;
  merged->stats.failed = assembled.stats.failed;
  merged->stats.parts_written = assembled.stats.parts_written;
  merged->stats.images_reused = update_counts_->reused;
  merged->pca = std::move(assembled.pca);
  // The work is done; the projection's shards are the whole listing's.
  ORCHARD_RETURN_NOT_OK(io::DeleteTreeIfExists(work));
  const auto num_shards = static_cast<int64_t>(std::max<size_t>(1, inputs_.shards.size()));
  inputs_.update_work.reset();
  inputs_.Plan(num_shards);
  return Status::OK();
}

Status FeaturizeDriver::FinishFeaturize(pipeline::ShardOutcome merged, double featurize_seconds) {
  if (update_counts_ && inputs_.update_work) ORCHARD_RETURN_NOT_OK(AssembleUpdate(&merged));
  const pipeline::FeaturizeStats& stats = merged.stats;
  output::FeaturizeSummary featurize;
  featurize.model_sha256 = model_info().sha256;
  featurize.model_dim = model_info().output_dim;
  featurize.listed = inputs_.num_items();
  featurize.ok = stats.ok;
  featurize.failed = stats.failed;
  if (update_counts_) {
    const pipeline::UpdateCounts& counts = *update_counts_;
    featurize.update = output::UpdateSummary{counts.reused, counts.added, counts.changed,
                                             counts.retried, counts.removed};
  } else {
    featurize.reused_from_interrupted_run = stats.images_reused;
  }
  featurize.images_per_second =
      featurize_seconds > 0 ? static_cast<double>(stats.images) / featurize_seconds : 0.0;
  featurize.read_seconds = stats.read_seconds;
  featurize.decode_seconds = stats.decode_seconds;
  featurize.embed_seconds = stats.embed_seconds;
  featurize.write_seconds = stats.write_seconds;
  summary_.featurize = featurize;
  summary_.seconds["featurize"] = featurize_seconds;
  pca_stats_ = std::move(merged.pca);
  // Readers always find an errors table, even when no image failed.
  ORCHARD_RETURN_NOT_OK(table::EnsureErrorsTable(staging().Child(output::kErrorsDir)));
  util::MaybeDieAt("featurize:staged");  // every part staged, nothing published yet
  return Status::OK();
}

Result<pca::PcaModel> FeaturizeDriver::FitPca() {
  if (kind_ != FeaturizeJobKind::kRun || fitted_) {
    return Status::Invalid("internal: FitPca called twice, or for a featurize-only job");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model, FitFromStats(pca_stats_, options_, &summary_));
  ORCHARD_RETURN_NOT_OK(WritePcaFiles(model, staging()));
  pca_stats_ = pca::PcaStats();
  fitted_ = true;
  return model;
}

void FeaturizeDriver::FinishProject(double project_seconds) {
  summary_.seconds["project"] = project_seconds;
}

Result<output::JobSummary> FeaturizeDriver::Finish(
    const std::function<void(output::JobSummary*)>& amend) {
  if (kind_ == FeaturizeJobKind::kRun && !fitted_) {
    return Status::Invalid("internal: a run job finished without its PCA fit");
  }
  if (amend) amend(&summary_);
  const io::Location staging_dir = staging();
  ORCHARD_RETURN_NOT_OK(WriteSummary(staging_dir, &summary_, start_));
  ORCHARD_RETURN_NOT_OK(WriteRunReport(staging_dir));
  std::vector<std::string> entries = {output::kFeaturesDir, output::kErrorsDir,
                                      output::kListingDir};
  if (kind_ == FeaturizeJobKind::kRun) {
    entries.insert(entries.end(), {output::kPcaDir, output::kPcaModelDir});
  }
  entries.push_back(output::kReportDir);
  if (update_counts_) {
    // An update replaces the features: whatever the output held that was made of the old
    // ones (a run's PCA under `featurize --update`, a predict's predictions) is removed by
    // the publish, not left beside rows it no longer describes.
    for (const char* stale : {output::kPcaDir, output::kPcaModelDir, output::kPredictionsDir}) {
      if (std::find(entries.begin(), entries.end(), stale) == entries.end()) {
        entries.push_back(stale);
      }
    }
  }
  ORCHARD_RETURN_NOT_OK(committer_->Publish(entries));
  return summary_;
}

}  // namespace orchard::jobs
