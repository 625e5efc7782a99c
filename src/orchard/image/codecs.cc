#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include <png.h>
#include <webp/decode.h>

#include "orchard/image/codecs_internal.h"

// The C libraries report errors through callbacks. Their defaults print to stderr and, for
// libjpeg, call exit(); ours copy the message and longjmp back to the decode function, which
// then cleans up and returns a Status. A longjmp only crosses the libraries' C frames and a
// callback: every C++ object with a destructor lives outside the setjmp functions' frames
// (their callers own them), and nothing those functions read after a longjmp is a local
// they changed after setjmp.

namespace orchard::image::internal {
namespace {

uint32_t ReadLittleEndian16(const uint8_t* bytes) { return bytes[0] | (uint32_t{bytes[1]} << 8); }
uint32_t ReadLittleEndian32(const uint8_t* bytes) {
  return bytes[0] | (uint32_t{bytes[1]} << 8) | (uint32_t{bytes[2]} << 16) |
         (uint32_t{bytes[3]} << 24);
}

// ---------------------------------------------------------------------------------------
// PNG (libpng)

struct PngState {
  const uint8_t* data;
  size_t size;
  size_t pos;
  char message[200];
};

void PngError(png_structp png, png_const_charp message) {
  auto* state = static_cast<PngState*>(png_get_error_ptr(png));
  std::snprintf(state->message, sizeof(state->message), "%s", message);
  png_longjmp(png, 1);
}

void PngWarning(png_structp /*png*/, png_const_charp /*message*/) {}

void PngRead(png_structp png, png_bytep target, png_size_t length) {
  auto* state = static_cast<PngState*>(png_get_io_ptr(png));
  if (state->size - state->pos < length) png_error(png, "the data ends early");
  std::memcpy(target, state->data + state->pos, length);
  state->pos += length;
}

// The orientation of a PNG's eXIf chunk, if libpng has read one; 1 otherwise.
int PngOrientation(png_structp png, png_infop info) {
  png_uint_32 exif_size = 0;
  png_bytep exif = nullptr;
  if (png_get_eXIf_1(png, info, &exif_size, &exif) == 0 || exif == nullptr) return 1;
  return ReadExifOrientation(exif, exif_size);
}

bool RunPngDecoder(png_structp png, png_infop info, int64_t max_pixels, RgbImage* out,
                   std::vector<png_bytep>* rows, Status* status, int* orientation) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  png_uint_32 width = 0;
  png_uint_32 height = 0;
  int bit_depth = 0;
  int color_type = 0;
  png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, nullptr, nullptr, nullptr);
  *status = CheckPixelCount("png", width, height, max_pixels);
  if (!status->ok()) return true;
  // The transformations cv::imdecode(IMREAD_COLOR) asked libpng for, in its order.
  if (bit_depth > 8) png_set_strip_16(png);
  png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);
  }
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != 3 * size_t{width}) {
    *status = Status::Invalid("cannot decode png: unexpected layout after conversion to rgb");
    return true;
  }
  Allocate(static_cast<int>(width), static_cast<int>(height), out);
  rows->resize(height);
  for (png_uint_32 row = 0; row < height; ++row) {
    (*rows)[row] = out->pixels.data() + 3 * size_t{width} * row;
  }
  png_read_image(png, rows->data());
  // cv::imdecode applied the orientation of an eXIf chunk too (before or after the image
  // data: png_read_end reads the chunks that follow it into `info`).
  png_read_end(png, info);
  *orientation = PngOrientation(png, info);
  return true;
}

}  // namespace

// Allocates the output; the pixel count has been checked against max_pixels.
void Allocate(int width, int height, RgbImage* out) {
  out->width = width;
  out->height = height;
  out->pixels.assign(3 * static_cast<size_t>(width) * static_cast<size_t>(height), 0);
}

