// Embedding of encoded images held in memory: the unit of work of the Spark job (one
// Arrow batch of file contents) and of any other front end that already has the bytes.
// Uses exactly the CLI's decode + preprocess + inference code, with the CLI's error
// stages and messages, so both front ends give the same rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "orchard/image/decode.h"
#include "orchard/model/embedder.h"
#include "orchard/util/status.h"

namespace orchard::pipeline {

/// One encoded image (JPEG, PNG, ...); the bytes are borrowed, not copied.
struct EncodedImage {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

struct EmbedBytesOptions {
  /// Images per inference call; bounds the float input tensor held at once.
  int batch_size = 32;
  /// Threads that decode a batch (1: the calling thread only).
  int decode_threads = 1;
  /// Width and height are taken from the model; max_pixels applies.
  image::PreprocessOptions preprocess;
};

/// An image that could not be embedded: its index in the input, the stage ("decode" or
/// "embed") and the message, the same as the CLI writes to its errors table.
struct EmbedError {
  int64_t index = 0;
  std::string stage;
  std::string message;
};

struct EmbedBytesResult {
  int64_t dim = 0;
  /// Indices (into the input) of the images that were embedded, increasing.
  std::vector<int64_t> ok_indices;
  /// ok_indices.size() x dim, row-major, in the order of ok_indices.
  std::vector<float> features;
  /// Failed images, by increasing index.
  std::vector<EmbedError> errors;
};

/// The most bytes one batch's input tensor may take (batch size x channels x height x
/// width floats): 4 GiB holds the CLI's largest batch (4096) of 224x224 images, and a
/// batch of the largest model input (model::kMaxInputPixels) of up to 21 images.
inline constexpr int64_t kMaxBatchInputBytes = int64_t{4} << 30;

/// Fails (naming the model, the batch size and the largest batch that fits) when a batch
/// of `batch_size` images of the model's input would exceed kMaxBatchInputBytes: the
/// buffers are allocated per batch, and such a batch would exhaust memory instead of
/// failing with a message.
Status CheckBatchFits(const model::Embedder& embedder, int64_t batch_size);

/// Embeds `count` preprocessed images (contiguous NCHW). When the whole call fails, the
/// images are retried one by one so that only those the model itself rejects fail.
/// An image whose embedding holds a NaN or an infinity fails too (its Status names the
/// output and how many values were not finite): such rows never reach the features
/// table or the PCA statistics. A failed allocation fails every image of the call.
/// Appends the features of the good rows, in order, to `features`; returns one Status
/// per image. Shared by Featurize and EmbedEncodedImages.
std::vector<Status> EmbedWithRetry(const model::Embedder& embedder, const float* input,
                                   int64_t count, std::vector<float>* features);

/// Decodes, preprocesses and embeds `images`. A bad image becomes an EmbedError; when a
/// whole inference batch fails, its images are retried one by one so that only the
/// images the model itself rejects fail (as in Featurize). Fails only for bad options, a
/// batch too large for CheckBatchFits, or a decode thread the system refuses to start.
Result<EmbedBytesResult> EmbedEncodedImages(const std::vector<EncodedImage>& images,
                                            const model::Embedder& embedder,
                                            const EmbedBytesOptions& options);

}  // namespace orchard::pipeline
