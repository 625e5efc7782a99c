// The prediction pass over features parts: each part (path, label, features) becomes a
// predictions part of the same name (table/predictions.h), counted for the metrics. What
// `orchard predict` (jobs/predict_job) does after featurizing, and what each task of
// `python -m orchard.spark predict` does for its parts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchard/classify/classifier.h"
#include "orchard/classify/metrics.h"
#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::classify {

/// The classes kept per row in the predictions table (and printed by `predict FILE...`).
inline constexpr int64_t kTopK = 5;

/// Refuses (naming `what`) features of another width than the classifier's embeddings.
Status CheckEmbeddingDim(const Classifier& classifier, int64_t dim, const std::string& what);

/// Predicts each features part into `predictions_dir` under the same part name, on up to
/// `threads` threads, and returns their counts (ComputePredictMetrics makes
/// report/metrics.json of their sum).
Result<PredictionCounts> PredictParts(const Classifier& classifier,
                                      const std::vector<io::Location>& feature_parts,
                                      const io::Location& predictions_dir, int threads);

}  // namespace orchard::classify
