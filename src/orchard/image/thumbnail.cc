#include "orchard/image/thumbnail.h"

#include <algorithm>
#include <cmath>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <cstdlib>
#include <new>

#include <jpeglib.h>
#include <opencv2/imgproc.hpp>

#include "orchard/image/codecs_internal.h"

namespace orchard::image {
namespace {

constexpr int kThumbnailQuality = 80;

// libjpeg reports errors through a callback that must not return: it longjmps back to
// EncodeJpeg, which cleans up. As in codecs_jpeg.cc, every C++ object with a destructor
// lives outside EncodeJpeg's frame (the caller owns them).
struct EncodeError {
  jpeg_error_mgr pub;  // first member: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void OnEncodeError(j_common_ptr cinfo) {
  auto* error = reinterpret_cast<EncodeError*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, error->message);
  std::longjmp(error->jump, 1);
}

void IgnoreMessage(j_common_ptr) {}

// Encodes `rows` x `cols` interleaved RGB pixels; on success `*out` / `*out_size` hold a
// buffer libjpeg allocated with malloc (the caller frees it). -> false with error->message.
bool EncodeJpeg(const uint8_t* pixels, int cols, int rows, jpeg_compress_struct* cinfo,
                EncodeError* error, unsigned char** out, unsigned long* out_size) {
  if (setjmp(error->jump)) {
    jpeg_destroy_compress(cinfo);
    return false;
  }
  jpeg_create_compress(cinfo);
  jpeg_mem_dest(cinfo, out, out_size);
  cinfo->image_width = static_cast<JDIMENSION>(cols);
  cinfo->image_height = static_cast<JDIMENSION>(rows);
  cinfo->input_components = 3;
  cinfo->in_color_space = JCS_RGB;
  jpeg_set_defaults(cinfo);
  jpeg_set_quality(cinfo, kThumbnailQuality, TRUE);
  jpeg_start_compress(cinfo, TRUE);
  while (cinfo->next_scanline < cinfo->image_height) {
    // libjpeg takes non-const rows; it only reads them.
    JSAMPROW row = const_cast<JSAMPROW>(pixels + size_t{cinfo->next_scanline} * 3 * cols);
    jpeg_write_scanlines(cinfo, &row, 1);
  }
  jpeg_finish_compress(cinfo);
  jpeg_destroy_compress(cinfo);
  return true;
}

}  // namespace

Result<std::string> JpegThumbnail(const uint8_t* data, size_t size, int max_side,
                                  const PreprocessOptions& limits) {
  if (max_side < 1) return Status::Invalid("thumbnail side must be at least 1, got ", max_side);
  internal::RgbImage rgb;
  ImageFormat format = ImageFormat::kUnknown;
  cv::Mat scaled;
  try {
    ORCHARD_RETURN_NOT_OK(internal::DecodeChecked(data, size, limits, &format, &rgb));
    const double scale =
        std::min(1.0, static_cast<double>(max_side) / std::max(rgb.width, rgb.height));
    const int cols = std::max(1, static_cast<int>(std::lround(rgb.width * scale)));
    const int rows = std::max(1, static_cast<int>(std::lround(rgb.height * scale)));
    const cv::Mat source(rgb.height, rgb.width, CV_8UC3, rgb.pixels.data());
    if (cols == rgb.width && rows == rgb.height) {
      scaled = source;
    } else {
      // Area averaging: a downscale without the aliasing of bilinear sampling.
      cv::resize(source, scaled, cv::Size(cols, rows), 0, 0, cv::INTER_AREA);
    }
  } catch (const cv::Exception& error) {
    return Status::Invalid("cannot scale ", FormatName(format), ": ", error.what());
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("cannot decode ", FormatName(format), " of ", rgb.width, "x",
                               rgb.height, " pixels: out of memory");
  }
  if (!scaled.isContinuous()) scaled = scaled.clone();
  jpeg_compress_struct cinfo;
  EncodeError error;
  cinfo.err = jpeg_std_error(&error.pub);
  error.pub.error_exit = OnEncodeError;
  error.pub.output_message = IgnoreMessage;
  error.message[0] = '\0';
  unsigned char* encoded = nullptr;
  unsigned long encoded_size = 0;
  const bool ok = EncodeJpeg(scaled.ptr<uint8_t>(0), scaled.cols, scaled.rows, &cinfo, &error,
                             &encoded, &encoded_size);
  std::string out;
  if (ok && encoded != nullptr) out.assign(reinterpret_cast<const char*>(encoded), encoded_size);
  std::free(encoded);
  if (!ok) return Status::Invalid("cannot encode the thumbnail: ", error.message);
  return out;
}

}  // namespace orchard::image
