#include "orchard/pca/pca_json.h"

namespace orchard::pca {

nlohmann::json ModelToJson(const PcaModel& model) {
  nlohmann::json components = nlohmann::json::array();
  for (int64_t comp_idx = 0; comp_idx < model.k; ++comp_idx) {
    components.push_back(
        std::vector<double>(model.components.begin() + comp_idx * model.dim,
                            model.components.begin() + (comp_idx + 1) * model.dim));
  }
  return {
      {"format", "orchard-pca-1"},
      {"k", model.k},
      {"n", model.count},
      {"dim", model.dim},
      {"variance_threshold", model.variance_threshold},
      {"cumulative_explained_variance_ratio", model.CumulativeRatio(model.k)},
      {"centering", "x - mean"},
      {"sign_convention", "largest-magnitude coordinate of each component is positive"},
      {"mean", model.mean},
      {"explained_variance", model.explained_variance},
      {"explained_variance_ratio", model.explained_variance_ratio},
      {"components", components},
  };
}

Result<PcaModel> ModelFromJson(const nlohmann::json& json) {
  try {
    if (json.value("format", "") != "orchard-pca-1") {
      return Status::Invalid("not an orchard PCA model (format ", json.value("format", "?"), ")");
    }
    PcaModel model;
    model.k = json.at("k").get<int64_t>();
    model.count = json.at("n").get<int64_t>();
    model.dim = json.at("dim").get<int64_t>();
    model.variance_threshold = json.at("variance_threshold").get<double>();
    model.mean = json.at("mean").get<std::vector<double>>();
    model.explained_variance = json.at("explained_variance").get<std::vector<double>>();
    model.explained_variance_ratio = json.at("explained_variance_ratio").get<std::vector<double>>();
    for (const auto& component : json.at("components")) {
      auto values = component.get<std::vector<double>>();
      if (static_cast<int64_t>(values.size()) != model.dim) {
        return Status::Invalid("PCA component of length ", values.size(), ", expected ", model.dim);
      }
      model.components.insert(model.components.end(), values.begin(), values.end());
    }
    if (static_cast<int64_t>(model.mean.size()) != model.dim ||
        static_cast<int64_t>(model.components.size()) != model.k * model.dim) {
      return Status::Invalid("PCA model sizes do not match k=", model.k, " dim=", model.dim);
    }
    return model;
  } catch (const nlohmann::json::exception& error) {
    return Status::Invalid("malformed PCA model JSON: ", error.what());
  }
}

}  // namespace orchard::pca
