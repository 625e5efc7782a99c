#include "orchard/pipeline/embed_bytes.h"

#include <algorithm>
#include <thread>

#include "orchard/pipeline/prep_stage.h"

namespace orchard::pipeline {

std::vector<Status> EmbedWithRetry(const model::Embedder& embedder, const float* input,
                                   int64_t count, std::vector<float>* features) {
  const int64_t dim = embedder.info().output_dim;
  std::vector<Status> statuses(static_cast<size_t>(count));
  if (count == 0) return statuses;
  const size_t before = features->size();
  features->resize(before + static_cast<size_t>(count * dim));
  const Status status = embedder.Embed(input, count, features->data() + before);
  if (status.ok()) return statuses;
  // One bad batch must not sink the others: retry image by image.
  features->resize(before);
  std::vector<float> single(static_cast<size_t>(dim));
  for (int64_t row = 0; row < count; ++row) {
    statuses[static_cast<size_t>(row)] =
        embedder.Embed(input + row * embedder.input_size(), 1, single.data());
    if (statuses[static_cast<size_t>(row)].ok()) {
      features->insert(features->end(), single.begin(), single.end());
    }
  }
  return statuses;
}

Result<EmbedBytesResult> EmbedEncodedImages(const std::vector<EncodedImage>& images,
                                            const model::Embedder& embedder,
                                            const EmbedBytesOptions& options) {
  if (options.batch_size < 1) return Status::Invalid("batch size must be at least 1");
  if (options.decode_threads < 1) return Status::Invalid("decode threads must be at least 1");
  const int64_t input_size = embedder.input_size();
  const int64_t dim = embedder.info().output_dim;
  const image::PreprocessOptions preprocess = PreprocessFor(embedder, options.preprocess);

  EmbedBytesResult result;
  result.dim = dim;
  const auto num_images = static_cast<int64_t>(images.size());
  const int64_t batch_size = options.batch_size;
  std::vector<float> input;
  std::vector<Status> decoded;
  for (int64_t first = 0; first < num_images; first += batch_size) {
    const int64_t count = std::min(batch_size, num_images - first);
    // Each image decodes into its own slot; failed slots are squeezed out below.
    input.assign(static_cast<size_t>(count * input_size), 0.0f);
    decoded.assign(static_cast<size_t>(count), Status::OK());
    auto decode_range = [&](int64_t begin, int64_t end) {
      for (int64_t offset = begin; offset < end; ++offset) {
        const auto& encoded = images[static_cast<size_t>(first + offset)];
        decoded[static_cast<size_t>(offset)] = image::DecodeAndPreprocess(
            encoded.data, encoded.size, preprocess, input.data() + offset * input_size);
      }
    };
    const int64_t threads = std::min<int64_t>(options.decode_threads, count);
    if (threads <= 1) {
      decode_range(0, count);
    } else {
      std::vector<std::thread> pool;
      const int64_t per_thread = (count + threads - 1) / threads;
      for (int64_t begin = 0; begin < count; begin += per_thread) {
        pool.emplace_back(decode_range, begin, std::min(count, begin + per_thread));
      }
      for (auto& thread : pool) thread.join();
    }

    std::vector<int64_t> batch_ok;
    for (int64_t offset = 0; offset < count; ++offset) {
      const Status& status = decoded[static_cast<size_t>(offset)];
      if (!status.ok()) {
        result.errors.push_back({first + offset, "decode", status.message()});
        continue;
      }
      if (offset != static_cast<int64_t>(batch_ok.size())) {
        std::copy_n(input.begin() + offset * input_size, input_size,
                    input.begin() + static_cast<int64_t>(batch_ok.size()) * input_size);
      }
      batch_ok.push_back(first + offset);
    }
    if (batch_ok.empty()) continue;

    const std::vector<Status> embedded = EmbedWithRetry(
        embedder, input.data(), static_cast<int64_t>(batch_ok.size()), &result.features);
    for (size_t row = 0; row < batch_ok.size(); ++row) {
      if (embedded[row].ok()) {
        result.ok_indices.push_back(batch_ok[row]);
      } else {
        result.errors.push_back({batch_ok[row], "embed", embedded[row].message()});
      }
    }
  }
  std::sort(result.errors.begin(), result.errors.end(),
            [](const EmbedError& a, const EmbedError& b) { return a.index < b.index; });
  return result;
}

}  // namespace orchard::pipeline
