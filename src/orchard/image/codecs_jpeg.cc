// The JPEG decoder (libjpeg-turbo) behind DecodeAndPreprocess; see codecs_internal.h.
#include <algorithm>
#include <csetjmp>
#include <cstdio>  // jpeglib.h needs FILE
#include <cstring>
#include <new>
#include <string>

#include <jpeglib.h>

#include "orchard/image/codecs_internal.h"

// The C libraries report errors through callbacks. Their defaults print to stderr and, for
// libjpeg, call exit(); ours copy the message and longjmp back to the decode function, which
// then cleans up and returns a Status. A longjmp only crosses the libraries' C frames and a
// callback: every C++ object with a destructor lives outside the setjmp functions' frames
// (their callers own them), and nothing those functions read after a longjmp is a local
// they changed after setjmp.

namespace orchard::image::internal {
namespace {

// ---------------------------------------------------------------------------------------
// JPEG (libjpeg-turbo)

struct JpegErrorManager {
  jpeg_error_mgr pub;  // first member: libjpeg sees a jpeg_error_mgr*
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool over_budget = false;  ///< stopped by JpegProgressMonitor, not by a libjpeg error
};

// The work of a progressive (multi-scan) JPEG grows with scans x pixels, not with its size
// in bytes: every scan passes over every block of its components, even one that holds
// nothing but end-of-band runs. 1,000 such scans over 8192 x 8192 pixels fit in 385 KB and
// take 80 s of CPU. Real encoders write 1 scan (baseline) or about 10 (libjpeg's and
// mozjpeg's progressive scripts, Photoshop's 3-5); djpeg -maxscans and TurboJPEG's
// TJPARAM_SCANLIMIT stop such files the same way.
struct JpegProgress {
  jpeg_progress_mgr pub;  // first member: libjpeg sees a jpeg_progress_mgr*
  JpegErrorManager* error = nullptr;
  int64_t pixels = 0;           ///< declared width x height, set after the header
  int64_t max_scan_pixels = 0;  ///< budget of scans x pixels
};

void JpegProgressMonitor(j_common_ptr cinfo) {
  auto* progress = reinterpret_cast<JpegProgress*>(cinfo->progress);
  const int64_t scans = reinterpret_cast<j_decompress_ptr>(cinfo)->input_scan_number;
  // Called before each row of MCUs of each scan: a scan over the limits stops at once.
  if (scans > kMaxJpegScans) {
    std::snprintf(progress->error->message, sizeof(progress->error->message),
                  "jpeg has more than %d scans (progressive passes): refused, as a file "
                  "built to be expensive to decode",
                  kMaxJpegScans);
  } else if (progress->pixels > 0 && scans > progress->max_scan_pixels / progress->pixels) {
    std::snprintf(progress->error->message, sizeof(progress->error->message),
                  "jpeg needs more than %lld scans over its %lld pixels, over the decode "
                  "budget of %d full-size scans at --max-pixels",
                  static_cast<long long>(progress->max_scan_pixels / progress->pixels),
                  static_cast<long long>(progress->pixels), kJpegScanBudgetFactor);
  } else {
    return;
  }
  progress->error->over_budget = true;
  std::longjmp(progress->error->jump, 1);
}

void JpegErrorExit(j_common_ptr cinfo) {
  auto* manager = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, manager->message);
  std::longjmp(manager->jump, 1);
}

// Warnings (corrupt data that libjpeg works around) stay silent, as cv::imdecode's
// results did not depend on them either.
void JpegSilentMessage(j_common_ptr /*cinfo*/) {}

// Returns false after a libjpeg error (message in error->message). `*pixels_done` tells
// whether every scanline had been read when the error came (an error in the trailer is
// ignored, as cv::imdecode did).
bool RunJpegDecoder(jpeg_decompress_struct* cinfo, JpegErrorManager* error, JpegProgress* progress,
                    const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out,
                    std::vector<uint8_t>* cmyk_row, Status* status, int* orientation,
                    volatile bool* pixels_done) {
  if (setjmp(error->jump)) {
    jpeg_destroy_decompress(cinfo);
    return false;
  }
  jpeg_create_decompress(cinfo);
  cinfo->progress = &progress->pub;
  jpeg_mem_src(cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(cinfo, TRUE);
  *status = CheckPixelCount("jpeg", cinfo->image_width, cinfo->image_height, max_pixels);
  if (!status->ok()) {
    jpeg_destroy_decompress(cinfo);
    return true;
  }
  progress->pixels = int64_t{cinfo->image_width} * cinfo->image_height;
  for (jpeg_saved_marker_ptr marker = cinfo->marker_list; marker != nullptr;
       marker = marker->next) {
    if (marker->marker == JPEG_APP0 + 1 && marker->data_length > 6 &&
        std::memcmp(marker->data, "Exif\0\0", 6) == 0) {
      *orientation = ReadExifOrientation(marker->data + 6, marker->data_length - 6);
      if (*orientation != 1) break;
    }
  }
  // Four components are CMYK or YCCK (libjpeg turns YCCK into CMYK); everything else is
  // asked for as RGB (libjpeg expands grayscale). libjpeg's default DCT and upsampling.
  const bool cmyk = cinfo->num_components == 4;
  cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(cinfo);
  Allocate(static_cast<int>(cinfo->output_width), static_cast<int>(cinfo->output_height), out);
  if (cmyk) cmyk_row->assign(4 * size_t{cinfo->output_width}, 0);
  while (cinfo->output_scanline < cinfo->output_height) {
    uint8_t* row = out->pixels.data() + 3 * size_t{cinfo->output_width} * cinfo->output_scanline;
    JSAMPROW target = cmyk ? cmyk_row->data() : row;
    if (jpeg_read_scanlines(cinfo, &target, 1) != 1) break;
    if (cmyk) {
      // OpenCV's CMYK -> RGB (libjpeg returns Adobe's inverted CMYK as stored).
      const uint8_t* source = cmyk_row->data();
      for (size_t col = 0; col < cinfo->output_width; ++col, source += 4) {
        const int key = source[3];
        row[3 * col + 0] = static_cast<uint8_t>(key - (((255 - source[0]) * key) >> 8));
        row[3 * col + 1] = static_cast<uint8_t>(key - (((255 - source[1]) * key) >> 8));
        row[3 * col + 2] = static_cast<uint8_t>(key - (((255 - source[2]) * key) >> 8));
      }
    }
  }
  *pixels_done = true;
  jpeg_finish_decompress(cinfo);
  jpeg_destroy_decompress(cinfo);
  return true;
}

}  // namespace

Status DecodeJpeg(const uint8_t* data, size_t size, int64_t max_pixels, RgbImage* out) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager error;
  cinfo.err = jpeg_std_error(&error.pub);
  error.pub.error_exit = JpegErrorExit;
  error.pub.output_message = JpegSilentMessage;
  error.message[0] = '\0';
  JpegProgress progress{};
  progress.pub.progress_monitor = JpegProgressMonitor;
  progress.error = &error;
  progress.max_scan_pixels = kJpegScanBudgetFactor * std::max<int64_t>(max_pixels, 1);
  std::vector<uint8_t> cmyk_row;
  Status status;
  int orientation = 1;
  volatile bool pixels_done = false;
  bool finished = false;
  try {
    finished = RunJpegDecoder(&cinfo, &error, &progress, data, size, max_pixels, out, &cmyk_row,
                              &status, &orientation, &pixels_done);
  } catch (const std::bad_alloc&) {  // from our buffers, between create and destroy
    jpeg_destroy_decompress(&cinfo);
    return Status::OutOfMemory("cannot decode jpeg: out of memory");
  }
  if (error.over_budget) return Status::Invalid(error.message);
  if (!finished && !pixels_done) {
    return Status::Invalid("corrupt or truncated jpeg: ", error.message);
  }
  ORCHARD_RETURN_NOT_OK(status);
  if (orientation != 1) ApplyOrientation(orientation, out);
  return Status::OK();
}

}  // namespace orchard::image::internal
