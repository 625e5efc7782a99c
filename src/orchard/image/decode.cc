#include "orchard/image/decode.h"

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>

#include "orchard/image/codecs_internal.h"

namespace orchard::image {
namespace {

uint32_t ReadBigEndian16(const uint8_t* bytes) { return (uint32_t{bytes[0]} << 8) | bytes[1]; }
uint32_t ReadBigEndian32(const uint8_t* bytes) {
  return (uint32_t{bytes[0]} << 24) | (uint32_t{bytes[1]} << 16) | (uint32_t{bytes[2]} << 8) |
         bytes[3];
}
uint32_t ReadLittleEndian16(const uint8_t* bytes) { return bytes[0] | (uint32_t{bytes[1]} << 8); }
uint32_t ReadLittleEndian24(const uint8_t* bytes) {
  return bytes[0] | (uint32_t{bytes[1]} << 8) | (uint32_t{bytes[2]} << 16);
}
uint32_t ReadLittleEndian32(const uint8_t* bytes) {
  return ReadLittleEndian24(bytes) | (uint32_t{bytes[3]} << 24);
}

Status Truncated(const char* format) { return Status::Invalid("truncated ", format, " header"); }

// Walks JPEG markers up to the first start-of-frame, which holds the size.
Result<ImageHeader> ReadJpegHeader(const uint8_t* data, size_t size) {
  ImageHeader header{ImageFormat::kJpeg, 0, 0};
  size_t pos = 2;
  while (pos + 4 <= size) {
    if (data[pos] != 0xFF) return Status::Invalid("corrupt jpeg: bad marker at byte ", pos);
    const uint8_t marker = data[pos + 1];
    if (marker == 0xFF) {  // fill byte
      ++pos;
      continue;
    }
    if (marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7) || marker == 0x01) {
      pos += 2;  // markers without a length field
      continue;
    }
    const uint32_t length = ReadBigEndian16(data + pos + 2);
    if (length < 2) return Status::Invalid("corrupt jpeg: bad segment length at byte ", pos);
    const bool start_of_frame =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (start_of_frame) {
      if (pos + 9 > size) return Truncated("jpeg");
      header.height = ReadBigEndian16(data + pos + 5);
      header.width = ReadBigEndian16(data + pos + 7);
    }
    if (marker == 0xDA) {  // start of scan: entropy-coded data follows
      if (header.width == 0) break;
      header.scan_offset = static_cast<int64_t>(pos);
      return header;
    }
    if (marker == 0xD9) break;  // end of image before any scan
    pos += 2 + length;
  }
  if (header.width > 0) return header;  // frame found; the scan check happens at decode
  return Status::Invalid("corrupt or truncated jpeg: no frame header");
}

Result<ImageHeader> ReadWebpHeader(const uint8_t* data, size_t size) {
  ImageHeader header{ImageFormat::kWebp, 0, 0};
  if (size < 30) return Truncated("webp");
  if (std::memcmp(data + 12, "VP8X", 4) == 0) {
    header.width = ReadLittleEndian24(data + 24) + 1;
    header.height = ReadLittleEndian24(data + 27) + 1;
  } else if (std::memcmp(data + 12, "VP8L", 4) == 0) {
    const uint32_t bits = ReadLittleEndian32(data + 21);
    header.width = (bits & 0x3FFF) + 1;
    header.height = ((bits >> 14) & 0x3FFF) + 1;
  } else if (std::memcmp(data + 12, "VP8 ", 4) == 0) {
    header.width = ReadLittleEndian16(data + 26) & 0x3FFF;
    header.height = ReadLittleEndian16(data + 28) & 0x3FFF;
  } else {
    return Status::Invalid("unknown webp chunk");
  }
  return header;
}

// OpenCV (core + imgproc, for the resize only) runs serially: the pipeline parallelises
// across images.
void ConfigureOpenCvOnce() {
  static std::once_flag once;
  std::call_once(once, [] { cv::setNumThreads(1); });
}

// The decoder for `format` (the header has been read and checked).
Status DecodeRgb(ImageFormat format, const uint8_t* data, size_t size, int64_t max_pixels,
                 internal::RgbImage* rgb) {
  switch (format) {
    case ImageFormat::kJpeg:
      return internal::DecodeJpeg(data, size, max_pixels, rgb);
    case ImageFormat::kPng:
      return internal::DecodePng(data, size, max_pixels, rgb);
    case ImageFormat::kWebp:
      return internal::DecodeWebp(data, size, max_pixels, rgb);
    case ImageFormat::kBmp:
      return internal::DecodeBmp(data, size, max_pixels, rgb);
    case ImageFormat::kTiff:
      return Status::NotImplemented("tiff is not supported: convert it to png");
    case ImageFormat::kGif:
      return Status::NotImplemented("gif is not supported: convert it to png");
    case ImageFormat::kUnknown:
      break;
  }
  return Status::Invalid("not an image: unknown format");
}

}  // namespace