// EXIF orientation (TIFF tag 0x0112 of IFD0) from EXIF data (a TIFF header and IFDs);
// 1 (as stored) when absent or malformed.
int ReadExifOrientation(const uint8_t* tiff, size_t tiff_size) {
  if (tiff_size < 8) return 1;
  const bool little = tiff[0] == 'I' && tiff[1] == 'I';
  const bool big = tiff[0] == 'M' && tiff[1] == 'M';
  if (!little && !big) return 1;
  auto read16 = [&](size_t pos) -> uint32_t {
    return little ? (tiff[pos] | (uint32_t{tiff[pos + 1]} << 8))
                  : ((uint32_t{tiff[pos]} << 8) | tiff[pos + 1]);
  };
  auto read32 = [&](size_t pos) -> uint32_t {
    return little ? (read16(pos) | (read16(pos + 2) << 16))
                  : ((read16(pos) << 16) | read16(pos + 2));
  };
  if (read16(2) != 42) return 1;
  const size_t ifd = read32(4);
  if (ifd + 2 > tiff_size) return 1;
  const uint32_t entries = read16(ifd);
  for (uint32_t entry = 0; entry < entries; ++entry) {
    const size_t pos = ifd + 2 + 12 * size_t{entry};
    if (pos + 12 > tiff_size) return 1;
    if (read16(pos) == 0x0112) {
      const uint32_t type = read16(pos + 2);
      const uint32_t value = type == 3 ? read16(pos + 8) : type == 4 ? read32(pos + 8) : 1;
      return value >= 1 && value <= 8 ? static_cast<int>(value) : 1;
    }
  }
  return 1;
}

// Rotates/flips `image` in place as EXIF orientation `orientation` (2..8) asks.
void ApplyOrientation(int orientation, RgbImage* image) {
  const int width = image->width;
  const int height = image->height;
  const bool transpose = orientation >= 5;
  const int out_width = transpose ? height : width;
  const int out_height = transpose ? width : height;
  std::vector<uint8_t> result(image->pixels.size());
  for (int row = 0; row < out_height; ++row) {
    for (int col = 0; col < out_width; ++col) {
      // (src_row, src_col) of the stored image that lands at (row, col).
      int src_row = transpose ? col : row;
      int src_col = transpose ? row : col;
      switch (orientation) {
        case 2:  // mirrored horizontally
          src_col = width - 1 - col;
          break;
        case 3:  // rotated 180
          src_row = height - 1 - row;
          src_col = width - 1 - col;
          break;
        case 4:  // mirrored vertically
          src_row = height - 1 - row;
          break;
        case 5:  // transposed
          break;
        case 6:  // transpose, then mirror horizontally (rotate 90 clockwise)
          src_row = height - 1 - col;
          break;
        case 7:  // transpose, then rotate 180 (transverse)
          src_row = height - 1 - col;
          src_col = width - 1 - row;
          break;
        case 8:  // transpose, then mirror vertically (rotate 90 counter-clockwise)
          src_col = width - 1 - row;
          break;
        default:
          break;
      }
      std::memcpy(&result[3 * (size_t{static_cast<size_t>(row)} * out_width + col)],
                  &image->pixels[3 * (static_cast<size_t>(src_row) * width + src_col)], 3);
    }
  }
  image->width = out_width;
  image->height = out_height;
  image->pixels = std::move(result);
}

Status CheckPixelCount(const char* format, int64_t width, int64_t height, int64_t max_pixels) {
  if (width <= 0 || height <= 0) {
    return Status::Invalid("corrupt ", format, ": it declares ", width, "x", height, " pixels");
  }
  if (height > max_pixels / width) {
    return Status::Invalid(format, " declares ", width, "x", height, " pixels, over the limit of ",
                           max_pixels, " (--max-pixels)");
  }
  return Status::OK();
}

