// Small JPEG thumbnails of images, for reports that must stay one self-contained file
// (the dedup page inlines them as data URIs).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "orchard/image/decode.h"
#include "orchard/util/status.h"

namespace orchard::image {

/// The thumbnail side the reports use, in pixels.
inline constexpr int kThumbnailSide = 64;

/// A baseline JPEG (quality 80) of the image `data` (any format DecodeAndPreprocess reads,
/// EXIF orientation applied, under the same limits: `limits.max_file_bytes`,
/// `limits.max_pixels`) scaled down to fit `max_side` x `max_side` with its aspect ratio
/// kept (never enlarged; each side at least 1 pixel). Fails as DecodeAndPreprocess does;
/// never throws or prints. Thread-safe.
Result<std::string> JpegThumbnail(const uint8_t* data, size_t size, int max_side,
                                  const PreprocessOptions& limits);

}  // namespace orchard::image
