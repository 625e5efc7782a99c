#include "orchard/util/json_fields.h"

namespace orchard::util {

using nlohmann::json;

Result<JsonFields> JsonFields::Of(const json& object, const std::string& source,
                                  const std::string& path) {
  if (!object.is_object()) {
    return path.empty() ? Status::Invalid(source, ": not a JSON object")
                        : Status::Invalid(source, ": '", path, "' is not an object");
  }
  return JsonFields(&object, source, path);
}

bool JsonFields::Has(const char* key) const { return object_->contains(key); }

std::string JsonFields::PathOf(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

Status JsonFields::Error(const std::string& key, const std::string& what) const {
  return Status::Invalid(source_, ": '", PathOf(key), "' ", what);
}

Result<int64_t> IntegerItem(const json& item, const std::string& source, const std::string& path) {
  // Unsigned values above INT64_MAX would wrap; floats (3.0 included) are not integers.
  if (!item.is_number_integer() ||
      (item.is_number_unsigned() && item.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))) {
    return Status::Invalid(source, ": '", path, "' is not an integer");
  }
  return item.get<int64_t>();
}

Result<double> NumberItem(const json& item, const std::string& source, const std::string& path) {
  if (!item.is_number()) return Status::Invalid(source, ": '", path, "' is not a number");
  return item.get<double>();
}

Result<std::optional<std::string>> JsonFields::OptionalString(const char* key) const {
  auto it = object_->find(key);
  if (it == object_->end()) return std::optional<std::string>();
  if (!it->is_string()) return Error(key, "is not a string");
  return std::optional<std::string>(it->get<std::string>());
}

Result<std::optional<int64_t>> JsonFields::OptionalInteger(const char* key) const {
  auto it = object_->find(key);
  if (it == object_->end()) return std::optional<int64_t>();
  ORCHARD_ASSIGN_OR_RAISE(int64_t value, IntegerItem(*it, source_, PathOf(key)));
  return std::optional<int64_t>(value);
}

Result<std::optional<double>> JsonFields::OptionalNumber(const char* key) const {
  auto it = object_->find(key);
  if (it == object_->end()) return std::optional<double>();
  ORCHARD_ASSIGN_OR_RAISE(double value, NumberItem(*it, source_, PathOf(key)));
  return std::optional<double>(value);
}

Result<std::optional<JsonFields>> JsonFields::OptionalObject(const char* key) const {
  auto it = object_->find(key);
  if (it == object_->end()) return std::optional<JsonFields>();
  ORCHARD_ASSIGN_OR_RAISE(auto fields, Of(*it, source_, PathOf(key)));
  return std::optional<JsonFields>(std::move(fields));
}

Result<std::string> JsonFields::String(const char* key) const {
  ORCHARD_ASSIGN_OR_RAISE(auto value, OptionalString(key));
  if (!value) return Error(key, "is missing");
  return std::move(*value);
}

Result<int64_t> JsonFields::Integer(const char* key, int64_t low, int64_t high) const {
  ORCHARD_ASSIGN_OR_RAISE(auto value, OptionalInteger(key));
  if (!value) return Error(key, "is missing");
  if (*value < low || *value > high) {
    return Error(key, "is " + std::to_string(*value) + ", out of range " + std::to_string(low) +
                          ".." + std::to_string(high));
  }
  return *value;
}

Result<double> JsonFields::Number(const char* key) const {
  ORCHARD_ASSIGN_OR_RAISE(auto value, OptionalNumber(key));
  if (!value) return Error(key, "is missing");
  return *value;
}

Result<JsonFields> JsonFields::Object(const char* key) const {
  ORCHARD_ASSIGN_OR_RAISE(auto value, OptionalObject(key));
  if (!value) return Error(key, "is missing");
  return std::move(*value);
}

Result<const json*> JsonFields::Array(const char* key) const {
  auto it = object_->find(key);
  if (it == object_->end()) return Error(key, "is missing");
  if (!it->is_array()) return Error(key, "is not a list");
  return &*it;
}

}  // namespace orchard::util
