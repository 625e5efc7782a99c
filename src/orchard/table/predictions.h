// The predictions table of `orchard predict` (output::kPredictionsDir): one row per
// predicted image, part files named as the features parts they were predicted from.
//
//   path string, label string, predicted string, probability float32,
//   top5 list<struct<label string, probability float32>>  (best first; top5[0] is predicted)
#pragma once

#include <arrow/type_fwd.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::table {

inline constexpr const char* kPredictedColumn = "predicted";
inline constexpr const char* kProbabilityColumn = "probability";
inline constexpr const char* kTopColumn = "top5";
/// The fields of a top5 entry.
inline constexpr const char* kTopLabelField = "label";
inline constexpr const char* kTopProbabilityField = "probability";

/// The schema above.
std::shared_ptr<arrow::Schema> PredictionsSchema();

/// One of the best classes of a row.
struct TopClass {
  std::string label;
  float probability = 0;
};

/// Rows of the predictions table held in memory (what ReadPredictionsFile returns).
struct PredictionRows {
  std::vector<std::string> paths;
  std::vector<std::string> labels;
  std::vector<std::string> predicted;
  std::vector<float> probabilities;
  std::vector<std::vector<TopClass>> top;
  int64_t num_rows() const { return static_cast<int64_t>(paths.size()); }
};

/// Builds one record batch of the predictions table, a row at a time, with the class
/// names given once (rows refer to classes by index). Not thread-safe: one per part.
class PredictionsBatchBuilder {
 public:
  /// `classes`: the classifier's class names; must outlive the builder.
  explicit PredictionsBatchBuilder(const std::vector<std::string>& classes);
  ~PredictionsBatchBuilder();

  /// Appends one row: `top` holds class indices (into `classes`), best first, at least
  /// one; `probabilities` the row's probability of every class (indexed by class). The
  /// first of `top` is the row's `predicted` and `probability`.
  Status Append(std::string_view path, std::string_view label, const std::vector<int64_t>& top,
                const float* probabilities);
  /// The rows appended so far; the builder is empty afterwards.
  Result<std::shared_ptr<arrow::RecordBatch>> Finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Reads one part of the predictions table. Fails, naming the file, when a column is
/// missing or of another type, or holds nulls.
Result<PredictionRows> ReadPredictionsFile(const io::Location& location);

}  // namespace orchard::table