Status DecodePng(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out) {
  PngState state{data, size, 0, {0}};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, PngError, PngWarning);
  if (png == nullptr) return Status::OutOfMemory("cannot decode png: out of memory");
  png_infop info = png_create_info_struct(png);
  if (info == nullptr) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    return Status::OutOfMemory("cannot decode png: out of memory");
  }
  png_set_read_fn(png, &state, PngRead);
  // Bounds on what a PNG can make libpng allocate or inflate besides the pixels (which
  // max_pixels bounds): one chunk's memory (a zTXt or iCCP that inflates to gigabytes), the
  // number of ancillary chunks kept, and the side lengths libpng accepts at all.
  png_set_user_limits(png, kMaxPngSide, kMaxPngSide);
  png_set_chunk_malloc_max(png, kMaxPngChunkBytes);
  png_set_chunk_cache_max(png, kMaxPngAncillaryChunks);
  // Text, colour profiles and suggested palettes never change the decoded pixels (no colour
  // management is applied, as cv::imdecode applied none): they are skipped unread instead
  // of inflated.
  static constexpr png_byte kIgnoredChunks[] = {'i',  'C',  'C', 'P', '\0', 'i',  'T', 'X', 't',
                                                '\0', 's',  'P', 'L', 'T',  '\0', 't', 'E', 'X',
                                                't',  '\0', 'z', 'T', 'X',  't',  '\0'};
  png_set_keep_unknown_chunks(png, PNG_HANDLE_CHUNK_NEVER, kIgnoredChunks,
                              static_cast<int>(sizeof(kIgnoredChunks) / 5));
  std::vector<png_bytep> rows;
  Status status;
  int orientation = 1;
  bool finished = false;
  try {
    finished = RunPngDecoder(png, info, max_pixels, out, &rows, &status, &orientation);
  } catch (const std::bad_alloc&) {  // from our buffers
    png_destroy_read_struct(&png, &info, nullptr);
    return Status::OutOfMemory("cannot decode png: out of memory");
  }
  png_destroy_read_struct(&png, &info, nullptr);
  if (!finished) return Status::Invalid("corrupt or truncated png: ", state.message);
  ORCHARD_RETURN_NOT_OK(status);
  if (orientation != 1) ApplyOrientation(orientation, out);
  return Status::OK();
}

Status DecodeWebp(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out) {
  WebPBitstreamFeatures features;
  const VP8StatusCode code = WebPGetFeatures(data, size, &features);
  if (code != VP8_STATUS_OK) {
    return Status::Invalid("corrupt or truncated webp: the decoder could not read the header");
  }
  if (features.has_animation) {
    return Status::NotImplemented("animated webp is not supported: extract a frame to png");
  }
  ORCHARD_RETURN_NOT_OK(CheckPixelCount("webp", features.width, features.height, max_pixels));
  Allocate(features.width, features.height, out);
  // Alpha is dropped, not composited: the colour channels are decoded as stored.
  if (WebPDecodeRGBInto(data, size, out->pixels.data(), out->pixels.size(), 3 * features.width) ==
      nullptr) {
    return Status::Invalid("corrupt or truncated webp: the decoder could not read the pixels");
  }
  return Status::OK();
}

