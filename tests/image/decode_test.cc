#include "orchard/image/decode.h"

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "../test_util.h"

namespace orchard::image {
namespace {

std::vector<uint8_t> Encode(const cv::Mat& image, const std::string& extension,
                            const std::vector<int>& params = {}) {
  std::vector<uint8_t> bytes;
  EXPECT_TRUE(cv::imencode(extension, image, bytes, params));
  return bytes;
}

// A solid-colour BGR image decodes to the exact normalised value in every pixel.
void ExpectSolid(const std::vector<float>& chw, int red, int green, int blue, float tolerance) {
  const size_t plane = chw.size() / 3;
  const float expected[3] = {(red - 127.5f) / 127.5f, (green - 127.5f) / 127.5f,
                             (blue - 127.5f) / 127.5f};
  for (size_t channel = 0; channel < 3; ++channel) {
    for (size_t idx = 0; idx < plane; idx += 997) {
      ASSERT_NEAR(chw[channel * plane + idx], expected[channel], tolerance)
          << "channel " << channel << " index " << idx;
    }
  }
}

class DecodeTest : public ::testing::Test {
 protected:
  PreprocessOptions options_;
  std::vector<float> out_ = std::vector<float>(static_cast<size_t>(InputSize(options_)));

  Status Decode(const std::vector<uint8_t>& bytes) {
    return DecodeAndPreprocess(bytes.data(), bytes.size(), options_, out_.data());
  }
};

TEST_F(DecodeTest, ReadsHeadersOfEveryFormat) {
  const cv::Mat image(30, 40, CV_8UC3, cv::Scalar(1, 2, 3));
  struct Case {
    std::string extension;
    ImageFormat format;
  };
  for (const auto& test_case : std::vector<Case>{{".jpg", ImageFormat::kJpeg},
                                                 {".png", ImageFormat::kPng},
                                                 {".bmp", ImageFormat::kBmp},
                                                 {".webp", ImageFormat::kWebp},
                                                 {".tiff", ImageFormat::kTiff}}) {
    const auto bytes = Encode(image, test_case.extension);
    ImageHeader header;
    ASSERT_OK_AND_ASSIGN(header, ReadImageHeader(bytes.data(), bytes.size()));
    EXPECT_EQ(header.format, test_case.format) << test_case.extension;
    if (test_case.format != ImageFormat::kTiff) {
      EXPECT_EQ(header.width, 40) << test_case.extension;
      EXPECT_EQ(header.height, 30) << test_case.extension;
    }
  }
}

TEST_F(DecodeTest, ProducesPlanarRgbScaledToMinusOneOne) {
  // BGR (10, 200, 255): blue 10, green 200, red 255.
  const cv::Mat image(50, 70, CV_8UC3, cv::Scalar(10, 200, 255));
  ASSERT_OK(Decode(Encode(image, ".png")));
  ExpectSolid(out_, 255, 200, 10, 1e-6f);
}

TEST_F(DecodeTest, ConvertsGrayscaleAlphaAnd16BitImages) {
  ASSERT_OK(Decode(Encode(cv::Mat(20, 20, CV_8UC1, cv::Scalar(100)), ".png")));
  ExpectSolid(out_, 100, 100, 100, 1e-6f);
  ASSERT_OK(Decode(Encode(cv::Mat(20, 20, CV_8UC4, cv::Scalar(30, 60, 90, 0)), ".png")));
  ExpectSolid(out_, 90, 60, 30, 1e-6f);  // alpha dropped, colour kept
  ASSERT_OK(Decode(Encode(cv::Mat(20, 20, CV_16UC3, cv::Scalar(0, 65535, 65535)), ".png")));
  ExpectSolid(out_, 255, 255, 0, 1e-6f);
  ASSERT_OK(Decode(Encode(cv::Mat(20, 20, CV_8UC1, cv::Scalar(7)), ".jpg")));
  ExpectSolid(out_, 7, 7, 7, 2.5f / 127.5f);  // JPEG is lossy
}

TEST_F(DecodeTest, DecodesATinyImage) {
  ASSERT_OK(Decode(Encode(cv::Mat(1, 1, CV_8UC3, cv::Scalar(0, 0, 0)), ".png")));
  ExpectSolid(out_, 0, 0, 0, 1e-6f);
}

TEST_F(DecodeTest, RejectsEmptyRandomAndTextInput) {
  Status status = Decode({});
  EXPECT_TRUE(status.IsInvalid());
  EXPECT_NE(status.message().find("empty"), std::string::npos);
  const std::string text = "hello, I am not an image\n";
  status = Decode(std::vector<uint8_t>(text.begin(), text.end()));
  EXPECT_NE(status.message().find("not an image"), std::string::npos) << status.ToString();
  std::vector<uint8_t> noise(5000);
  for (size_t idx = 0; idx < noise.size(); ++idx)
    noise[idx] = static_cast<uint8_t>(idx * 7919 % 251);
  EXPECT_FALSE(Decode(noise).ok());
}

TEST_F(DecodeTest, RejectsTruncatedFilesWithoutCrashing) {
  cv::Mat image(64, 64, CV_8UC3);
  cv::randu(image, 0, 255);
  for (const std::string extension : {".jpg", ".png", ".webp", ".bmp"}) {
    const auto bytes = Encode(image, extension);
    for (size_t cut : {size_t{3}, size_t{20}, bytes.size() / 2}) {
      std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<long>(cut));
      // Either an error, or (JPEG decoders pad short scans) a decoded image: never a crash.
      (void)Decode(truncated);
    }
    EXPECT_FALSE(Decode(std::vector<uint8_t>(bytes.begin(), bytes.begin() + 12)).ok()) << extension;
  }
}

TEST_F(DecodeTest, RejectsDecompressionBombsBeforeDecoding) {
  auto png = Encode(cv::Mat(8, 8, CV_8UC3, cv::Scalar(0)), ".png");
  // Patch IHDR to declare 30000 x 30000 pixels.
  const uint8_t size[4] = {0x00, 0x00, 0x75, 0x30};
  std::memcpy(png.data() + 16, size, 4);
  std::memcpy(png.data() + 20, size, 4);
  const Status status = Decode(png);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("30000x30000"), std::string::npos) << status.ToString();
  EXPECT_NE(status.message().find("--max-pixels"), std::string::npos);
}

TEST_F(DecodeTest, HonoursACustomInputSize) {
  options_.width = 32;
  options_.height = 16;
  out_.assign(static_cast<size_t>(InputSize(options_)), 0.f);
  ASSERT_OK(Decode(Encode(cv::Mat(100, 100, CV_8UC3, cv::Scalar(255, 255, 255)), ".png")));
  ExpectSolid(out_, 255, 255, 255, 1e-6f);
}

}  // namespace
}  // namespace orchard::image

namespace orchard::image {
namespace {

// Inputs the fuzzer found (tests/fuzz/regressions): each must fail cleanly.
TEST(DecodeRegressionTest, FuzzerFindingsFailCleanly) {
  const std::filesystem::path folder =
      std::filesystem::path(orchard::testing::SourceDir()) / "tests/fuzz/regressions";
  PreprocessOptions options;
  std::vector<float> out(static_cast<size_t>(InputSize(options)));
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::ifstream file(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(file)),
                            std::istreambuf_iterator<char>());
    const Status status = DecodeAndPreprocess(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              bytes.size(), options, out.data());
    EXPECT_FALSE(status.ok()) << entry.path();
    ++count;
  }
  EXPECT_GT(count, 0);
}

}  // namespace
}  // namespace orchard::image
