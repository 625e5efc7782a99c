// Typed reading of one JSON object of a file orchard wrote (or that claims to be one): each
// accessor checks the field's type and fails with a message naming the file and the key's
// full path ("OUT/report/summary.json: 'images.ok' is not an integer"). The FromJson
// readers are built on it, so that no code probes a document by key strings.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "orchard/util/status.h"

namespace orchard::util {

class JsonFields {
 public:
  /// The object `object` of `source`, found at `path` ("" at the top, "images" below).
  /// Fails when `object` is not a JSON object.
  static Result<JsonFields> Of(const nlohmann::json& object, const std::string& source,
                               const std::string& path = "");

  bool Has(const char* key) const;
  const nlohmann::json& object() const { return *object_; }
  /// "images.ok" for key "ok" below "images".
  std::string PathOf(const std::string& key) const;
  /// Invalid "<source>: '<path of key>' <what>".
  Status Error(const std::string& key, const std::string& what) const;

  /// Required fields: fail when the key is missing or of another type.
  Result<std::string> String(const char* key) const;
  /// An integer (3.5, "3" and out-of-range values refused) in [low, high].
  Result<int64_t> Integer(const char* key, int64_t low = INT64_MIN, int64_t high = INT64_MAX) const;
  /// Any JSON number (integers included).
  Result<double> Number(const char* key) const;
  Result<JsonFields> Object(const char* key) const;
  /// An array (its items are the caller's to check).
  Result<const nlohmann::json*> Array(const char* key) const;

  /// Optional fields: nullopt when the key is missing; fail when it has another type.
  Result<std::optional<std::string>> OptionalString(const char* key) const;
  Result<std::optional<int64_t>> OptionalInteger(const char* key) const;
  Result<std::optional<double>> OptionalNumber(const char* key) const;
  Result<std::optional<JsonFields>> OptionalObject(const char* key) const;

  const std::string& source() const { return source_; }

 private:
  JsonFields(const nlohmann::json* object, std::string source, std::string path)
      : object_(object), source_(std::move(source)), path_(std::move(path)) {}

  const nlohmann::json* object_;  // the caller's document, which outlives this view
  std::string source_;
  std::string path_;
};

/// An item of a JSON array: `item` (at `path` of `source`) as an
/// int64, or Invalid naming the path.
Result<int64_t> IntegerItem(const nlohmann::json& item, const std::string& source,
                            const std::string& path);
/// `item` as a number, or Invalid naming the path.
Result<double> NumberItem(const nlohmann::json& item, const std::string& source,
                          const std::string& path);

}  // namespace orchard::util
