// `orchard inspect`: what an output folder holds, read back through the output contract.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::jobs {

/// Schema, row counts and PCA summary of an output folder (local or s3://), whether it is
/// complete (_SUCCESS), and its report/summary.json. Fails when the folder does not exist
/// or a part or pca_model/model.json cannot be read.
Result<nlohmann::json> InspectOutput(const std::string& output, const io::StorageOptions& storage);

}  // namespace orchard::jobs
