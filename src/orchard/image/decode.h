// Image decoding and preprocessing into the model's input layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "orchard/util/status.h"

namespace orchard::image {

enum class ImageFormat { kUnknown, kJpeg, kPng, kBmp, kWebp, kGif, kTiff };

/// Name for messages ("jpeg", "png", ...).
const char* FormatName(ImageFormat format);

/// What the first bytes of a file say, read without decoding the pixels.
struct ImageHeader {
  ImageFormat format = ImageFormat::kUnknown;
  /// 0 when the format's header does not give it cheaply (TIFF).
  int64_t width = 0;
  int64_t height = 0;
  /// JPEG only: offset of the main image's start-of-scan marker (0 when not found).
  int64_t scan_offset = 0;
};

/// Sniffs the format from magic bytes and reads the declared size. Fails (Invalid) for
/// empty input, unknown formats and headers that are cut short.
Result<ImageHeader> ReadImageHeader(const uint8_t* data, size_t size);

/// Files larger than this are not read (--max-file-bytes): well above any real photo
/// (a 100-megapixel JPEG is 30-60 MB, a 16-bit TIFF of it 600 MB is not supported anyway),
/// small enough that a batch of such files fits in memory.
inline constexpr int64_t kDefaultMaxFileBytes = int64_t{256} << 20;

/// The model-input convention. The default matches the shipped MobileNetV2: whole image
/// resized (bilinear, no crop) to 224x224, RGB, (x - 127.5) / 127.5, planar CHW float32.
struct PreprocessOptions {
  int width = 224;
  int height = 224;
  /// Images that declare more pixels than this are rejected before any pixel buffer is
  /// allocated (decompression bombs).
  int64_t max_pixels = 64LL * 1024 * 1024;
  /// Files of more bytes are refused before they are read (and bytes in memory before they
  /// are decoded).
  int64_t max_file_bytes = kDefaultMaxFileBytes;
};

/// Floats one preprocessed image occupies: 3 * width * height.
inline int64_t InputSize(const PreprocessOptions& options) {
  return 3LL * options.width * options.height;
}

/// Decodes a JPEG/PNG/BMP/WebP file held in memory (libjpeg-turbo, libpng, libwebp, our
/// BMP reader; the EXIF orientation of a JPEG is applied) and writes InputSize(options)
/// floats to `chw_out`. Grayscale, alpha, palette, 16-bit and CMYK images are converted
/// to 8-bit RGB (alpha is dropped). GIF, TIFF, animated WebP and RLE-compressed BMP fail
/// with NotImplemented. Fails with a message that names the problem; never throws, never
/// prints. Thread-safe.
Status DecodeAndPreprocess(const uint8_t* data, size_t size, const PreprocessOptions& options,
                           float* chw_out);

}  // namespace orchard::image
