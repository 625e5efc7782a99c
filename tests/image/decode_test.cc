#include "orchard/image/decode.h"

#include <zlib.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
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

namespace orchard::image {
namespace {

std::vector<uint8_t> ReadBytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(file)),
                              std::istreambuf_iterator<char>());
}

std::filesystem::path DecodeInputs() {
  return std::filesystem::path(orchard::testing::SourceDir()) / "tests/data/decode";
}

// Decodes `bytes` at its own size (no resize) into 8-bit RGB, back from the floats.
cv::Mat DecodeUnresized(const std::vector<uint8_t>& bytes, int width, int height, Status* status) {
  PreprocessOptions options;
  options.width = width;
  options.height = height;
  std::vector<float> chw(static_cast<size_t>(InputSize(options)));
  *status = DecodeAndPreprocess(bytes.data(), bytes.size(), options, chw.data());
  cv::Mat rgb(height, width, CV_8UC3);
  const size_t plane = static_cast<size_t>(width) * height;
  for (size_t idx = 0; idx < plane; ++idx) {
    for (size_t channel = 0; channel < 3; ++channel) {
      rgb.data[3 * idx + channel] =
          static_cast<uint8_t>(std::lround(chw[channel * plane + idx] * 127.5f + 127.5f));
    }
  }
  return rgb;
}

// The decoders replaced OpenCV's imgcodecs: every odd input of tests/data/decode (made by
// make_decode_inputs.py) must give exactly the pixels cv::imdecode(IMREAD_COLOR) gives,
// EXIF orientation included, so features do not change.
TEST(DecodeOracleTest, GivesTheSamePixelsAsOpenCvImdecode) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(DecodeInputs())) {
    if (entry.path().extension() == ".py") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const auto bytes = ReadBytes(entry.path());
    cv::Mat expected_bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
    ASSERT_FALSE(expected_bgr.empty());
    cv::Mat expected;
    cv::cvtColor(expected_bgr, expected, cv::COLOR_BGR2RGB);
    Status status;
    const cv::Mat actual = DecodeUnresized(bytes, expected.cols, expected.rows, &status);
    ASSERT_OK(status);
    cv::Mat difference;
    cv::absdiff(actual, expected, difference);
    EXPECT_EQ(cv::countNonZero(difference.reshape(1)), 0);
    ++count;
  }
  EXPECT_GE(count, 25);
  // 16-bit colour PNG (Pillow writes none): the high byte of each sample.
  cv::Mat deep(19, 29, CV_16UC3);
  cv::randu(deep, 0, 65535);
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(cv::imencode(".png", deep, bytes));
  cv::Mat expected;
  cv::cvtColor(cv::imdecode(bytes, cv::IMREAD_COLOR), expected, cv::COLOR_BGR2RGB);
  Status status;
  const cv::Mat actual = DecodeUnresized(bytes, 29, 19, &status);
  ASSERT_OK(status);
  cv::Mat difference;
  cv::absdiff(actual, expected, difference);
  EXPECT_EQ(cv::countNonZero(difference.reshape(1)), 0);
}

// The same, after the resize to the model's input, for the reference photos.
TEST(DecodeOracleTest, GivesTheSameModelInputAsOpenCvForTheReferencePhotos) {
  const auto folder = std::filesystem::path(orchard::testing::SourceDir()) / "tests/data/model";
  PreprocessOptions options;
  std::vector<float> ours(static_cast<size_t>(InputSize(options)));
  for (const char* name : {"owl.jpg", "parrot.jpg", "cat.bmp"}) {
    SCOPED_TRACE(name);
    const auto bytes = ReadBytes(folder / name);
    ASSERT_OK(DecodeAndPreprocess(bytes.data(), bytes.size(), options, ours.data()));
    cv::Mat bgr = cv::imdecode(bytes, cv::IMREAD_COLOR);
    cv::Mat resized;
    cv::resize(bgr, resized, cv::Size(options.width, options.height), 0, 0, cv::INTER_LINEAR);
    const size_t plane = static_cast<size_t>(options.width) * options.height;
    for (size_t idx = 0; idx < plane; ++idx) {
      for (size_t channel = 0; channel < 3; ++channel) {
        const float expected = (resized.data[3 * idx + 2 - channel] - 127.5f) / 127.5f;
        ASSERT_NEAR(ours[channel * plane + idx], expected, 1e-6f) << idx;
      }
    }
  }
}

