#include "index_commands.h"

#include <cstdio>
#include <iostream>

#include "classify_commands.h"
#include "orchard/util/text.h"

namespace orchard::cli {
namespace {

void AddStorage(CLI::App* command, io::StorageOptions* storage) {
  command->add_option("--endpoint-url", storage->endpoint_url,
                      "S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS)");
  command->add_option("--region", storage->region, "AWS region");
  command->add_flag("--virtual-addressing", storage->virtual_addressing,
                    "use bucket.host addressing instead of path-style");
}

void AddBuild(CLI::App* command, index::BuildOptions* build, std::string* max_memory) {
  command->add_option("--kind", build->kind, "index kind: auto, flat (exact) or ivf-pq")
      ->capture_default_str()
      ->check(CLI::IsMember({index::kKindAuto, index::kKindFlat, index::kKindIvfPq}));
  command->add_option("--max-memory", *max_memory,
                      "bound on the index's size, e.g. 512M or 4G (default: none)");
}

}  // namespace

IndexCommands::IndexCommands(CLI::App* app, const std::string& default_model, bool print)
    : default_model_(default_model), print_(print) {
  index_ = app->add_subcommand(
      "index", "nearest-neighbour index over OUTPUT/pca (or features) -> INDEX_DIR");
  index_->add_option("-i,--input", index_options_.input, "an earlier `orchard run` output")
      ->required();
  index_->add_option("-o,--output", index_options_.output, "the index folder to write")->required();
  index_->add_option("--on", index_options_.on, "index 'pca' or 'features' vectors")
      ->capture_default_str()
      ->check(CLI::IsMember({"pca", "features"}));
  AddBuild(index_, &index_options_.build, &max_memory_);
  index_->add_option("-j,--threads", index_options_.threads, "cores to use (default: all)")
      ->check(ThreadCountValidator());
  index_->add_flag("--overwrite", index_options_.overwrite, "replace an existing index");
  index_->add_flag("-q,--quiet", quiet_, "no summary on stderr");
  index_->add_flag("--json", json_summary_, "print metrics.json on stdout");
  AddStorage(index_, &index_options_.storage);

  search_ = app->add_subcommand(
      "search", "neighbours of photos (printed), or of every row of an output (-i -o)");
  search_->add_option("-x,--index", search_options_.index_dir, "index folder (orchard index)")
      ->required();
  auto* input = search_->add_option("-i,--input", search_options_.job.input,
                                    "an earlier output: the neighbours of each of its rows");
  auto* output = search_->add_option("-o,--output", search_options_.job.output,
                                     "folder for neighbours.parquet");
  auto* files = search_->add_option("files", files_, "image files: print their neighbours");
  input->needs(output);
  output->needs(input);
  files->excludes(input);
  search_->add_option("-k,--neighbours", search_options_.k, "neighbours per image")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, jobs::kMaxNeighbours));
  search_->add_option("--backbone", search_options_.job.model,
                      "embedding model for photos; must be the index's (default: the shipped "
                      "MobileNetV2)");
  search_
      ->add_option("--max-file-bytes", search_options_.job.max_file_bytes,
                   "files larger than this are refused, never read")
      ->capture_default_str();
  search_->add_option("-j,--threads", search_options_.job.threads, "cores to use (default: all)")
      ->check(ThreadCountValidator());
  search_->add_flag("--overwrite", search_options_.overwrite, "replace an existing result");
  search_->add_flag("-q,--quiet", quiet_, "no summary on stderr");
  search_->add_flag("--json", json_summary_, "print the results as JSON on stdout");
  AddStorage(search_, &search_options_.job.storage);

  dedup_ = app->add_subcommand(
      "dedup", "groups of near-duplicate images of an output (or its near-copies in another)");
  dedup_->add_option("-i,--input", dedup_options_.input, "an earlier `orchard run` output")
      ->required();
  dedup_->add_option("-o,--output", dedup_options_.output, "folder for the result")->required();
  dedup_->add_option("--against", dedup_options_.against,
                     "another output: list the input's images with a near-copy there");
  dedup_
      ->add_option("--on", dedup_options_.on,
                   "compare 'features' (no PCA fit involved) or 'pca' vectors")
      ->capture_default_str()
      ->check(CLI::IsMember({"pca", "features"}));
  dedup_
      ->add_option("--threshold", dedup_options_.threshold,
                   "cosine distance under which two images are near-duplicates")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 2.0));
  dedup_->add_option("-k,--neighbours", dedup_options_.k, "neighbours looked at per image")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, jobs::kMaxNeighbours));
  AddBuild(dedup_, &dedup_options_.build, &max_memory_);
  dedup_->add_option("-j,--threads", dedup_options_.threads, "cores to use (default: all)")
      ->check(ThreadCountValidator());
  dedup_->add_flag("--overwrite", dedup_options_.overwrite, "replace an existing result");
  dedup_->add_flag("-q,--quiet", quiet_, "no summary on stderr");
  dedup_->add_flag("--json", json_summary_, "print the summary as JSON on stdout");
  AddStorage(dedup_, &dedup_options_.storage);
}