const char* FormatName(ImageFormat format) {
  switch (format) {
    case ImageFormat::kJpeg:
      return "jpeg";
    case ImageFormat::kPng:
      return "png";
    case ImageFormat::kBmp:
      return "bmp";
    case ImageFormat::kWebp:
      return "webp";
    case ImageFormat::kGif:
      return "gif";
    case ImageFormat::kTiff:
      return "tiff";
    case ImageFormat::kUnknown:
      break;
  }
  return "unknown";
}

Result<ImageHeader> ReadImageHeader(const uint8_t* data, size_t size) {
  if (size == 0) return Status::Invalid("empty file (0 bytes)");
  auto starts_with = [&](const char* magic, size_t magic_len) {
    return size >= magic_len && std::memcmp(data, magic, magic_len) == 0;
  };
  if (starts_with("\xFF\xD8\xFF", 3)) return ReadJpegHeader(data, size);
  if (starts_with("\x89PNG\r\n\x1A\n", 8)) {
    if (size < 24) return Truncated("png");
    return ImageHeader{ImageFormat::kPng, ReadBigEndian32(data + 16), ReadBigEndian32(data + 20)};
  }
  if (starts_with("BM", 2)) {
    if (size < 26) return Truncated("bmp");
    const auto width = static_cast<int32_t>(ReadLittleEndian32(data + 18));
    const auto height = static_cast<int32_t>(ReadLittleEndian32(data + 22));
    return ImageHeader{ImageFormat::kBmp, std::abs(int64_t{width}), std::abs(int64_t{height})};
  }
  if (starts_with("RIFF", 4) && size >= 16 && std::memcmp(data + 8, "WEBP", 4) == 0) {
    return ReadWebpHeader(data, size);
  }
  if (starts_with("GIF87a", 6) || starts_with("GIF89a", 6)) {
    if (size < 10) return Truncated("gif");
    return ImageHeader{ImageFormat::kGif, ReadLittleEndian16(data + 6),
                       ReadLittleEndian16(data + 8)};
  }
  if (starts_with("II*\0", 4) || starts_with("MM\0*", 4)) {
    return ImageHeader{ImageFormat::kTiff, 0, 0};
  }
  return Status::Invalid("not an image: unknown format (supported: jpeg, png, bmp, webp, tiff)");
}

