#include "orchard/model/embedder.h"

#include <onnxruntime_c_api.h>

#include <algorithm>
#include <array>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "orchard/util/sha256.h"
#include "orchard/util/start_thread.h"

namespace orchard::model {
namespace {

const OrtApi& Api() {
  static const OrtApi* api = OrtGetApiBase()->GetApi(ORT_API_VERSION);
  return *api;
}

// Turns an OrtStatus into a Status naming what we were doing, and frees it.
Status Check(OrtStatus* status, const std::string& what) {
  if (status == nullptr) return Status::OK();
  std::string message = Api().GetErrorMessage(status);
  Api().ReleaseStatus(status);
  return Status::ExecutionError(what, ": ", message);
}

// One ONNX Runtime environment per process, as ONNX Runtime requires.
Result<OrtEnv*> SharedEnv() {
  static std::mutex mutex;
  static OrtEnv* env = nullptr;
  std::lock_guard lock(mutex);
  if (env == nullptr) {
    if (Api().CreateEnv == nullptr) {
      return Status::Invalid("ONNX Runtime library is older than the headers (API ",
                             ORT_API_VERSION, ")");
    }
    ORCHARD_RETURN_NOT_OK(
        Check(Api().CreateEnv(ORT_LOGGING_LEVEL_ERROR, "orchard", &env), "ONNX Runtime init"));
  }
  return env;
}

template <typename T, void (*Release)(T*)>
struct OrtDeleter {
  void operator()(T* ptr) const {
    if (ptr != nullptr) Release(ptr);
  }
};
void ReleaseSession(OrtSession* ptr) { Api().ReleaseSession(ptr); }
void ReleaseSessionOptions(OrtSessionOptions* ptr) { Api().ReleaseSessionOptions(ptr); }
void ReleaseValue(OrtValue* ptr) { Api().ReleaseValue(ptr); }
void ReleaseMemoryInfo(OrtMemoryInfo* ptr) { Api().ReleaseMemoryInfo(ptr); }
void ReleaseTypeInfo(OrtTypeInfo* ptr) { Api().ReleaseTypeInfo(ptr); }
void ReleaseShapeInfo(OrtTensorTypeAndShapeInfo* ptr) { Api().ReleaseTensorTypeAndShapeInfo(ptr); }

using SessionPtr = std::unique_ptr<OrtSession, OrtDeleter<OrtSession, ReleaseSession>>;
using SessionOptionsPtr =
    std::unique_ptr<OrtSessionOptions, OrtDeleter<OrtSessionOptions, ReleaseSessionOptions>>;
using ValuePtr = std::unique_ptr<OrtValue, OrtDeleter<OrtValue, ReleaseValue>>;
using MemoryInfoPtr = std::unique_ptr<OrtMemoryInfo, OrtDeleter<OrtMemoryInfo, ReleaseMemoryInfo>>;
using TypeInfoPtr = std::unique_ptr<OrtTypeInfo, OrtDeleter<OrtTypeInfo, ReleaseTypeInfo>>;
using ShapeInfoPtr = std::unique_ptr<OrtTensorTypeAndShapeInfo,
                                     OrtDeleter<OrtTensorTypeAndShapeInfo, ReleaseShapeInfo>>;

struct TensorShape {
  ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
  std::vector<int64_t> dims;
};

Result<TensorShape> ReadShape(const OrtTypeInfo* type_info, const std::string& what) {
  const OrtTensorTypeAndShapeInfo* tensor_info = nullptr;
  ORCHARD_RETURN_NOT_OK(Check(Api().CastTypeInfoToTensorInfo(type_info, &tensor_info), what));
  if (tensor_info == nullptr) return Status::Invalid(what, " is not a tensor");
  TensorShape shape;
  ORCHARD_RETURN_NOT_OK(Check(Api().GetTensorElementType(tensor_info, &shape.type), what));
  size_t rank = 0;
  ORCHARD_RETURN_NOT_OK(Check(Api().GetDimensionsCount(tensor_info, &rank), what));
  shape.dims.resize(rank);
  ORCHARD_RETURN_NOT_OK(Check(Api().GetDimensions(tensor_info, shape.dims.data(), rank), what));
  return shape;
}

// "[N,3,224,224]": a declared shape as the user would write it (dynamic dims as N/-1).
std::string ShapeText(const std::vector<int64_t>& dims) {
  std::string text = "[";
  for (size_t idx = 0; idx < dims.size(); ++idx) {
    if (idx > 0) text += ",";
    text += idx == 0 && dims[idx] < 0 ? std::string("N") : std::to_string(dims[idx]);
  }
  return text + "]";
}

}  // namespace

struct Embedder::Impl {
  SessionPtr session;
  MemoryInfoPtr memory_info;
  ModelInfo info;
  std::string model_name;

