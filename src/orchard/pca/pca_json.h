// JSON form of a fitted PCA model (pca_model/model.json): exact float64 round trip.
#pragma once

#include <nlohmann/json.hpp>

#include "orchard/pca/pca.h"
#include "orchard/util/status.h"

namespace orchard::pca {

nlohmann::json ModelToJson(const PcaModel& model);
Result<PcaModel> ModelFromJson(const nlohmann::json& json);

}  // namespace orchard::pca
