// The output contract's names, in one place: what an orchard output folder holds (README
// "Output"). The CLI jobs, the Spark job (through orchard._native) and the tests all use
// these; part file names are table::PartName / table::PartIndex, the commit protocol
// (_temporary staging, _SUCCESS last) is table::OutputCommitter.
#pragma once

namespace orchard::output {

inline constexpr const char* kFeaturesDir = "features";   ///< path, label, features
inline constexpr const char* kErrorsDir = "errors";       ///< path, stage, message
inline constexpr const char* kPcaDir = "pca";             ///< path, label, pca
inline constexpr const char* kPcaModelDir = "pca_model";  ///< model.json, components.parquet
inline constexpr const char* kReportDir = "report";       ///< scree.svg, summary.json, ...
inline constexpr const char* kModelJson = "pca_model/model.json";
inline constexpr const char* kComponentsParquet = "pca_model/components.parquet";
inline constexpr const char* kScreeSvg = "report/scree.svg";
inline constexpr const char* kSummaryJson = "report/summary.json";

}  // namespace orchard::output
