#include "orchard/classify/classifier_file.h"

#include <arrow/buffer.h>
#include <arrow/filesystem/filesystem.h>

#include <cmath>
#include <limits>
#include <new>
#include <optional>
#include <set>

#include "orchard/io/regular_file.h"
#include "orchard/pca/pca_json.h"
#include "orchard/util/text.h"

namespace orchard::classify {
namespace {

using nlohmann::json;

// The fields of classifier.json, read and checked one by one; every message starts with
// the file's name and names the field.
class ClassifierReader {
 public:
  ClassifierReader(const json& in, std::string source) : in_(in), source_(std::move(source)) {}

  Status Fail(const std::string& field, const std::string& problem) const {
    return Status::Invalid(source_, ": '", field, "' ", problem);
  }

  Result<const json*> Field(const char* name) const {
    if (!in_.contains(name)) return Status::Invalid(source_, ": no '", name, "'");
    return &in_.at(name);
  }

  Result<std::string> String(const char* name) const {
    ORCHARD_ASSIGN_OR_RAISE(const json* value, Field(name));
    if (!value->is_string()) return Fail(name, "is not a string");
    return value->get<std::string>();
  }

  Result<int64_t> Integer(const char* name, int64_t low, int64_t high) const {
    ORCHARD_ASSIGN_OR_RAISE(const json* value, Field(name));
    if (!value->is_number_integer()) return Fail(name, "is not an integer");
    if (value->is_number_unsigned() && value->get<uint64_t>() > static_cast<uint64_t>(high)) {
      return Fail(name, "is out of range " + std::to_string(low) + ".." + std::to_string(high));
    }
    const auto parsed = value->get<int64_t>();
    if (parsed < low || parsed > high) {
      return Fail(name, "is " + std::to_string(parsed) + ", out of range " + std::to_string(low) +
                            ".." + std::to_string(high));
    }
    return parsed;
  }

  // Exactly `expected` finite numbers with low <= |value| <= high (NaN and infinities are
  // written as null by nlohmann, so any non-number is refused too).
  Result<std::vector<double>> Numbers(const json& value, const std::string& field, size_t expected,
                                      double low, double high) const {
    if (!value.is_array()) return Fail(field, "is not a list of numbers");
    if (value.size() != expected) {
      return Fail(field, "has " + std::to_string(value.size()) + " values, expected " +
                             std::to_string(expected));
    }
    std::vector<double> numbers;
    numbers.reserve(expected);
    for (size_t idx = 0; idx < expected; ++idx) {
      const json& item = value[idx];
      const double number = item.is_number() ? item.get<double>() : std::nan("");
      if (!std::isfinite(number)) {
        return Status::Invalid(source_, ": '", field, "'[", idx, "] is not a finite number");
      }
      if (std::abs(number) < low || std::abs(number) > high) {
        return Status::Invalid(source_, ": '", field, "'[", idx, "] is ", number,
                               ", out of range: its magnitude must be between ", low, " and ",
                               high);
      }
      numbers.push_back(number);
    }
    return numbers;
  }

  Result<std::vector<double>> Numbers(const char* name, size_t expected, double low,
                                      double high) const {
    ORCHARD_ASSIGN_OR_RAISE(const json* value, Field(name));
    return Numbers(*value, name, expected, low, high);
  }

