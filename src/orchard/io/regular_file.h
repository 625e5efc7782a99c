// Reading the files a user names one by one (the ONNX model, a classifier's files, the
// photos of `orchard predict`): each must be a regular file of a bounded size, checked
// before it is opened. Opening a FIFO blocks until some writer comes (forever, if none
// does), a device such as /dev/zero never ends, and a folder is not a file.
#pragma once

#include <arrow/buffer.h>

#include <cstdint>
#include <memory>
#include <string_view>

#include "orchard/io/storage.h"
#include "orchard/util/status.h"

namespace orchard::io {

/// The largest JSON model file orchard reads (pca_model/model.json, a classifier's
/// classifier.json and pca_model.json): 1 GiB holds a 4096 x 4096 PCA, far above real ones
/// (MobileNetV2's full 1280 x 1280 PCA is about 40 MB), and bounds the parser's memory.
inline constexpr int64_t kMaxModelJsonBytes = int64_t{1} << 30;

/// Reads `location` whole when it is a regular file (an object, on an object store) of at
/// most `max_bytes`. Fails without opening it when it does not exist, is a folder, or is
/// anything else (FIFO, socket, device; links are followed), and without reading it when it
/// is larger than `max_bytes`. Messages start with `what` (e.g. "model 'm.onnx'") and say
/// what the file is and what the limit is. Thread-safe.
Result<std::shared_ptr<arrow::Buffer>> ReadRegularFile(const Location& location, int64_t max_bytes,
                                                       std::string_view what);

}  // namespace orchard::io
