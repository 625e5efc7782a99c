// Helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#define ASSERT_OK(expr)                              \
  do {                                               \
    const ::arrow::Status _status = (expr);          \
    ASSERT_TRUE(_status.ok()) << _status.ToString(); \
  } while (false)

#define ORCHARD_TEST_CONCAT_INNER(a, b) a##b
#define ORCHARD_TEST_CONCAT(a, b) ORCHARD_TEST_CONCAT_INNER(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr) \
  ASSERT_OK_AND_ASSIGN_IMPL(ORCHARD_TEST_CONCAT(_result_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL(result, lhs, rexpr)     \
  auto&& result = (rexpr);                                \
  ASSERT_TRUE(result.ok()) << result.status().ToString(); \
  lhs = std::move(result).ValueOrDie()

namespace orchard::testing {

/// A fresh temporary folder, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::random_device device;
    path_ = std::filesystem::temp_directory_path() /
            ("orchard-test-" + std::to_string(device()) + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

inline std::string SourceDir() { return ORCHARD_SOURCE_DIR; }
inline std::string ModelPath() { return SourceDir() + "/models/mobilenet_v2_imagenet.onnx"; }

}  // namespace orchard::testing
