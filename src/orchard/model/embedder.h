// Embedder: runs an ONNX image model (NCHW float32 in, one 2-D float32 output) through
// ONNX Runtime. ONNX Runtime's headers stay inside embedder.cc.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "orchard/util/status.h"

namespace orchard::model {

/// sha256 of the shipped MobileNetV2 ImageNet model (models/mobilenet_v2_imagenet.onnx).
inline constexpr const char* kDefaultModelSha256 =
    "9a935271bec2d130d6949b2adcb1c7f96a3b1482e106245ac3513916c343b4a4";

struct EmbedderOptions {
  /// Name of the output that holds the embedding ([N, D] float32).
  std::string output_name = "features";
  /// ONNX Runtime intra-op threads (0: ONNX Runtime's default, one per core).
  int intra_op_threads = 0;
  /// Let ONNX Runtime's threads spin between work items. Off by default: the spinning
  /// takes CPU from the decode threads that share the cores.
  bool allow_spinning = false;
  /// When non-empty, the model's sha256 must equal it (lower-case hex).
  std::string expected_sha256;
  /// Name for messages (the model's path or URI).
  std::string model_name = "model";
};

/// The largest image input a model may declare: height x width <= 4096 x 4096 pixels (3
/// channels: 192 MiB of float32 per image; the shipped MobileNetV2 takes 224 x 224). A
/// larger declared input is refused when the model is loaded, before any buffer of that
/// size is allocated; a dynamic (-1) height or width counts as the 224 orchard would use.
inline constexpr int64_t kMaxInputPixels = int64_t{4096} * 4096;
/// The widest embedding (D of the [N, D] output) a model may declare: the PCA statistics
/// hold D x D float64 values (32 GiB at this bound; MobileNetV2's D is 1280).
inline constexpr int64_t kMaxOutputDim = int64_t{1} << 16;

/// What the model expects and produces, read from the model itself.
struct ModelInfo {
  /// The model's name for messages (EmbedderOptions::model_name).
  std::string model_name;
  std::string input_name;
  int64_t channels = 3;
  int64_t height = 224;
  int64_t width = 224;
  std::string output_name;
  int64_t output_dim = 0;
  std::vector<std::string> output_names;
  std::string sha256;
};

/// One inference session. Run() may be called from several threads at once (ONNX
/// Runtime sessions are thread-safe for Run); the pipeline uses one caller.
class Embedder {
 public:
  /// Loads a model from its serialized bytes. Fails when the bytes are not a valid ONNX
  /// model, the checksum differs, the model breaks the contract (one 4-D float input
  /// [N, 3, H, W]; the named output is [N, D] float32), declares an input larger than
  /// kMaxInputPixels or an output wider than kMaxOutputDim, or memory runs out; every
  /// message names the model (and the shape, for a shape it refuses). Never throws.
  static Result<std::unique_ptr<Embedder>> Make(const std::string& model_bytes,
                                                const EmbedderOptions& options);
  ~Embedder();

  const ModelInfo& info() const;

  /// Floats per input image: channels * height * width.
  int64_t input_size() const;

  /// Runs `num_images` preprocessed images (contiguous NCHW) and writes num_images *
  /// output_dim floats of the embedding output to `output`. ONNX Runtime's failures
  /// (allocation failures included) are a Status naming the model; never throws.
  Status Embed(const float* input, int64_t num_images, float* output) const;

  /// Runs and returns any 2-D float output by name (e.g. "logits"), with its width.
  Result<std::vector<float>> RunOutput(const float* input, int64_t num_images,
                                       const std::string& output_name, int64_t* output_dim) const;

 private:
  struct Impl;
  explicit Embedder(std::unique_ptr<Impl> impl);
  static Result<std::unique_ptr<Embedder>> MakeUnguarded(const std::string& model_bytes,
                                                         const EmbedderOptions& options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orchard::model
