// The output contract's names, in one place: what an orchard output folder holds (README
// "Output"). The CLI jobs, the Spark job (through orchard._native) and the tests all use
// these; part file names are table::PartName / table::PartIndex, the commit protocol
// (_temporary staging, _SUCCESS last) is output::OutputCommitter.
#pragma once

#include <string_view>

namespace orchard::output {

inline constexpr const char* kFeaturesDir = "features";        ///< path, label, features
inline constexpr const char* kErrorsDir = "errors";            ///< path, stage, message
inline constexpr const char* kPcaDir = "pca";                  ///< path, label, pca
inline constexpr const char* kPcaModelDir = "pca_model";       ///< model.json, components.parquet
inline constexpr const char* kReportDir = "report";            ///< scree.svg, summary.json, ...
inline constexpr const char* kPredictionsDir = "predictions";  ///< orchard predict's table
/// The job's sorted listing (pipeline/listing_file.h): what each part was made of.
inline constexpr const char* kListingDir = "listing";
inline constexpr const char* kModelJson = "pca_model/model.json";
inline constexpr const char* kComponentsParquet = "pca_model/components.parquet";
inline constexpr const char* kScreeSvg = "report/scree.svg";
inline constexpr const char* kSummaryJson = "report/summary.json";
/// orchard predict's metrics (classify::PredictMetrics), when rows are labelled.
inline constexpr const char* kPredictMetricsJson = "report/metrics.json";

/// Written last: the output is complete.
inline constexpr const char* kSuccessFile = "_SUCCESS";
/// Everything is staged here first (output::OutputCommitter).
inline constexpr const char* kStagingFolder = "_temporary";

/// The top-level entries a job may publish (replace) in an output folder. Publishing,
/// --overwrite and crash recovery touch these names and kSuccessFile/kStagingFolder only,
/// never anything else in the folder: see output::OutputCommitter.
inline constexpr std::string_view kPublishableEntries[] = {
    kFeaturesDir, kErrorsDir, kPcaDir, kPcaModelDir, kReportDir, kPredictionsDir, kListingDir};

/// True for a name of kPublishableEntries.
constexpr bool IsPublishableEntry(std::string_view name) {
  for (const auto entry : kPublishableEntries) {
    if (entry == name) return true;
  }
  return false;
}

/// True for every top-level name an orchard output may hold: the publishable entries,
/// _SUCCESS and the staging folder.
constexpr bool IsContractEntry(std::string_view name) {
  return IsPublishableEntry(name) || name == kSuccessFile || name == kStagingFolder;
}

}  // namespace orchard::output
