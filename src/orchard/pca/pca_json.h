// JSON form of a fitted PCA model (pca_model/model.json): exact float64 round trip.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "orchard/pca/pca.h"
#include "orchard/util/status.h"

namespace orchard::pca {

/// The widest PCA model (and PCA statistics) orchard reads: the embedding bound
/// (model::kMaxOutputDim).
inline constexpr int64_t kMaxPcaDim = int64_t{1} << 16;

nlohmann::json ModelToJson(const PcaModel& model);

/// Reads what ModelToJson wrote and validates every field, as a file from elsewhere may
/// hold anything: 1 <= dim <= kMaxPcaDim, 1 <= k <= dim, n >= 2, a variance threshold in
/// (0, 1], `dim` finite means within float32's range, `dim` finite non-negative variances and
/// ratios in [0, 1], `k` finite unit-length components of `dim` values. Fails with a message that
/// starts with `source` (the file) and names the field. Never throws.
Result<PcaModel> ModelFromJson(const nlohmann::json& json,
                               const std::string& source = "PCA model JSON");

/// Parses `text` and calls ModelFromJson: the loader of pca_model/model.json files (and
/// the fuzz target's entry). Never throws.
Result<PcaModel> ModelFromJsonText(const std::string& text, const std::string& source);

}  // namespace orchard::pca