TEST(DecodeCodecsTest, AppliesTheExifOrientationOfJpegs) {
  // orientation1.jpg is 37x23 as stored; 5..8 swap width and height.
  for (int orientation = 1; orientation <= 8; ++orientation) {
    SCOPED_TRACE(orientation);
    const auto bytes =
        ReadBytes(DecodeInputs() / ("orientation" + std::to_string(orientation) + ".jpg"));
    const int width = orientation >= 5 ? 23 : 37;
    const int height = orientation >= 5 ? 37 : 23;
    Status status;
    const cv::Mat rotated = DecodeUnresized(bytes, width, height, &status);
    ASSERT_OK(status);
    const cv::Mat upright =
        DecodeUnresized(ReadBytes(DecodeInputs() / "orientation1.jpg"), 37, 23, &status);
    ASSERT_OK(status);
    // Undo the orientation on our output: it must give the stored image back.
    cv::Mat undone = rotated.clone();
    switch (orientation) {
      case 2:
        cv::flip(rotated, undone, 1);
        break;
      case 3:
        cv::flip(rotated, undone, -1);
        break;
      case 4:
        cv::flip(rotated, undone, 0);
        break;
      case 5:
        cv::transpose(rotated, undone);
        break;
      case 6:
        cv::rotate(rotated, undone, cv::ROTATE_90_COUNTERCLOCKWISE);
        break;
      case 7:
        cv::flip(rotated, undone, -1);
        cv::transpose(undone, undone);
        break;
      case 8:
        cv::rotate(rotated, undone, cv::ROTATE_90_CLOCKWISE);
        break;
      default:
        break;
    }
    cv::Mat difference;
    cv::absdiff(undone, upright, difference);
    EXPECT_EQ(cv::countNonZero(difference.reshape(1)), 0);
  }
}

TEST(DecodeCodecsTest, ConvertsOddInputsToRgb) {
  // Every odd input decodes to a colourful (not gray, not black) image, at its size.
  for (const char* name :
       {"cmyk.jpg", "palette.png", "palette4.png", "palette_transparency.png", "rgba.png",
        "alpha_lossless.webp", "alpha_lossy.webp", "rgb565.bmp", "rgba32.bmp", "palette8.bmp"}) {
    SCOPED_TRACE(name);
    Status status;
    const cv::Mat rgb = DecodeUnresized(ReadBytes(DecodeInputs() / name), 37, 23, &status);
    ASSERT_OK(status);
    cv::Scalar mean, stddev;
    cv::meanStdDev(rgb, mean, stddev);
    for (int channel = 0; channel < 3; ++channel) EXPECT_GT(stddev[channel], 5.0) << channel;
  }
  for (const char* name : {"gray.jpg", "gray_alpha.png", "gray1.png", "gray16.png"}) {
    SCOPED_TRACE(name);
    Status status;
    const cv::Mat rgb = DecodeUnresized(ReadBytes(DecodeInputs() / name), 37, 23, &status);
    ASSERT_OK(status);
    std::vector<cv::Mat> channels;
    cv::split(rgb, channels);
    EXPECT_EQ(cv::countNonZero(channels[0] != channels[1]), 0);
    EXPECT_EQ(cv::countNonZero(channels[0] != channels[2]), 0);
  }
}

TEST(DecodeCodecsTest, RefusesTiffAndCompressedBmpClearly) {
  const cv::Mat image(30, 40, CV_8UC3, cv::Scalar(1, 2, 3));
  std::vector<uint8_t> tiff;
  ASSERT_TRUE(cv::imencode(".tiff", image, tiff));
  PreprocessOptions options;
  std::vector<float> out(static_cast<size_t>(InputSize(options)));
  Status status = DecodeAndPreprocess(tiff.data(), tiff.size(), options, out.data());
  EXPECT_TRUE(status.IsNotImplemented()) << status.ToString();
  EXPECT_NE(status.message().find("tiff"), std::string::npos);

  auto bmp = ReadBytes(DecodeInputs() / "palette8.bmp");
  bmp[30] = 1;  // BI_RLE8
  status = DecodeAndPreprocess(bmp.data(), bmp.size(), options, out.data());
  EXPECT_TRUE(status.IsNotImplemented()) << status.ToString();
  EXPECT_NE(status.message().find("compressed bmp"), std::string::npos);
}

