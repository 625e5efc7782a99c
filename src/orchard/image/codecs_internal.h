// The image decoders behind DecodeAndPreprocess: libjpeg-turbo, libpng, libwebp and a
// small BMP reader, each turning a whole file held in memory into 8-bit RGB pixels.
// Private to src/orchard/image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/util/status.h"

namespace orchard::image::internal {

/// Interleaved 8-bit RGB, rows top to bottom, no padding (stride = 3 * width).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;
};

/// A JPEG with more scans than this is refused (real files have 1 to about 10).
inline constexpr int kMaxJpegScans = 100;
/// A multi-scan JPEG may cost at most this many full-size scans at max_pixels (scans x
/// declared pixels <= factor x max_pixels): a smaller image may have more scans, up to
/// kMaxJpegScans.
inline constexpr int kJpegScanBudgetFactor = 16;
/// libpng's limits, set on every PNG decode: side length in pixels, the memory of one
/// chunk, ancillary chunks kept.
inline constexpr uint32_t kMaxPngSide = 1u << 20;
inline constexpr size_t kMaxPngChunkBytes = size_t{8} << 20;
inline constexpr uint32_t kMaxPngAncillaryChunks = 256;

/// Sizes `out` for width x height RGB pixels (the pixel count already checked).
void Allocate(int width, int height, RgbImage* out);
/// EXIF orientation (TIFF tag 0x0112 of IFD0) from EXIF data (a TIFF header and IFDs);
/// 1 (as stored) when absent or malformed. JPEG's APP1 and PNG's eXIf hold the same data.
int ReadExifOrientation(const uint8_t* tiff, size_t tiff_size);
/// Rotates/flips `image` in place as EXIF orientation `orientation` (2..8) asks.
void ApplyOrientation(int orientation, RgbImage* image);

/// Fails (Invalid) when width x height is not positive or exceeds max_pixels; the message
/// names the format, the size and the --max-pixels flag. Called with the size each
/// decoder reads itself, before it allocates the pixel buffer.
Status CheckPixelCount(const char* format, int64_t width, int64_t height, int64_t max_pixels);

// Each decoder converts grayscale, palette, alpha (dropped, not composited), 16-bit (high
// byte kept) and CMYK input to RGB exactly as OpenCV 4.6's cv::imdecode(IMREAD_COLOR) did,
// so features stay the same. None throws, prints or exits; all are thread-safe.

/// Baseline/progressive JPEG, any colour space libjpeg knows (gray, YCbCr, RGB, CMYK,
/// YCCK), with the EXIF orientation applied.
Status DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out);
/// PNG, any colour type and bit depth, with the orientation of an eXIf chunk applied.
Status DecodePng(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out);
/// Still WebP, lossy or lossless, with or without alpha (animations are refused).
Status DecodeWebp(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out);
/// DecodeAndPreprocess's checks (file size, declared pixels, truncated JPEG, ambiguous
/// files) and decoder, without the resize: the pixels as stored, oriented. May throw
/// std::bad_alloc.
Status DecodeChecked(const uint8_t* data, size_t size, const PreprocessOptions& options,
                     ImageFormat* format, RgbImage* rgb);

/// Uncompressed BMP (1, 4, 8, 16, 24, 32 bits per pixel; BI_RGB and BI_BITFIELDS).
/// RLE-compressed and other BMP variants are refused with a message saying so.
Status DecodeBmp(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out);

}  // namespace orchard::image::internal
