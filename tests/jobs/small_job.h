// A small job on a few generated images, shared by the jobs layer's tests.
#pragma once

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "../test_util.h"
#include "orchard/jobs/options.h"

namespace orchard::jobs {

// Three label folders of small images and one broken file.
inline void MakeInput(const std::filesystem::path& root, int per_label) {
  int idx = 0;
  for (const char* label : {"kiwi", "lime", "plum"}) {
    std::filesystem::create_directories(root / label);
    for (int copy = 0; copy < per_label; ++copy, ++idx) {
      cv::Mat image(30 + idx, 40 + copy, CV_8UC3, cv::Scalar(idx * 17 % 255, 90, 200 - copy));
      const std::string name = std::string("i").append(std::to_string(copy)).append(".png");
      cv::imwrite((root / label / name).string(), image);
    }
  }
  std::ofstream(root / "kiwi" / "broken.jpg") << "not an image";
}

inline JobOptions SmallJob(const orchard::testing::TempDir& dir, const std::string& output) {
  JobOptions options;
  options.input = dir.str() + "/in";
  options.output = dir.str() + "/" + output;
  options.model = orchard::testing::ModelPath();
  options.threads = orchard::testing::TestOrtThreads();
  options.batch_size = 2;
  options.rows_per_part = 2;
  options.pca.k = 3;
  return options;
}

inline std::string Bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), {});
}

}  // namespace orchard::jobs
