#include "orchard/jobs/job_steps.h"

#include <arrow/buffer.h>

#include <algorithm>
#include <memory>
#include <utility>

#include <nlohmann/json.hpp>

#include "orchard/io/regular_file.h"
#include "orchard/output/layout.h"
#include "orchard/output/pca_files.h"
#include "orchard/pipeline/embed_bytes.h"
#include "orchard/report/html_report.h"
#include "orchard/report/report.h"
#include "orchard/util/memory.h"
#include "orchard/util/parallel_for.h"
#include "orchard/util/text.h"
#include "orchard/version.h"

namespace orchard::jobs {

output::JobSummary BaseSummary(const std::string& command, const JobOptions& options) {
  output::JobSummary summary;
  summary.orchard_version = kVersion;
  summary.command = command;
  summary.input = options.input;
  summary.output = options.output;
  summary.model_path = options.model;
  summary.model_output = options.output_name;
  summary.threads = options.threads;
  summary.batch_size = options.batch_size;
  return summary;
}

output::PcaSummary SummaryOf(const pca::PcaModel& model) {
  output::PcaSummary summary;
  summary.k = model.k;
  summary.n = model.count;
  summary.dim = model.dim;
  summary.variance_threshold = model.variance_threshold;
  summary.cumulative_explained_variance_ratio = model.CumulativeRatio(model.k);
  return summary;
}

Status WriteSummary(const io::Location& staging, output::JobSummary* summary,
                    util::Clock::time_point start) {
  summary->seconds["total"] = util::SecondsSince(start);
  summary->peak_rss_mib = util::PeakRssMiB();
  return io::WriteAll(staging.Child(output::kSummaryJson),
                      util::DumpJson(output::ToJson(*summary), 2));
}

Status WriteRunReport(const io::Location& staging, std::optional<io::Location> rest) {
  report::HtmlReportOptions options;
  options.fallback_root = std::move(rest);
  return report::WriteHtmlReport(staging, staging.Child(output::kReportDir).Child("index.html"),
                                 options);
}

Result<pca::PcaModel> FitFromStats(const pca::PcaStats& stats, const JobOptions& options,
                                   output::JobSummary* summary) {
  const auto start = util::Clock::now();
  if (stats.count() < 2) {
    return Status::Invalid("PCA needs at least 2 featurized images, got ", stats.count(),
                           ": check the errors table");
  }
  if (options.pca.k > stats.dim()) {
    return Status::Invalid("--pca-k ", options.pca.k, " is larger than the feature dimension ",
                           stats.dim());
  }
  ORCHARD_ASSIGN_OR_RAISE(auto model, pca::FitPca(stats, options.pca));
  summary->seconds["fit_pca"] = util::SecondsSince(start);
  summary->pca = SummaryOf(model);
  return model;
}

Status WritePcaFiles(const pca::PcaModel& model, const io::Location& root) {
  ORCHARD_RETURN_NOT_OK(output::WritePcaModel(model, root));
  const std::string title = "PCA of " + std::to_string(model.count) +
                            " feature vectors: " + std::to_string(model.k) +
                            " components explain the threshold";
  return io::WriteAll(root.Child(output::kScreeSvg), report::ScreePlotSvg(model, title));
}

std::string RecordedModelSha256(const io::Location& output) {
  auto bytes = io::ReadAll(output.Child(output::kSummaryJson));
  if (!bytes.ok()) return "";
  try {
    const auto root = nlohmann::json::parse((*bytes)->ToString());
    if (!root.contains("model") || !root["model"].contains("sha256")) return "";
    return root["model"]["sha256"].get<std::string>();
  } catch (const nlohmann::json::exception&) {
    return "";
  }
}

Result<table::VectorRows> ReadVectorParts(const std::vector<io::Location>& parts,
                                          const std::string& column, int threads) {
  std::vector<table::VectorRows> pieces(parts.size());
  ORCHARD_RETURN_NOT_OK(ParallelFor(parts.size(), threads, [&](size_t part_idx) -> Status {
    ORCHARD_ASSIGN_OR_RAISE(pieces[part_idx], table::ReadVectorFile(parts[part_idx], column));
    return Status::OK();
  }));
  table::VectorRows all;
  for (size_t part_idx = 0; part_idx < pieces.size(); ++part_idx) {
    table::VectorRows& piece = pieces[part_idx];
    if (piece.num_rows() == 0) continue;
    if (all.dim == 0) all.dim = piece.dim;
    if (piece.dim != all.dim) {
      return Status::Invalid(parts[part_idx].display, ": rows of ", piece.dim, " values, ", all.dim,
                             " in the parts before it");
    }
    all.paths.insert(all.paths.end(), piece.paths.begin(), piece.paths.end());
    all.labels.insert(all.labels.end(), piece.labels.begin(), piece.labels.end());
    all.values.insert(all.values.end(), piece.values.begin(), piece.values.end());
  }
  return all;
}

Result<table::VectorRows> ReadVectorTable(const io::Location& folder, const std::string& column,
                                          int threads) {
  ORCHARD_ASSIGN_OR_RAISE(auto parts, table::ListParts(folder));
  return ReadVectorParts(parts, column, threads);
}

Result<EmbeddedFiles> EmbedNamedFiles(const std::vector<std::string>& files,
                                      const model::Embedder& embedder, const JobOptions& options) {
  EmbeddedFiles out;
  out.errors.resize(files.size());
  std::vector<std::shared_ptr<arrow::Buffer>> buffers;
  std::vector<pipeline::EncodedImage> images;
  std::vector<size_t> file_of_image;
  for (size_t file_idx = 0; file_idx < files.size(); ++file_idx) {
    auto location = io::ResolveLocation(files[file_idx], options.storage);
    // A FIFO, folder or device named on the command line is refused before it is opened
    // (opening a FIFO blocks forever), and a huge file before it is read.
    Result<std::shared_ptr<arrow::Buffer>> bytes =
        location.ok() ? io::ReadBounded(*location, options.max_file_bytes)
                      : Result<std::shared_ptr<arrow::Buffer>>(location.status());
    if (!bytes.ok()) {
      out.errors[file_idx] = "read: " + bytes.status().message();
      continue;
    }
    buffers.push_back(*bytes);
    images.push_back({buffers.back()->data(), static_cast<size_t>(buffers.back()->size())});
    file_of_image.push_back(file_idx);
  }
  pipeline::EmbedBytesOptions embed_options;
  embed_options.batch_size = options.batch_size;
  embed_options.decode_threads = std::max(1, CoreCount(options.threads) / 2);
  embed_options.preprocess.max_pixels = options.max_pixels;
  embed_options.preprocess.max_file_bytes = options.max_file_bytes;
  ORCHARD_ASSIGN_OR_RAISE(auto embedded,
                          pipeline::EmbedEncodedImages(images, embedder, embed_options));
  for (const auto& error : embedded.errors) {
    out.errors[file_of_image[static_cast<size_t>(error.index)]] =
        error.stage + ": " + error.message;
  }
  for (const int64_t ok_idx : embedded.ok_indices) {
    out.file_of_row.push_back(file_of_image[static_cast<size_t>(ok_idx)]);
  }
  out.features = std::move(embedded.features);
  return out;
}

}  // namespace orchard::jobs