  Status Run(const float* input, int64_t num_images, const std::string& output_name,
             int64_t output_dim, float* output) const {
    const std::array<int64_t, 4> input_shape{num_images, info.channels, info.height, info.width};
    const size_t input_bytes = sizeof(float) * static_cast<size_t>(num_images) *
                               static_cast<size_t>(info.channels * info.height * info.width);
    OrtValue* raw_input = nullptr;
    ORCHARD_RETURN_NOT_OK(Check(
        Api().CreateTensorWithDataAsOrtValue(memory_info.get(), const_cast<float*>(input),
                                             input_bytes, input_shape.data(), input_shape.size(),
                                             ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &raw_input),
        "creating the input tensor"));
    ValuePtr input_value(raw_input);
    // The output is written straight into the caller's buffer: no copy.
    const std::array<int64_t, 2> output_shape{num_images, output_dim};
    OrtValue* raw_output = nullptr;
    ORCHARD_RETURN_NOT_OK(
        Check(Api().CreateTensorWithDataAsOrtValue(
                  memory_info.get(), output,
                  sizeof(float) * static_cast<size_t>(num_images * output_dim), output_shape.data(),
                  output_shape.size(), ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, &raw_output),
              "creating the output tensor"));
    ValuePtr output_value(raw_output);
    const char* input_names[] = {info.input_name.c_str()};
    const char* output_names[] = {output_name.c_str()};
    OrtValue* inputs[] = {input_value.get()};
    OrtValue* outputs[] = {output_value.get()};
    // ONNX Runtime reports its own allocation failures as a status; the guard is for any
    // exception that escapes it (a C API must not throw, but a failed allocation of ours
    // or of a custom op would otherwise end the process).
    try {
      return Check(
          Api().Run(session.get(), nullptr, input_names, inputs, 1, output_names, 1, outputs),
          "running " + model_name);
    } catch (const std::bad_alloc&) {
      return Status::OutOfMemory("running ", model_name, " on ", num_images,
                                 " images: out of memory; lower -b/--batch-size");
    }
  }
};

Embedder::Embedder(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Embedder::~Embedder() = default;

const ModelInfo& Embedder::info() const { return impl_->info; }

int64_t Embedder::input_size() const {
  return impl_->info.channels * impl_->info.height * impl_->info.width;
}

Result<std::unique_ptr<Embedder>> Embedder::Make(const std::string& model_bytes,
                                                 const EmbedderOptions& options) {
  // ONNX Runtime's C API returns its failures as statuses; a failed allocation of ours
  // (the session's copies, names, shapes) is turned into one here.
  try {
    return MakeUnguarded(model_bytes, options);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("loading model ", options.model_name, " (", model_bytes.size(),
                               " bytes): out of memory");
  }
}

Result<std::unique_ptr<Embedder>> Embedder::MakeUnguarded(const std::string& model_bytes,
                                                          const EmbedderOptions& options) {
  const std::string& name = options.model_name;
  auto impl = std::make_unique<Impl>();
  impl->model_name = name;
  impl->info.model_name = name;
  impl->info.sha256 = Sha256Hex(model_bytes);
  if (!options.expected_sha256.empty() && impl->info.sha256 != options.expected_sha256) {
    return Status::Invalid("model ", name, " has sha256 ", impl->info.sha256, ", expected ",
                           options.expected_sha256,
                           ": the file is damaged or a different model; restore it from the "
                           "repository or pass --model-sha256 for your own model");
  }
  ORCHARD_ASSIGN_OR_RAISE(OrtEnv * env, SharedEnv());
  OrtSessionOptions* raw_options = nullptr;
  ORCHARD_RETURN_NOT_OK(Check(Api().CreateSessionOptions(&raw_options), "session options"));
  SessionOptionsPtr session_options(raw_options);
  ORCHARD_RETURN_NOT_OK(
      Check(Api().SetSessionGraphOptimizationLevel(session_options.get(), ORT_ENABLE_ALL),
            "session options"));
  ORCHARD_RETURN_NOT_OK(
      Check(Api().SetIntraOpNumThreads(session_options.get(), options.intra_op_threads),
            "session options"));
  ORCHARD_RETURN_NOT_OK(
      Check(Api().SetInterOpNumThreads(session_options.get(), 1), "session options"));
  ORCHARD_RETURN_NOT_OK(Check(Api().SetSessionExecutionMode(session_options.get(), ORT_SEQUENTIAL),
                              "session options"));
  ORCHARD_RETURN_NOT_OK(
      Check(Api().AddSessionConfigEntry(session_options.get(), "session.intra_op.allow_spinning",
                                        options.allow_spinning ? "1" : "0"),
            "session options"));
  // ONNX Runtime starts intra_op_threads - 1 threads for the session, and hangs (joining
  // a pool it could not finish) when the system refuses one: check that they can start.
  const int ort_threads = options.intra_op_threads > 0
                              ? options.intra_op_threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ORCHARD_RETURN_NOT_OK(util::CheckThreadsAvailable(
      ort_threads, "ONNX Runtime's " + std::to_string(ort_threads) + " threads for model " + name));
  OrtSession* raw_session = nullptr;
  ORCHARD_RETURN_NOT_OK(
      Check(Api().CreateSessionFromArray(env, model_bytes.data(), model_bytes.size(),
                                         session_options.get(), &raw_session),
            "loading model " + name + " (is it an ONNX file?)"));
  impl->session.reset(raw_session);

  OrtAllocator* allocator = nullptr;
  ORCHARD_RETURN_NOT_OK(Check(Api().GetAllocatorWithDefaultOptions(&allocator), "allocator"));
  size_t input_count = 0;
  ORCHARD_RETURN_NOT_OK(
      Check(Api().SessionGetInputCount(impl->session.get(), &input_count), "model inputs"));
  if (input_count != 1) {
    return Status::Invalid("model ", name, " has ", input_count,
                           " inputs; orchard needs exactly one image input [N,3,H,W]");
  }
  char* input_name = nullptr;
  ORCHARD_RETURN_NOT_OK(Check(
      Api().SessionGetInputName(impl->session.get(), 0, allocator, &input_name), "model input"));
  impl->info.input_name = input_name;
  Api().ReleaseStatus(Api().AllocatorFree(allocator, input_name));
  OrtTypeInfo* raw_type = nullptr;
  ORCHARD_RETURN_NOT_OK(
      Check(Api().SessionGetInputTypeInfo(impl->session.get(), 0, &raw_type), "model input"));
  TypeInfoPtr input_type(raw_type);
  ORCHARD_ASSIGN_OR_RAISE(auto input_shape, ReadShape(input_type.get(), "model input"));
  if (input_shape.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || input_shape.dims.size() != 4 ||
      input_shape.dims[1] != 3) {
    return Status::Invalid("model ", name, " input '", impl->info.input_name,
                           "' must be float32 [N,3,H,W] (NCHW RGB)");
  }
  // Dynamic spatial dimensions (-1) fall back to 224x224.
  impl->info.height = input_shape.dims[2] > 0 ? input_shape.dims[2] : 224;
  impl->info.width = input_shape.dims[3] > 0 ? input_shape.dims[3] : 224;
  // Each image of a batch takes channels x height x width floats, allocated per batch:
  // a declared [N,3,65536,65536] would be 48 GiB per image. Refused here, by name. (Each
  // side is at most kMaxInputPixels, so the product cannot overflow.)
  if (impl->info.height > kMaxInputPixels || impl->info.width > kMaxInputPixels ||
      impl->info.height * impl->info.width > kMaxInputPixels) {
    return Status::Invalid("model ", name, " declares input '", impl->info.input_name, "' ",
                           ShapeText(input_shape.dims), ": ", impl->info.height, "x",
                           impl->info.width, " pixels per image, more than orchard's bound of ",
                           kMaxInputPixels, " (4096x4096); use a model with a smaller input");
  }

  size_t output_count = 0;
  ORCHARD_RETURN_NOT_OK(
      Check(Api().SessionGetOutputCount(impl->session.get(), &output_count), "model outputs"));
  bool found = false;
  for (size_t output_idx = 0; output_idx < output_count; ++output_idx) {
    char* output_name = nullptr;
    ORCHARD_RETURN_NOT_OK(
        Check(Api().SessionGetOutputName(impl->session.get(), output_idx, allocator, &output_name),
              "model output"));
    impl->info.output_names.emplace_back(output_name);
    Api().ReleaseStatus(Api().AllocatorFree(allocator, output_name));
    if (impl->info.output_names.back() != options.output_name) continue;
    ORCHARD_RETURN_NOT_OK(
        Check(Api().SessionGetOutputTypeInfo(impl->session.get(), output_idx, &raw_type),
              "model output"));
    TypeInfoPtr output_type(raw_type);
    ORCHARD_ASSIGN_OR_RAISE(auto output_shape, ReadShape(output_type.get(), "model output"));
    if (output_shape.type != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT || output_shape.dims.size() != 2 ||
        output_shape.dims[1] <= 0) {
      return Status::Invalid("model ", name, " output '", options.output_name,
                             "' must be float32 [N,D] with a fixed D");
    }
    if (output_shape.dims[1] > kMaxOutputDim) {
      return Status::Invalid("model ", name, " declares output '", options.output_name, "' ",
                             ShapeText(output_shape.dims), ": ", output_shape.dims[1],
                             " values per image, more than orchard's bound of ", kMaxOutputDim,
                             "; choose a narrower output with --output-name");
    }
    impl->info.output_dim = output_shape.dims[1];
    found = true;
  }
  if (!found) {
    std::string names;
    for (const auto& output : impl->info.output_names)
      names += (names.empty() ? "" : ", ") + output;
    return Status::Invalid("model ", name, " has no output named '", options.output_name,
                           "' (outputs: ", names, "); choose one with --output-name");
  }
  impl->info.output_name = options.output_name;
  OrtMemoryInfo* raw_memory = nullptr;
  ORCHARD_RETURN_NOT_OK(Check(
      Api().CreateCpuMemoryInfo(OrtArenaAllocator, OrtMemTypeDefault, &raw_memory), "memory info"));
  impl->memory_info.reset(raw_memory);
  return std::unique_ptr<Embedder>(new Embedder(std::move(impl)));
}

Status Embedder::Embed(const float* input, int64_t num_images, float* output) const {
  if (num_images == 0) return Status::OK();
  return impl_->Run(input, num_images, impl_->info.output_name, impl_->info.output_dim, output);
}

Result<std::vector<float>> Embedder::RunOutput(const float* input, int64_t num_images,
                                               const std::string& output_name,
                                               int64_t* output_dim) const {
  OrtTypeInfo* raw_type = nullptr;
  for (size_t output_idx = 0; output_idx < impl_->info.output_names.size(); ++output_idx) {
    if (impl_->info.output_names[output_idx] != output_name) continue;
    ORCHARD_RETURN_NOT_OK(Check(
        Api().SessionGetOutputTypeInfo(impl_->session.get(), output_idx, &raw_type), "output"));
    TypeInfoPtr type(raw_type);
    ORCHARD_ASSIGN_OR_RAISE(auto shape, ReadShape(type.get(), "output " + output_name));
    if (shape.dims.size() != 2 || shape.dims[1] <= 0 || shape.dims[1] > kMaxOutputDim) {
      return Status::Invalid("output '", output_name, "' of model ", impl_->model_name, " is ",
                             ShapeText(shape.dims), ", not [N,D] with 1 <= D <= ", kMaxOutputDim);
    }
    *output_dim = shape.dims[1];
    std::vector<float> result;
    try {
      result.resize(static_cast<size_t>(num_images * shape.dims[1]));
    } catch (const std::bad_alloc&) {
      return Status::OutOfMemory("out of memory for output '", output_name, "' of ", num_images,
                                 " images of model ", impl_->model_name);
    }
    ORCHARD_RETURN_NOT_OK(impl_->Run(input, num_images, output_name, shape.dims[1], result.data()));
    return result;
  }
  return Status::KeyError("model has no output named '", output_name, "'");
}

}  // namespace orchard::model