 private:
  const json& in_;
  std::string source_;
};

// The largest magnitude of a weight, bias or mean: what float32 can hold. With these
// bounds and scale >= kMinScale the float64 logits of Probabilities cannot overflow.
constexpr double kMaxMagnitude = std::numeric_limits<float>::max();
// Train replaces a scale below 1e-12 by 1, so a smaller scale was not written by orchard.
constexpr double kMinScale = 1e-12;
// Bounds on the shape; a classifier.json within kMaxModelJsonBytes stays far below them.
constexpr int64_t kMaxClasses = int64_t{1} << 20;
constexpr int64_t kMaxWeights = int64_t{1} << 28;

Result<Classifier> ValidatedClassifier(const json& in, const std::string& source,
                                       const std::string* pca_json, const std::string& pca_source) {
  if (!in.is_object()) return Status::Invalid(source, ": not a JSON object");
  const ClassifierReader read(in, source);
  Classifier classifier;
  ORCHARD_ASSIGN_OR_RAISE(auto format, read.String("format"));
  if (format != kClassifierFormat) {
    return Status::Invalid(source, ": unknown format '", format, "' (expected ", kClassifierFormat,
                           ")");
  }
  ORCHARD_ASSIGN_OR_RAISE(classifier.input, read.String("input"));
  if (classifier.input != "features" && classifier.input != "pca") {
    return read.Fail("input", "is '" + classifier.input + "', not 'features' or 'pca'");
  }
  ORCHARD_ASSIGN_OR_RAISE(classifier.feature_model_sha256, read.String("feature_model_sha256"));
  // Only compared for equality with the backbone's digest (CheckBackbone); bounded so that
  // a message quoting it stays short.
  if (classifier.feature_model_sha256.size() > 128) {
    return read.Fail("feature_model_sha256", "is longer than a digest");
  }
  ORCHARD_ASSIGN_OR_RAISE(classifier.dim, read.Integer("dim", 1, pca::kMaxPcaDim));
  ORCHARD_ASSIGN_OR_RAISE(const json* c, read.Field("c"));
  classifier.c = c->is_number() ? c->get<double>() : std::nan("");
  if (!(std::isfinite(classifier.c) && classifier.c > 0)) {
    return read.Fail("c", "is not a positive finite number");
  }
  ORCHARD_ASSIGN_OR_RAISE(const json* classes, read.Field("classes"));
  if (!classes->is_array() || classes->size() < 2 ||
      classes->size() > static_cast<size_t>(kMaxClasses)) {
    return read.Fail("classes", "is not a list of 2 to " + std::to_string(kMaxClasses) + " names");
  }
  std::set<std::string> seen;
  for (size_t class_idx = 0; class_idx < classes->size(); ++class_idx) {
    const json& name = (*classes)[class_idx];
    const std::string field = "classes[" + std::to_string(class_idx) + "]";
    if (!name.is_string() || name.get<std::string>().empty()) {
      return read.Fail(field, "is not a non-empty string");
    }
    if (!seen.insert(name.get<std::string>()).second) {
      return read.Fail(field, "repeats the class '" + name.get<std::string>() + "'");
    }
    classifier.classes.push_back(name.get<std::string>());
  }
  const auto k = static_cast<size_t>(classifier.num_classes());
  const auto d = static_cast<size_t>(classifier.dim);
  if (classifier.num_classes() * classifier.dim > kMaxWeights) {
    return Status::Invalid(source, ": ", k, " classes x ", d, " inputs is more than ", kMaxWeights,
                           " weights");
  }
  ORCHARD_ASSIGN_OR_RAISE(classifier.mean, read.Numbers("mean", d, 0, kMaxMagnitude));
  ORCHARD_ASSIGN_OR_RAISE(classifier.scale, read.Numbers("scale", d, kMinScale, kMaxMagnitude));
  for (size_t col = 0; col < d; ++col) {
    if (classifier.scale[col] < 0) {
      return read.Fail("scale[" + std::to_string(col) + "]", "is negative");
    }
  }
  ORCHARD_ASSIGN_OR_RAISE(auto bias, read.Numbers("bias", k, 0, kMaxMagnitude));
  classifier.bias.assign(bias.begin(), bias.end());
  ORCHARD_ASSIGN_OR_RAISE(const json* weights, read.Field("weights"));
  if (!weights->is_array() || weights->size() != k) {
    return read.Fail("weights", "is not a list of " + std::to_string(k) + " rows (one per class)");
  }
  classifier.weights.reserve(k * d);
  for (size_t class_idx = 0; class_idx < k; ++class_idx) {
    ORCHARD_ASSIGN_OR_RAISE(
        auto row, read.Numbers((*weights)[class_idx], "weights[" + std::to_string(class_idx) + "]",
                               d, 0, kMaxMagnitude));
    classifier.weights.insert(classifier.weights.end(), row.begin(), row.end());
  }
  if (classifier.input == "pca") {
    if (pca_json == nullptr) {
      return Status::Invalid(source, " was trained on PCA vectors but ", pca_source, " is missing");
    }
    ORCHARD_ASSIGN_OR_RAISE(auto pca_model, pca::ModelFromJsonText(*pca_json, pca_source));
    if (pca_model.k != classifier.dim) {
      return Status::Invalid(pca_source, " keeps ", pca_model.k, " components but ", source,
                             " expects ", classifier.dim, " inputs ('dim')");
    }
    classifier.pca = std::move(pca_model);
  }
  return classifier;
}

}  // namespace

json ToJson(const Classifier& classifier) {
  const int64_t k = classifier.num_classes(), d = classifier.dim;
  json weights = json::array();
  for (int64_t class_idx = 0; class_idx < k; ++class_idx) {
    weights.push_back(std::vector<float>(classifier.weights.begin() + class_idx * d,
                                         classifier.weights.begin() + (class_idx + 1) * d));
  }
  return {{"format", kClassifierFormat},
          {"kind", "multinomial logistic regression (softmax), L2"},
          {"input", classifier.input},
          {"feature_model_sha256", classifier.feature_model_sha256},
          {"dim", d},
          {"c", classifier.c},
          {"classes", classifier.classes},
          {"mean", classifier.mean},
          {"scale", classifier.scale},
          {"bias", classifier.bias},
          {"weights", weights}};
}

Result<Classifier> ClassifierFromJson(const json& document, const std::string& source,
                                      const std::string* pca_json, const std::string& pca_source) {
  try {
    return ValidatedClassifier(document, source, pca_json, pca_source);
  } catch (const json::exception& error) {
    return Status::Invalid("cannot parse ", source, ": ", error.what());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory reading ", source);
  }
}

Status SaveClassifier(const Classifier& classifier, const io::Location& model_dir) {
  if (classifier.pca) {
    ORCHARD_RETURN_NOT_OK(io::WriteAll(model_dir.Child(kClassifierPcaJson),
                                       util::DumpJson(pca::ModelToJson(*classifier.pca))));
  }
  return io::WriteAll(model_dir.Child(kClassifierJson), util::DumpJson(ToJson(classifier)));
}

Result<Classifier> ParseClassifier(const std::string& classifier_json, const std::string& source,
                                   const std::string* pca_json, const std::string& pca_source) {
  json document;
  try {
    document = json::parse(classifier_json);
  } catch (const json::exception& error) {
    return Status::Invalid("cannot parse ", source, ": ", error.what());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory reading ", source);
  }
  return ClassifierFromJson(document, source, pca_json, pca_source);
}

Result<Classifier> LoadClassifier(const io::Location& model_dir) {
  const io::Location classifier_file = model_dir.Child(kClassifierJson);
  const io::Location pca_file = model_dir.Child(kClassifierPcaJson);
  ORCHARD_ASSIGN_OR_RAISE(auto classifier_info,
                          classifier_file.fs->GetFileInfo(classifier_file.path));
  if (classifier_info.type() == arrow::fs::FileType::NotFound) {
    return Status::Invalid("no classifier in '", model_dir.display, "' (", kClassifierJson,
                           "): train one with `orchard train`");
  }
  ORCHARD_ASSIGN_OR_RAISE(auto bytes, io::ReadRegularFile(classifier_file, io::kMaxModelJsonBytes,
                                                          classifier_file.display));
  // pca_model.json is read when it is there; ParseClassifier says whether it is needed.
  std::optional<std::string> pca_json;
  ORCHARD_ASSIGN_OR_RAISE(auto pca_info, pca_file.fs->GetFileInfo(pca_file.path));
  if (pca_info.type() != arrow::fs::FileType::NotFound) {
    ORCHARD_ASSIGN_OR_RAISE(
        auto pca_bytes, io::ReadRegularFile(pca_file, io::kMaxModelJsonBytes, pca_file.display));
    pca_json = pca_bytes->ToString();
  }
  return ParseClassifier(bytes->ToString(), classifier_file.display,
                         pca_json ? &*pca_json : nullptr, pca_file.display);
}

}  // namespace orchard::classify
