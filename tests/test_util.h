// Helpers shared by the unit tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "orchard/model/embedder.h"

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

inline std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  return content.str();
}

/// ONNX Runtime threads for tests. Under ThreadSanitizer the tests run ONNX Runtime on the
/// calling thread only (ORCHARD_TEST_ORT_THREADS=1): its thread pool is uninstrumented and
/// its condition variables read as false reports; our own threads stay fully checked.
inline int TestOrtThreads() {
  const char* ort_threads = std::getenv("ORCHARD_TEST_ORT_THREADS");
  return ort_threads != nullptr ? std::atoi(ort_threads) : 2;
}

/// The shipped model, for tests, on TestOrtThreads() threads.
inline model::Embedder* LoadTestEmbedder() {
  model::EmbedderOptions options;
  options.intra_op_threads = TestOrtThreads();
  auto made = model::Embedder::Make(ReadFile(ModelPath()), options);
  if (!made.ok()) {
    ADD_FAILURE() << made.status().ToString();
    return nullptr;
  }
  return std::move(made).ValueOrDie().release();
}

}  // namespace orchard::testing
