#include "orchard/pca/pca_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace orchard::pca {
namespace {

using nlohmann::json;

// The field `name` of `object` as an integer in [low, high]: floats (3.5), strings and
// out-of-range values are refused rather than truncated or wrapped.
Result<int64_t> IntegerField(const json& object, const char* name, int64_t low, int64_t high,
                             const std::string& source) {
  if (!object.contains(name)) return Status::Invalid(source, ": no '", name, "'");
  const json& value = object.at(name);
  if (!value.is_number_integer()) {
    return Status::Invalid(source, ": '", name, "' is not an integer");
  }
  if (value.is_number_unsigned() && value.get<uint64_t>() > static_cast<uint64_t>(high)) {
    return Status::Invalid(source, ": '", name, "' is out of range ", low, "..", high);
  }
  const auto parsed = value.get<int64_t>();
  if (parsed < low || parsed > high) {
    return Status::Invalid(source, ": '", name, "' is ", parsed, ", out of range ", low, "..",
                           high);
  }
  return parsed;
}

// `value` as exactly `expected` finite numbers; `field` names it in messages.
Result<std::vector<double>> FiniteNumbers(const json& value, size_t expected,
                                          const std::string& field, const std::string& source) {
  if (!value.is_array()) return Status::Invalid(source, ": ", field, " is not a list of numbers");
  if (value.size() != expected) {
    return Status::Invalid(source, ": ", field, " has ", value.size(), " values, expected ",
                           expected);
  }
  std::vector<double> numbers;
  numbers.reserve(expected);
  for (size_t idx = 0; idx < expected; ++idx) {
    const json& item = value[idx];
    // nlohmann writes NaN and infinities as null: a non-number is a non-finite value too.
    if (!item.is_number() || !std::isfinite(item.get<double>())) {
      return Status::Invalid(source, ": ", field, "[", idx, "] is not a finite number");
    }
    numbers.push_back(item.get<double>());
  }
  return numbers;
}

Result<std::vector<double>> FiniteField(const json& object, const char* name, size_t expected,
                                        const std::string& source) {
  if (!object.contains(name)) return Status::Invalid(source, ": no '", name, "'");
  return FiniteNumbers(object.at(name), expected, std::string("'") + name + "'", source);
}

Result<PcaModel> ValidatedModel(const json& in, const std::string& source) {
  if (!in.is_object()) return Status::Invalid(source, ": not a JSON object");
  const json* format = in.contains("format") ? &in.at("format") : nullptr;
  if (format == nullptr || !format->is_string() || format->get<std::string>() != "orchard-pca-1") {
    return Status::Invalid(source, ": not an orchard PCA model (format ",
                           format != nullptr ? format->dump() : std::string("missing"), ")");
  }
  PcaModel model;
  ORCHARD_ASSIGN_OR_RAISE(model.dim, IntegerField(in, "dim", 1, kMaxPcaDim, source));
  ORCHARD_ASSIGN_OR_RAISE(model.k, IntegerField(in, "k", 1, model.dim, source));
  // FitPca needs two rows; a model claiming fewer was not fitted by orchard.
  ORCHARD_ASSIGN_OR_RAISE(model.count,
                          IntegerField(in, "n", 2, std::numeric_limits<int64_t>::max(), source));
  if (!in.contains("variance_threshold") || !in.at("variance_threshold").is_number()) {
    return Status::Invalid(source, ": 'variance_threshold' is not a number");
  }
  model.variance_threshold = in.at("variance_threshold").get<double>();
  if (!(model.variance_threshold > 0 && model.variance_threshold <= 1)) {
    return Status::Invalid(source, ": 'variance_threshold' is ", model.variance_threshold,
                           ", out of range (0, 1]");
  }
  const auto dim = static_cast<size_t>(model.dim);
  ORCHARD_ASSIGN_OR_RAISE(model.mean, FiniteField(in, "mean", dim, source));
  // The mean of float32 embeddings is within float32's range; a larger one (a finite
  // double such as 1e300) was not written by orchard and projects every row to +-inf.
  for (size_t idx = 0; idx < dim; ++idx) {
    if (!(std::abs(model.mean[idx]) <= std::numeric_limits<float>::max())) {
      return Status::Invalid(source, ": 'mean'[", idx, "] is ", model.mean[idx],
                             ", beyond float32 (the mean of embeddings cannot be)");
    }
  }
  ORCHARD_ASSIGN_OR_RAISE(model.explained_variance,
                          FiniteField(in, "explained_variance", dim, source));
  for (size_t idx = 0; idx < dim; ++idx) {
    if (model.explained_variance[idx] < 0) {
      return Status::Invalid(source, ": 'explained_variance'[", idx, "] is negative");
    }
  }
  ORCHARD_ASSIGN_OR_RAISE(model.explained_variance_ratio,
                          FiniteField(in, "explained_variance_ratio", dim, source));
  for (size_t idx = 0; idx < dim; ++idx) {
    const double ratio = model.explained_variance_ratio[idx];
    if (ratio < 0 || ratio > 1) {
      return Status::Invalid(source, ": 'explained_variance_ratio'[", idx, "] is ", ratio,
                             ", out of range [0, 1]");
    }
  }
  if (!in.contains("components") || !in.at("components").is_array() ||
      in.at("components").size() != static_cast<size_t>(model.k)) {
    return Status::Invalid(source, ": 'components' is not a list of k=", model.k, " vectors");
  }
  model.components.reserve(static_cast<size_t>(model.k) * dim);
  for (size_t comp_idx = 0; comp_idx < static_cast<size_t>(model.k); ++comp_idx) {
    const std::string field = "'components'[" + std::to_string(comp_idx) + "]";
    ORCHARD_ASSIGN_OR_RAISE(auto values,
                            FiniteNumbers(in.at("components")[comp_idx], dim, field, source));
    // FitPca writes unit vectors (LAPACK's, to ~1e-15); a component of another length
    // scales every projection, and a huge one overflows the float32 pca table.
    double norm2 = 0;
    for (double value : values) norm2 += value * value;
    if (!(std::abs(std::sqrt(norm2) - 1.0) <= 1e-3)) {
      return Status::Invalid(source, ": ", field, " has length ", std::sqrt(norm2),
                             ", expected a unit vector");
    }
    model.components.insert(model.components.end(), values.begin(), values.end());
  }
  return model;
}

}  // namespace

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

Result<PcaModel> ModelFromJson(const nlohmann::json& json, const std::string& source) {
  try {
    return ValidatedModel(json, source);
  } catch (const nlohmann::json::exception& error) {
    // Not expected after the type checks above; kept so that no JSON can escape as a throw.
    return Status::Invalid(source, ": malformed PCA model: ", error.what());
  }
}

Result<PcaModel> ModelFromJsonText(const std::string& text, const std::string& source) {
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& error) {
    return Status::Invalid("cannot parse ", source, ": ", error.what());
  }
  return ModelFromJson(json, source);
}

}  // namespace orchard::pca