bool IndexCommands::parsed() const {
  return index_->parsed() || search_->parsed() || dedup_->parsed();
}

Result<nlohmann::json> IndexCommands::Run(const jobs::JobOptions& shared) {
  const bool print_lines = print_ && !json_summary_ && !quiet_;
  ORCHARD_ASSIGN_OR_RAISE(const int64_t max_memory, jobs::ParseMaxMemory(max_memory_));
  if (index_->parsed()) {
    index_options_.build.max_memory_bytes = max_memory;
    ORCHARD_ASSIGN_OR_RAISE(auto metrics, jobs::IndexJob(index_options_));
    if (print_lines) {
      std::fprintf(stderr,
                   "indexed %lld rows (%lld skipped) of %lld values: %s, %.1f bytes/vector, "
                   "recall@10 %.4f, built in %.2f s\n",
                   static_cast<long long>(metrics.build.rows),
                   static_cast<long long>(metrics.rows_skipped),
                   static_cast<long long>(metrics.build.dim), metrics.build.kind.c_str(),
                   metrics.bytes_per_vector, metrics.build.recall_at_10, metrics.build_seconds);
    }
    return index::ToJson(metrics);
  }
  if (dedup_->parsed()) {
    dedup_options_.build.max_memory_bytes = max_memory;
    ORCHARD_ASSIGN_OR_RAISE(auto summary, jobs::DedupJob(dedup_options_));
    if (print_lines) {
      if (summary.against.empty()) {
        std::fprintf(stderr, "%lld groups of near-duplicates, %lld images in them, of %lld\n",
                     static_cast<long long>(summary.groups),
                     static_cast<long long>(summary.grouped_rows),
                     static_cast<long long>(summary.rows));
      } else {
        std::fprintf(stderr, "%lld of %lld images have a near-copy in %s\n",
                     static_cast<long long>(summary.matched_rows),
                     static_cast<long long>(summary.rows),
                     util::ForTerminal(summary.against).c_str());
      }
    }
    return jobs::ToJson(summary);
  }
  // search
  auto& job = search_options_.job;
  job.shipped_model = default_model_;
  job.cancel = shared.cancel;
  if (!quiet_) job.warn = shared.warn;
  if (job.input.empty()) {
    if (files_.empty()) {
      return UsageError("give image files, or --input and --output (see search --help)");
    }
    ORCHARD_ASSIGN_OR_RAISE(auto results, jobs::SearchFiles(search_options_, files_));
    // stdout: a TSV with a header, one row per neighbour (or one with path and error);
    // fields ForTerminal of their table form, as predict's.
    const bool print_tsv = print_ && !json_summary_;
    if (print_tsv) std::printf("path\trank\tneighbour_path\tlabel\tdistance\terror\n");
    nlohmann::json out = nlohmann::json::array();
    int64_t failed = 0;
    for (const auto& result : results) {
      const std::string path = util::EscapeName(result.path);
      nlohmann::json entry = {{"path", path}};
      if (!result.error.empty()) {
        ++failed;
        const std::string error = util::ValidUtf8(result.error);
        entry["error"] = error;
        if (print_tsv) {
          std::printf("%s\t\t\t\t\t%s\n", util::ForTerminal(path).c_str(),
                      util::ForTerminal(error).c_str());
        }
      } else {
        nlohmann::json neighbours = nlohmann::json::array();
        for (size_t rank = 0; rank < result.neighbours.size(); ++rank) {
          const auto& neighbour = result.neighbours[rank];
          neighbours.push_back({{"path", neighbour.path},
                                {"label", neighbour.label},
                                {"distance", neighbour.distance}});
          if (print_tsv) {
            std::printf("%s\t%zu\t%s\t%s\t%.6f\t\n", util::ForTerminal(path).c_str(), rank + 1,
                        util::ForTerminal(neighbour.path).c_str(),
                        util::ForTerminal(neighbour.label).c_str(), neighbour.distance);
          }
        }
        entry["neighbours"] = neighbours;
      }
      out.push_back(entry);
    }
    if (print_ && json_summary_) {
      std::cout << util::DumpJson(out, 2, util::JsonChars::kAscii) << std::endl;
    }
    std::fflush(stdout);
    printed_ = true;
    if (failed > 0) {
      return Status::Invalid(failed, " of ", results.size(), " files could not be searched");
    }
    return nlohmann::json{{"results", out}};
  }
  ORCHARD_ASSIGN_OR_RAISE(auto summary, jobs::SearchJob(search_options_));
  if (print_lines) {
    std::fprintf(stderr, "neighbours of %lld rows (%lld skipped) written to %s\n",
                 static_cast<long long>(summary.rows), static_cast<long long>(summary.skipped),
                 util::ForTerminal(summary.output).c_str());
  }
  return jobs::ToJson(summary);
}

}  // namespace orchard::cli
