// The classifier's files in MODEL_DIR (issue 13): classifier.json (everything, weights
// included), pca_model.json for a classifier trained on PCA vectors, and the name of the
// training metrics (metrics.json, written by TrainJob). Reading is strict: every field is
// checked, so that a loaded classifier always scores finite inputs finitely.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "orchard/classify/classifier.h"
#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::classify {

/// The names of the files in a model folder, in one place (MODEL_DIR is not an orchard
/// output folder: output/layout.h does not name them).
inline constexpr const char* kClassifierJson = "classifier.json";
inline constexpr const char* kClassifierPcaJson = "pca_model.json";
inline constexpr const char* kTrainMetricsJson = "metrics.json";  ///< TrainSummary
/// The "format" of classifier.json.
inline constexpr const char* kClassifierFormat = "orchard-classifier-1";

/// The document of classifier.json (the PCA model, if any, goes to pca_model.json).
nlohmann::json ToJson(const Classifier& classifier);

/// The classifier in a parsed classifier.json (`source` names it in messages) and, for a
/// classifier trained on PCA vectors, the text of its pca_model.json (`pca_json`, nullptr
/// when there is none; `pca_source` names it). Checks every field as ParseClassifier says.
/// Never throws.
Result<Classifier> ClassifierFromJson(const nlohmann::json& document, const std::string& source,
                                      const std::string* pca_json, const std::string& pca_source);

/// MODEL_DIR/classifier.json (everything, weights included) and, for PCA models,
/// MODEL_DIR/pca_model.json. Files are written atomically; metrics.json is the caller's.
Status SaveClassifier(const Classifier& classifier, const io::Location& model_dir);
/// Reads what SaveClassifier wrote. Both files must be regular files of at most
/// io::kMaxModelJsonBytes (checked before they are opened). Fails with a clear message on a
/// missing or damaged model folder (ParseClassifier checks every field).
Result<Classifier> LoadClassifier(const io::Location& model_dir);

/// The classifier in the text of a classifier.json (`source` names it in messages) and,
/// for a classifier trained on PCA vectors, of its pca_model.json (`pca_json`, nullptr when
/// there is none; `pca_source` names it). Every field is checked, so that a loaded
/// classifier always gives finite probabilities for finite inputs: known format and input;
/// a digest of at most 128 characters; 1 <= dim <= pca::kMaxPcaDim; 2 to 2^20 distinct non-empty
/// class names; at most 2^28 weights; c > 0; mean, bias and weights finite with magnitudes <=
/// FLT_MAX; scale in [1e-12, FLT_MAX]; every list as long as dim and the class count say; a PCA
/// model valid for pca::ModelFromJson keeping dim components. Messages name the file and the field.
/// Never throws.
Result<Classifier> ParseClassifier(const std::string& classifier_json, const std::string& source,
                                   const std::string* pca_json, const std::string& pca_source);

}  // namespace orchard::classify
