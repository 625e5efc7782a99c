#include "orchard/pipeline/embed_bytes.h"

#include <algorithm>
#include <cmath>
#include <new>
#include <string>
#include <thread>

#include "orchard/pipeline/prep_stage.h"
#include "orchard/util/start_thread.h"

namespace orchard::pipeline {

Status CheckBatchFits(const model::Embedder& embedder, int64_t batch_size) {
  const int64_t image_bytes = embedder.input_size() * static_cast<int64_t>(sizeof(float));
  const int64_t largest = std::max<int64_t>(1, kMaxBatchInputBytes / image_bytes);
  if (batch_size <= largest) return Status::OK();
  return Status::Invalid("a batch of ", batch_size, " images of model ", embedder.info().model_name,
                         "'s input [", embedder.info().channels, ",", embedder.info().height, ",",
                         embedder.info().width, "] needs ", batch_size * image_bytes >> 20,
                         " MiB, more than orchard's bound of ", kMaxBatchInputBytes >> 20,
                         " MiB per batch: use -b/--batch-size ", largest, " or less");
}

namespace {

// Why a row of embeddings is not usable, or OK: NaN and infinities would poison the PCA
// statistics (and every component) of the whole run, so they are this image's error.
Status CheckFinite(const float* row, int64_t dim, const std::string& output_name) {
  int64_t nan_count = 0, infinite_count = 0, first_bad = -1;
  for (int64_t col = 0; col < dim; ++col) {
    if (std::isfinite(row[col])) continue;
    if (std::isnan(row[col])) {
      ++nan_count;
    } else {
      ++infinite_count;
    }
    if (first_bad < 0) first_bad = col;
  }
  if (first_bad < 0) return Status::OK();
  return Status::Invalid("the model's output '", output_name,
                         "' is not finite for this image: ", nan_count, " NaN and ", infinite_count,
                         " infinite of ", dim, " values (the first at index ", first_bad, ")");
}

std::vector<Status> EmbedRows(const model::Embedder& embedder, const float* input, int64_t count,
                              std::vector<float>* features) {
  const int64_t dim = embedder.info().output_dim;
  const std::string& output_name = embedder.info().output_name;
  std::vector<Status> statuses(static_cast<size_t>(count));
  if (count == 0) return statuses;
  const size_t before = features->size();
  features->resize(before + static_cast<size_t>(count * dim));
  Status status = embedder.Embed(input, count, features->data() + before);
  if (status.ok()) {
    // Keep the finite rows, in order, squeezing out the others.
    size_t kept = before;
    for (int64_t row = 0; row < count; ++row) {
      const float* values = features->data() + before + static_cast<size_t>(row * dim);
      statuses[static_cast<size_t>(row)] = CheckFinite(values, dim, output_name);
      if (!statuses[static_cast<size_t>(row)].ok()) continue;
      if (values != features->data() + kept) std::copy_n(values, dim, features->data() + kept);
      kept += static_cast<size_t>(dim);
    }
    features->resize(kept);
    return statuses;
  }
  // One bad batch must not sink the others: retry image by image.
  features->resize(before);
  std::vector<float> single(static_cast<size_t>(dim));
  for (int64_t row = 0; row < count; ++row) {
    Status& row_status = statuses[static_cast<size_t>(row)];
    row_status = embedder.Embed(input + row * embedder.input_size(), 1, single.data());
    if (row_status.ok()) row_status = CheckFinite(single.data(), dim, output_name);
    if (row_status.ok()) features->insert(features->end(), single.begin(), single.end());
  }
  return statuses;
}

}  // namespace

std::vector<Status> EmbedWithRetry(const model::Embedder& embedder, const float* input,
                                   int64_t count, std::vector<float>* features) {
  const size_t before = features->size();
  try {
    return EmbedRows(embedder, input, count, features);
  } catch (const std::bad_alloc&) {
    // The output buffers of this call: every image of it fails, the run goes on.
    features->resize(before);
    return std::vector<Status>(
        static_cast<size_t>(count),
        Status::OutOfMemory("out of memory for the model's output of ", count, " images of ",
                            embedder.info().output_dim, " values; lower -b/--batch-size"));
  }
}

Result<EmbedBytesResult> EmbedEncodedImages(const std::vector<EncodedImage>& images,
                                            const model::Embedder& embedder,
                                            const EmbedBytesOptions& options) {
  if (options.batch_size < 1) return Status::Invalid("batch size must be at least 1");
  if (options.decode_threads < 1) return Status::Invalid("decode threads must be at least 1");
  ORCHARD_RETURN_NOT_OK(CheckBatchFits(embedder, options.batch_size));
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
      Status started;
      for (int64_t begin = 0; begin < count && started.ok(); begin += per_thread) {
        const int64_t end = std::min(count, begin + per_thread);
        auto thread =
            util::StartThread("image decoding", [&, begin, end] { decode_range(begin, end); });
        if (thread.ok()) {
          pool.push_back(std::move(thread).ValueOrDie());
        } else {
          started = thread.status();
        }
      }
      for (auto& thread : pool) thread.join();
      ORCHARD_RETURN_NOT_OK(started);
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