TEST(DecodeCodecsTest, ChecksTheSizeEachDecoderReadsAgainstTheLimit) {
  PreprocessOptions options;
  options.max_pixels = 500;  // the inputs have 37 x 23 = 851 pixels
  std::vector<float> out(static_cast<size_t>(InputSize(options)));
  for (const char* name : {"lossy.webp", "progressive.jpg", "rgb24.bmp", "palette.png"}) {
    SCOPED_TRACE(name);
    const auto bytes = ReadBytes(DecodeInputs() / name);
    const Status status = DecodeAndPreprocess(bytes.data(), bytes.size(), options, out.data());
    ASSERT_FALSE(status.ok());
    EXPECT_NE(status.message().find("--max-pixels"), std::string::npos) << status.ToString();
  }
}

// ---------------------------------------------------------------------------------------
// Files built to be expensive: the cost of a decode is bounded whatever the bytes say.

// A noisy picture: its progressive encoding has real data in every scan.
cv::Mat NoisyImage(int width, int height) {
  cv::Mat image(height, width, CV_8UC3);
  cv::RNG rng(21);
  rng.fill(image, cv::RNG::UNIFORM, 0, 256);
  return image;
}

// A valid progressive JPEG of `image` whose last scan is repeated until the file has
// `scans` scans (libjpeg-turbo decodes each repetition again: a bogus progression is only
// a warning). The marker walk is the one of tests/integration/make_bad_inputs.py.
std::vector<uint8_t> JpegWithScans(const cv::Mat& image, int scans) {
  const auto jpeg = Encode(image, ".jpg", {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
  std::vector<std::pair<size_t, size_t>> segments;  // [begin, end) of each marker segment
  size_t pos = 2;
  while (pos + 1 < jpeg.size()) {
    const uint8_t marker = jpeg[pos + 1];
    if (marker == 0xD9) {
      segments.emplace_back(pos, pos + 2);
      break;
    }
    size_t end = pos + 2 + (size_t{jpeg[pos + 2]} << 8 | jpeg[pos + 3]);
    if (marker == 0xDA) {  // the scan's data runs to the next real marker
      while (!(jpeg[end] == 0xFF && jpeg[end + 1] != 0 &&
               (jpeg[end + 1] < 0xD0 || jpeg[end + 1] > 0xD7))) {
        ++end;
      }
    }
    segments.emplace_back(pos, end);
    pos = end;
  }
  std::vector<uint8_t> out(jpeg.begin(), jpeg.begin() + 2);
  std::pair<size_t, size_t> last_scan{0, 0};
  int found_scans = 0;
  for (size_t idx = 0; idx + 1 < segments.size(); ++idx) {
    const auto [begin, end] = segments[idx];
    out.insert(out.end(), jpeg.begin() + begin, jpeg.begin() + end);
    if (jpeg[begin + 1] == 0xDA) {
      last_scan = segments[idx];
      ++found_scans;
    }
  }
  EXPECT_GT(found_scans, 1) << "not a progressive JPEG";
  for (int extra = found_scans; extra < scans; ++extra) {
    out.insert(out.end(), jpeg.begin() + last_scan.first, jpeg.begin() + last_scan.second);
  }
  out.push_back(0xFF);
  out.push_back(0xD9);
  return out;
}

TEST_F(DecodeTest, RefusesAJpegWithMoreScansThanAnyEncoderWrites) {
  // 1,000 scans of a large image took 80 s of CPU before the cap.
  const cv::Mat image = NoisyImage(64, 48);
  ASSERT_OK(Decode(JpegWithScans(image, 100)));  // the cap itself is fine
  const Status status = Decode(JpegWithScans(image, 101));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("more than 100 scans"), std::string::npos) << status.ToString();
  const Status thousand = Decode(JpegWithScans(image, 1000));
  EXPECT_NE(thousand.message().find("more than 100 scans"), std::string::npos)
      << thousand.ToString();
}

TEST_F(DecodeTest, BoundsTheScansOfALargeJpegByItsPixels) {
  // scans x pixels <= 16 x max_pixels: an image at the pixel limit gets 16 scans.
  const cv::Mat image = NoisyImage(256, 128);
  options_.max_pixels = 256 * 128;
  ASSERT_OK(Decode(JpegWithScans(image, 16)));
  const Status status = Decode(JpegWithScans(image, 17));
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("decode budget"), std::string::npos) << status.ToString();
  // The same file is fine where the limit leaves room for it.
  options_.max_pixels = 4 * 256 * 128;
  ASSERT_OK(Decode(JpegWithScans(image, 17)));
}