Status DecodeBmp(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out) {
  constexpr size_t kFileHeaderSize = 14;
  if (size < kFileHeaderSize + 12) return Status::Invalid("truncated bmp header");
  const size_t pixel_offset = ReadLittleEndian32(data + 10);
  const size_t header_size = ReadLittleEndian32(data + 14);
  int64_t width = 0;
  int64_t height = 0;
  uint32_t bits = 0;
  uint32_t compression = 0;
  uint32_t colors_used = 0;
  size_t palette_entry_size = 4;
  if (header_size == 12) {  // OS/2 BITMAPCOREHEADER
    width = ReadLittleEndian16(data + 18);
    height = static_cast<int16_t>(ReadLittleEndian16(data + 20));
    bits = ReadLittleEndian16(data + 24);
    palette_entry_size = 3;
  } else if (header_size >= 40 && size >= kFileHeaderSize + 40) {
    width = static_cast<int32_t>(ReadLittleEndian32(data + 18));
    height = static_cast<int32_t>(ReadLittleEndian32(data + 22));
    bits = ReadLittleEndian16(data + 28);
    compression = ReadLittleEndian32(data + 30);
    colors_used = ReadLittleEndian32(data + 46);
  } else {
    return Status::Invalid("corrupt or unsupported bmp: header size ", header_size);
  }
  const bool top_down = height < 0;
  if (top_down) height = -height;
  ORCHARD_RETURN_NOT_OK(CheckPixelCount("bmp", width, height, max_pixels));

  constexpr uint32_t kRgb = 0;
  constexpr uint32_t kBitfields = 3;
  bool rgb565 = false;
  if (compression == kBitfields && (bits == 16 || bits == 32) &&
      size >= kFileHeaderSize + 40 + 12) {
    // The masks follow the 40-byte header (or sit at the same offset inside V4/V5 headers).
    const uint32_t red = ReadLittleEndian32(data + 54);
    const uint32_t green = ReadLittleEndian32(data + 58);
    const uint32_t blue = ReadLittleEndian32(data + 62);
    const bool is_555 = red == 0x7C00 && green == 0x03E0 && blue == 0x001F;
    const bool is_565 = red == 0xF800 && green == 0x07E0 && blue == 0x001F;
    const bool is_888 = red == 0xFF0000 && green == 0xFF00 && blue == 0xFF;
    if (bits == 16 ? !(is_555 || is_565) : !is_888) {
      return Status::NotImplemented(
          "bmp with unusual colour masks is not supported: convert it "
          "to png");
    }
    rgb565 = is_565;
  } else if (compression != kRgb) {
    return Status::NotImplemented("compressed bmp (compression ", compression,
                                  ") is not supported: convert it to png");
  }
  if (bits != 1 && bits != 4 && bits != 8 && bits != 16 && bits != 24 && bits != 32) {
    return Status::Invalid("corrupt bmp: ", bits, " bits per pixel");
  }

  // Palette (BGR entries), zero-filled past its declared end.
  uint8_t palette[256][3] = {};
  if (bits <= 8) {
    const size_t max_colors = size_t{1} << bits;
    const size_t colors = colors_used == 0 || colors_used > max_colors ? max_colors : colors_used;
    const size_t palette_offset = kFileHeaderSize + header_size;
    for (size_t idx = 0; idx < colors; ++idx) {
      const size_t pos = palette_offset + idx * palette_entry_size;
      if (pos + 3 > size) break;
      std::memcpy(palette[idx], data + pos, 3);
    }
  }

  const size_t stride = (static_cast<size_t>(width) * bits + 31) / 32 * 4;
  if (pixel_offset > size || (size - pixel_offset) / stride < static_cast<size_t>(height)) {
    return Status::Invalid("truncated bmp: the pixel data ends early");
  }
  Allocate(static_cast<int>(width), static_cast<int>(height), out);
  for (int64_t row = 0; row < height; ++row) {
    const int64_t stored_row = top_down ? row : height - 1 - row;
    const uint8_t* source = data + pixel_offset + static_cast<size_t>(stored_row) * stride;
    uint8_t* target = out->pixels.data() + 3 * static_cast<size_t>(row * width);
    for (int64_t col = 0; col < width; ++col, target += 3) {
      uint8_t blue = 0;
      uint8_t green = 0;
      uint8_t red = 0;
      if (bits <= 8) {
        const size_t bit = static_cast<size_t>(col) * bits;
        const uint32_t index = (source[bit / 8] >> (8 - bits - bit % 8)) & ((1u << bits) - 1);
        blue = palette[index][0];
        green = palette[index][1];
        red = palette[index][2];
      } else if (bits == 16) {
        // OpenCV's conversion: the high bits of each field, no bit replication.
        const uint32_t value = ReadLittleEndian16(source + 2 * col);
        blue = static_cast<uint8_t>((value << 3) & 0xF8);
        green = static_cast<uint8_t>(rgb565 ? (value >> 3) & 0xFC : (value >> 2) & 0xF8);
        red = static_cast<uint8_t>(rgb565 ? (value >> 8) & 0xF8 : (value >> 7) & 0xF8);
      } else {
        const uint8_t* pixel = source + static_cast<size_t>(col) * (bits / 8);
        blue = pixel[0];
        green = pixel[1];
        red = pixel[2];
      }
      target[0] = red;
      target[1] = green;
      target[2] = blue;
    }
  }
  return Status::OK();
}

}  // namespace orchard::image::internal
