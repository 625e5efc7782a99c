// JpegThumbnail: the size (aspect kept, never enlarged), the colours, EXIF-free formats
// through the same decoders, and the decoders' limits and failures.
#include "orchard/image/thumbnail.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../test_util.h"
#include "orchard/image/decode.h"

namespace orchard::image {
namespace {

// A 24-bit bottom-up BMP of `width` x `height` pixels, left half `left`, right half `right`
// (RGB).
std::vector<uint8_t> Bmp(int width, int height, const uint8_t left[3], const uint8_t right[3]) {
  const int stride = (3 * width + 3) / 4 * 4;
  const uint32_t pixels = static_cast<uint32_t>(stride * height);
  std::vector<uint8_t> out(54 + pixels, 0);
  auto put32 = [&](size_t at, uint32_t value) {
    for (int byte = 0; byte < 4; ++byte) out[at + byte] = static_cast<uint8_t>(value >> (8 * byte));
  };
  out[0] = 'B';
  out[1] = 'M';
  put32(2, static_cast<uint32_t>(out.size()));
  put32(10, 54);
  put32(14, 40);
  put32(18, static_cast<uint32_t>(width));
  put32(22, static_cast<uint32_t>(height));
  out[26] = 1;   // planes
  out[28] = 24;  // bits per pixel
  put32(34, pixels);
  for (int row = 0; row < height; ++row) {
    for (int col = 0; col < width; ++col) {
      const uint8_t* rgb = col < width / 2 ? left : right;
      uint8_t* pixel = out.data() + 54 + row * stride + 3 * col;
      pixel[0] = rgb[2];  // BMP stores BGR
      pixel[1] = rgb[1];
      pixel[2] = rgb[0];
    }
  }
  return out;
}

const uint8_t kRed[3] = {220, 20, 20};
const uint8_t kBlue[3] = {20, 20, 220};

TEST(ThumbnailTest, FitsTheSideKeepsTheAspectAndTheColours) {
  const auto bmp = Bmp(400, 200, kRed, kBlue);
  ASSERT_OK_AND_ASSIGN(auto jpeg, JpegThumbnail(bmp.data(), bmp.size(), 64, PreprocessOptions{}));
  const auto* bytes = reinterpret_cast<const uint8_t*>(jpeg.data());
  ASSERT_OK_AND_ASSIGN(auto header, ReadImageHeader(bytes, jpeg.size()));
  EXPECT_EQ(header.format, ImageFormat::kJpeg);
  EXPECT_EQ(header.width, 64);
  EXPECT_EQ(header.height, 32);
  // Decoded at its own size: the left half red, the right half blue (JPEG-close).
  PreprocessOptions own;
  own.width = 64;
  own.height = 32;
  std::vector<float> chw(static_cast<size_t>(InputSize(own)));
  ASSERT_OK(DecodeAndPreprocess(bytes, jpeg.size(), own, chw.data()));
  auto value = [&](int channel, int row, int col) {
    return chw[static_cast<size_t>(channel * 64 * 32 + row * 64 + col)] * 127.5f + 127.5f;
  };
  EXPECT_NEAR(value(0, 16, 8), kRed[0], 25);
  EXPECT_NEAR(value(2, 16, 8), kRed[2], 25);
  EXPECT_NEAR(value(0, 16, 56), kBlue[0], 25);
  EXPECT_NEAR(value(2, 16, 56), kBlue[2], 25);
}

TEST(ThumbnailTest, SmallImagesAreNotEnlargedAndThinOnesKeepAPixel) {
  const auto small = Bmp(20, 10, kRed, kRed);
  ASSERT_OK_AND_ASSIGN(auto jpeg,
                       JpegThumbnail(small.data(), small.size(), 64, PreprocessOptions{}));
  ASSERT_OK_AND_ASSIGN(auto header,
                       ReadImageHeader(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size()));
  EXPECT_EQ(header.width, 20);
  EXPECT_EQ(header.height, 10);
  const auto thin = Bmp(1000, 2, kBlue, kBlue);
  ASSERT_OK_AND_ASSIGN(jpeg, JpegThumbnail(thin.data(), thin.size(), 64, PreprocessOptions{}));
  ASSERT_OK_AND_ASSIGN(header,
                       ReadImageHeader(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size()));
  EXPECT_EQ(header.width, 64);
  EXPECT_EQ(header.height, 1);
}

TEST(ThumbnailTest, BadInputFailsWithTheDecodersMessages) {
  const auto bmp = Bmp(400, 200, kRed, kBlue);
  PreprocessOptions tight;
  tight.max_pixels = 1000;
  auto refused = JpegThumbnail(bmp.data(), bmp.size(), 64, tight);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("--max-pixels"), std::string::npos);
  const std::string text = "not an image at all";
  auto unknown = JpegThumbnail(reinterpret_cast<const uint8_t*>(text.data()), text.size(), 64,
                               PreprocessOptions{});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("not an image"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto jpeg, JpegThumbnail(bmp.data(), bmp.size(), 64, PreprocessOptions{}));
  auto truncated = JpegThumbnail(reinterpret_cast<const uint8_t*>(jpeg.data()), jpeg.size() / 2, 64,
                                 PreprocessOptions{});
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos);
  EXPECT_FALSE(JpegThumbnail(bmp.data(), bmp.size(), 0, PreprocessOptions{}).ok());
}

}  // namespace
}  // namespace orchard::image