TEST_F(DecodeTest, RefusesBytesOverTheFileSizeLimit) {
  const auto png = Encode(cv::Mat(8, 8, CV_8UC3, cv::Scalar(0)), ".png");
  options_.max_file_bytes = static_cast<int64_t>(png.size()) - 1;
  const Status status = Decode(png);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find("--max-file-bytes"), std::string::npos) << status.ToString();
  options_.max_file_bytes = static_cast<int64_t>(png.size());
  ASSERT_OK(Decode(png));
}

// `png` with a chunk of `kind` inserted after its IHDR (8-byte signature + 25-byte IHDR).
std::vector<uint8_t> WithChunk(const std::vector<uint8_t>& png, const std::string& kind,
                               const std::vector<uint8_t>& data) {
  // length, kind, data, crc of kind + data
  std::vector<uint8_t> chunk(12 + data.size());
  auto put32 = [&](size_t at, uint32_t value) {
    for (size_t idx = 0; idx < 4; ++idx) chunk[at + idx] = uint8_t(value >> (24 - 8 * idx));
  };
  put32(0, static_cast<uint32_t>(data.size()));
  std::memcpy(chunk.data() + 4, kind.data(), 4);
  if (!data.empty()) std::memcpy(chunk.data() + 8, data.data(), data.size());
  put32(8 + data.size(),
        static_cast<uint32_t>(crc32(0, chunk.data() + 4, static_cast<uInt>(4 + data.size()))));
  constexpr size_t kAfterIhdr = 33;
  std::vector<uint8_t> out(png.size() + chunk.size());
  std::memcpy(out.data(), png.data(), kAfterIhdr);
  std::memcpy(out.data() + kAfterIhdr, chunk.data(), chunk.size());
  std::memcpy(out.data() + kAfterIhdr + chunk.size(), png.data() + kAfterIhdr,
              png.size() - kAfterIhdr);
  return out;
}

TEST_F(DecodeTest, PngTextAndProfileBombsAreSkipped) {
  // A zTXt or iCCP that inflates to 64 MiB from 64 kB: libpng would inflate it
  // (up to its chunk limit) although it never changes the pixels.
  std::vector<uint8_t> zeros(size_t{64} << 20, 0);
  uLongf packed_size = compressBound(static_cast<uLong>(zeros.size()));
  std::vector<uint8_t> packed(packed_size);
  ASSERT_EQ(compress2(packed.data(), &packed_size, zeros.data(), zeros.size(), 9), Z_OK);
  packed.resize(packed_size);
  zeros = {};
  std::vector<uint8_t> compressed_text = {'C', 'o', 'm', 'm', 'e', 'n', 't', 0, 0};
  compressed_text.insert(compressed_text.end(), packed.begin(), packed.end());
  std::vector<uint8_t> profile = {'s', 'R', 'G', 'B', 0, 0};
  profile.insert(profile.end(), packed.begin(), packed.end());

  const auto png = Encode(NoisyImage(20, 10), ".png");
  ASSERT_OK(Decode(png));
  const std::vector<float> expected = out_;
  for (const auto& bomb :
       {WithChunk(png, "zTXt", compressed_text), WithChunk(png, "iCCP", profile)}) {
    std::fill(out_.begin(), out_.end(), 0.0f);
    ASSERT_OK(Decode(bomb));
    EXPECT_EQ(out_, expected);
  }
}

TEST(DecodeCodecsTest, FailsCleanlyOnEveryPrefixOfEveryInput) {
  // Cut every odd input at many lengths, and flip bytes: errors or images, never a crash
  // (the ASan/UBSan build checks the memory side), never a word on stderr.
  PreprocessOptions options;
  std::vector<float> out(static_cast<size_t>(InputSize(options)));
  ::testing::internal::CaptureStderr();
  for (const auto& entry : std::filesystem::directory_iterator(DecodeInputs())) {
    if (entry.path().extension() == ".py") continue;
    const auto bytes = ReadBytes(entry.path());
    for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 40) {
      (void)DecodeAndPreprocess(bytes.data(), cut, options, out.data());
    }
    for (size_t pos = 0; pos < bytes.size(); pos += 1 + bytes.size() / 40) {
      auto corrupted = bytes;
      corrupted[pos] ^= 0x5A;
      (void)DecodeAndPreprocess(corrupted.data(), corrupted.size(), options, out.data());
    }
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
}

}  // namespace
}  // namespace orchard::image
