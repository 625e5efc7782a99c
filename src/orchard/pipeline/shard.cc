#include "orchard/pipeline/shard.h"

#include <set>
#include <string>
#include <utility>

#include "orchard/output/layout.h"
#include "orchard/table/tables.h"
#include "orchard/util/parallel_for.h"
#include "orchard/util/sha256.h"

namespace orchard::pipeline {

Result<ShardOutcome> FeaturizeShard(const std::vector<ImageItem>& items,
                                    const io::Location& input_root, const model::Embedder& embedder,
                                    const io::Location& staging, FeaturizeOptions options,
                                    int threads) {
  const io::Location features_dir = staging.Child(output::kFeaturesDir);
  const io::Location errors_dir = staging.Child(output::kErrorsDir);
  const int64_t rows_per_part = EffectiveRowsPerPart(options);
  const auto num_items = static_cast<int64_t>(items.size());
  const int64_t num_parts = (num_items + rows_per_part - 1) / rows_per_part;
  const int64_t first = options.first_part_index;

  // Parts of this shard already complete (an interrupted run, an earlier task attempt).
  std::set<int64_t> skip_parts;
  std::vector<io::Location> reused;
  ORCHARD_ASSIGN_OR_RAISE(auto existing, table::ListParts(features_dir));
  for (const auto& part : existing) {
    const int64_t index = table::PartIndex(part.path);
    if (index < first || index >= first + num_parts) continue;
    skip_parts.insert(index - first);
    reused.push_back(part);
  }

  options.compute_pca_stats = true;
  ShardOutcome outcome;
  ORCHARD_ASSIGN_OR_RAISE(outcome.stats, Featurize(items, input_root, embedder, features_dir,
                                                   errors_dir, skip_parts, options));
  outcome.pca = std::move(outcome.stats.pca);
  outcome.stats.pca = pca::PcaStats();
  if (!reused.empty()) {
    ORCHARD_ASSIGN_OR_RAISE(auto reused_stats, StatsOfParts(reused, threads));
    ORCHARD_RETURN_NOT_OK(outcome.pca.Merge(reused_stats));
  }
  return outcome;
}

std::string JobFingerprint(const std::vector<ImageItem>& items, const std::string& model_sha256,
                           const std::string& output_name, int64_t rows_per_part, int batch_size,
                           int64_t max_pixels, int64_t max_file_bytes) {
  std::string text = "orchard-job-1\n";
  text += "model=" + model_sha256 + " output=" + output_name + "\n";
  text += "rows_per_part=" + std::to_string(rows_per_part) +
          " batch=" + std::to_string(batch_size) + " max_pixels=" + std::to_string(max_pixels) +
          " max_file_bytes=" + std::to_string(max_file_bytes) + "\n";
  std::string listing;
  for (const auto& item : items) listing += item.path + '\t' + std::to_string(item.size) + '\n';
  text += "listing=" + Sha256Hex(listing) + " count=" + std::to_string(items.size()) + "\n";
  return text;
}

Result<pca::PcaStats> StatsOfParts(const std::vector<io::Location>& parts, int threads) {
  // One slot per part, merged in part order afterwards: the same sums whatever the timing.
  std::vector<pca::PcaStats> per_part(parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(parts.size(), threads, [&](size_t part_idx) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(auto rows,
                            table::ReadVectorFile(parts[part_idx], table::kFeaturesColumn));
    if (rows.num_rows() == 0) return Status::OK();
    pca::PcaStats stats(rows.dim);
    stats.Add(rows.values.data(), rows.num_rows());
    per_part[part_idx] = std::move(stats);
    return Status::OK();
  }));
  pca::PcaStats total;
  for (const auto& stats : per_part) ORCHARD_RETURN_NOT_OK(total.Merge(stats));
  return total;
}

Status ProjectParts(const std::vector<io::Location>& feature_parts, const pca::PcaModel& model,
                    const io::Location& pca_dir, int threads) {
  return ParallelFor(feature_parts.size(), threads, [&](size_t part_idx) -> Status {
    const io::Location& part = feature_parts[part_idx];
    ORCHARD_ASSIGN_OR_RAISE(auto rows, table::ReadVectorFile(part, table::kFeaturesColumn));
    if (rows.num_rows() > 0 && rows.dim != model.dim) {
      return Status::Invalid(part.display, " has ", rows.dim,
                             "-d features but the PCA model expects ", model.dim);
    }
    table::VectorRows projected;
    projected.paths = std::move(rows.paths);
    projected.labels = std::move(rows.labels);
    projected.dim = model.k;
    projected.values.resize(static_cast<size_t>(projected.num_rows() * model.k));
    model.Project(rows.values.data(), projected.num_rows(), projected.values.data());
    ORCHARD_ASSIGN_OR_RAISE(auto batch, table::MakeVectorBatch(table::kPcaColumn, projected));
    return table::WriteParquet(pca_dir.Child(part.path.substr(part.path.rfind('/') + 1)), *batch);
  });
}

}  // namespace orchard::pipeline