namespace internal {

Status DecodeChecked(const uint8_t* data, size_t size, const PreprocessOptions& options,
                     ImageFormat* format, RgbImage* rgb) {
  // Bytes that reached memory some other way than a bounded read (Python, predict) obey the
  // same limit as files.
  if (options.max_file_bytes >= 0 && size > static_cast<uint64_t>(options.max_file_bytes)) {
    return Status::Invalid("the file is ", size, " bytes, over the limit of ",
                           options.max_file_bytes, " bytes (--max-file-bytes)");
  }
  ORCHARD_ASSIGN_OR_RAISE(ImageHeader header, ReadImageHeader(data, size));
  if (header.format == ImageFormat::kGif) {
    return Status::NotImplemented("gif is not supported: convert it to png");
  }
  if (header.width < 0 || header.height < 0 ||
      (header.width > 0 && header.height > options.max_pixels / header.width)) {
    return Status::Invalid(FormatName(header.format), " declares ", header.width, "x",
                           header.height, " pixels, over the limit of ", options.max_pixels,
                           " (--max-pixels)");
  }
  // A file that also carries the DICOM signature at offset 128 is ambiguous; OpenCV's
  // decoder choice by signature made it reach GDCM, which aborted (found by fuzzing). Our
  // decoders follow the format sniffed above, but such files stay refused so that every
  // build gives the same answer as before.
  if (size >= 132 && std::memcmp(data + 128, "DICM", 4) == 0) {
    return Status::Invalid("ambiguous ", FormatName(header.format),
                           " file: it also carries a DICOM signature (DICOM is not supported)");
  }
  if (header.format == ImageFormat::kJpeg) {
    // libjpeg pads a cut-off scan with gray and reports success; a JPEG whose data ends
    // before its end-of-image marker is truncated. Entropy-coded data cannot contain FF D9
    // (FF is byte-stuffed), so the marker after the main scan is conclusive.
    bool has_end = false;
    if (header.scan_offset > 0) {
      for (size_t pos = static_cast<size_t>(header.scan_offset); pos + 1 < size; ++pos) {
        if (data[pos] == 0xFF && data[pos + 1] == 0xD9) {
          has_end = true;
          break;
        }
      }
    }
    if (!has_end) {
      return Status::Invalid("truncated jpeg: the image data ends before its end marker");
    }
  }
  *format = header.format;
  // Grayscale, palette, alpha, 16-bit and CMYK input arrive as 8-bit RGB.
  return DecodeRgb(header.format, data, size, options.max_pixels, rgb);
}

}  // namespace internal

Status DecodeAndPreprocess(const uint8_t* data, size_t size, const PreprocessOptions& options,
                           float* chw_out) {
  ConfigureOpenCvOnce();
  internal::RgbImage rgb;
  ImageFormat format = ImageFormat::kUnknown;
  cv::Mat resized;
  try {
    ORCHARD_RETURN_NOT_OK(internal::DecodeChecked(data, size, options, &format, &rgb));
    if (rgb.width != options.width || rgb.height != options.height) {
      const cv::Mat source(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data());
      cv::resize(source, resized, cv::Size(options.width, options.height), 0, 0, cv::INTER_LINEAR);
    } else {
      resized = cv::Mat(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data());
    }
  } catch (const cv::Exception& error) {
    return Status::Invalid("cannot resize ", FormatName(format), ": ", error.what());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("cannot decode ", FormatName(format), " of ", rgb.width, "x",
                               rgb.height, " pixels: out of memory");
  }
  // Interleaved RGB bytes -> planar RGB floats; same arithmetic as cv::dnn::blobFromImage
  // ((x - mean) * scale) so features match the model's reference outputs.
  constexpr float kMean = 127.5f;
  constexpr float kScale = 1.0f / 127.5f;
  const int64_t plane = int64_t{options.width} * options.height;
  float* red = chw_out;
  float* green = chw_out + plane;
  float* blue = chw_out + 2 * plane;
  for (int row = 0; row < resized.rows; ++row) {
    const uint8_t* pixel = resized.ptr<uint8_t>(row);
    const int64_t offset = int64_t{row} * resized.cols;
    for (int col = 0; col < resized.cols; ++col) {
      red[offset + col] = (static_cast<float>(pixel[3 * col + 0]) - kMean) * kScale;
      green[offset + col] = (static_cast<float>(pixel[3 * col + 1]) - kMean) * kScale;
      blue[offset + col] = (static_cast<float>(pixel[3 * col + 2]) - kMean) * kScale;
    }
  }
  return Status::OK();
}

}  // namespace orchard::image
