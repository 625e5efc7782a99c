#include "orchard/pipeline/featurize.h"

#include <arrow/buffer.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "orchard/pipeline/embed_bytes.h"
#include "orchard/util/thread_pool.h"

namespace orchard::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Keeps the first fatal error of any thread; everyone polls failed() to stop early.
class FirstError {
 public:
  void Set(const Status& status) {
    std::lock_guard lock(mutex_);
    if (status_.ok()) status_ = status;
    failed_ = true;
  }
  bool failed() const { return failed_.load(); }
  Status status() const {
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  mutable std::mutex mutex_;
  Status status_;
  std::atomic<bool> failed_{false};
};

// A batch of decoded images, ready for the model.
struct PreparedBatch {
  int64_t batch_idx = 0;
  std::vector<int64_t> item_indices;  // images that decoded, in order
  std::vector<float> input;           // item_indices.size() x input_size
  std::vector<table::ErrorRecord> errors;
};

// A batch after the model.
struct EmbeddedBatch {
  int64_t batch_idx = 0;
  std::vector<int64_t> item_indices;
  std::vector<float> features;
  std::vector<table::ErrorRecord> errors;
};

// Hands prepared batches to the inference thread in order, and bounds how far the prep
// threads may run ahead (the memory bound of the pipeline).
class ReorderWindow {
 public:
  explicit ReorderWindow(int64_t capacity) : capacity_(capacity) {}

  // Blocks until work item `work_idx` may start (it is within the window of the
  // consumer). Returns false when the pipeline is stopping.
  bool WaitForSlot(int64_t work_idx) {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return stopping_ || work_idx < consumed_ + capacity_; });
    return !stopping_;
  }

  void Put(int64_t work_idx, PreparedBatch batch) {
    std::lock_guard lock(mutex_);
    ready_.emplace(work_idx, std::move(batch));
    cv_.notify_all();
  }

  // Waits for the next work item in order; nullopt when stopping.
  std::optional<PreparedBatch> TakeNext() {
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [&] { return stopping_ || ready_.count(consumed_) > 0; });
    if (stopping_) return std::nullopt;
    auto node = ready_.extract(consumed_);
    ++consumed_;
    cv_.notify_all();
    return std::move(node.mapped());
  }

  void Stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    cv_.notify_all();
  }

 private:
  const int64_t capacity_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<int64_t, PreparedBatch> ready_;
  int64_t consumed_ = 0;
  bool stopping_ = false;
};

}  // namespace

int64_t EffectiveRowsPerPart(const FeaturizeOptions& options) {
  const int64_t batch = std::max(1, options.batch_size);
  const int64_t rows = std::max<int64_t>(options.rows_per_part, batch);
  return (rows + batch - 1) / batch * batch;
}

Result<FeaturizeStats> Featurize(const std::vector<ImageItem>& items,
                                 const io::Location& input_root, const model::Embedder& embedder,
                                 const io::Location& features_dir, const io::Location& errors_dir,
                                 const std::set<int64_t>& skip_parts,
                                 const FeaturizeOptions& options) {
  const auto wall_start = Clock::now();
  if (options.batch_size < 1) return Status::Invalid("batch size must be at least 1");
  const int64_t batch_size = options.batch_size;
  const int64_t rows_per_part = EffectiveRowsPerPart(options);
  const int64_t batches_per_part = rows_per_part / batch_size;
  const auto num_items = static_cast<int64_t>(items.size());
  const int64_t num_batches = (num_items + batch_size - 1) / batch_size;
  const int64_t input_size = embedder.input_size();
  const int64_t dim = embedder.info().output_dim;
  image::PreprocessOptions preprocess = options.preprocess;
  preprocess.width = static_cast<int>(embedder.info().width);
  preprocess.height = static_cast<int>(embedder.info().height);

  FeaturizeStats stats;
  stats.dim = dim;
  // The batches to compute, in order; batches of reused parts are left out.
  std::vector<int64_t> work;
  for (int64_t batch_idx = 0; batch_idx < num_batches; ++batch_idx) {
    const int64_t part_idx = batch_idx / batches_per_part;
    if (skip_parts.count(part_idx) > 0) continue;
    work.push_back(batch_idx);
  }
  for (int64_t part_idx : skip_parts) {
    const int64_t first = part_idx * rows_per_part;
    if (first >= num_items) continue;
    ++stats.parts_reused;
    stats.images_reused += std::min(num_items, first + rows_per_part) - first;
  }
  const auto num_work = static_cast<int64_t>(work.size());
  stats.images = num_items - stats.images_reused;

  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int prep_threads = options.prep_threads > 0 ? options.prep_threads : std::max(1, cores / 2);
  const int io_threads = options.io_threads > 0
                             ? options.io_threads
                             : (input_root.is_object_store ? 16 : 0);  // 0: read inline
  std::unique_ptr<ThreadPool> io_pool;
  if (io_threads > 0) io_pool = std::make_unique<ThreadPool>(io_threads);

  FirstError first_error;
  // Two batches queued per prep thread keep the model busy without growing memory.
  ReorderWindow window(2 * prep_threads + 1);
  std::atomic<int64_t> next_work{0};
  std::mutex stats_mutex;

  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->load(); };
  // Records a fatal error and wakes every stage so that all threads wind down.
  auto fail = [&](const Status& status) {
    first_error.Set(status);
    window.Stop();
  };

  auto prep_worker = [&] {
    double read_seconds = 0;
    double decode_seconds = 0;
    for (;;) {
      const int64_t work_idx = next_work.fetch_add(1);
      if (work_idx >= num_work || first_error.failed()) break;
      if (!window.WaitForSlot(work_idx)) break;
      const int64_t batch_idx = work[static_cast<size_t>(work_idx)];
      const int64_t first = batch_idx * batch_size;
      const int64_t count = std::min(batch_size, num_items - first);
      PreparedBatch batch;
      batch.batch_idx = batch_idx;
      batch.input.resize(static_cast<size_t>(count * input_size));
      // Start every read of the batch at once, so object-store latency overlaps.
      auto read_start = Clock::now();
      std::vector<std::future<Result<std::shared_ptr<arrow::Buffer>>>> reads;
      std::vector<Result<std::shared_ptr<arrow::Buffer>>> inline_reads;
      for (int64_t offset = 0; offset < count; ++offset) {
        const io::Location location =
            input_root.Child(items[static_cast<size_t>(first + offset)].source);
        if (io_pool) {
          reads.push_back(io_pool->Submit([location] { return io::ReadAll(location); }));
        } else {
          inline_reads.push_back(io::ReadAll(location));
        }
      }
      for (int64_t offset = 0; offset < count; ++offset) {
        const auto item_idx = first + offset;
        const auto& item = items[static_cast<size_t>(item_idx)];
        read_start = Clock::now();
        Result<std::shared_ptr<arrow::Buffer>> bytes =
            io_pool ? reads[static_cast<size_t>(offset)].get()
                    : std::move(inline_reads[static_cast<size_t>(offset)]);
        read_seconds += SecondsSince(read_start);
        if (!bytes.ok()) {
          // An object store that still fails after its retries is down or refusing us:
          // stop rather than record every remaining image as an error.
          if (input_root.is_object_store) {
            fail(Status::IOError("reading '", input_root.Child(item.path).display,
                                 "' failed after retries: ", bytes.status().message(),
                                 ". Fix access to the store and re-run with --resume"));
            break;
          }
          batch.errors.push_back({item.path, "read", bytes.status().message()});
          continue;
        }
        const auto decode_start = Clock::now();
        float* slot =
            batch.input.data() + batch.item_indices.size() * static_cast<size_t>(input_size);
        const Status decoded = image::DecodeAndPreprocess(
            (*bytes)->data(), static_cast<size_t>((*bytes)->size()), preprocess, slot);
        decode_seconds += SecondsSince(decode_start);
        if (!decoded.ok()) {
          batch.errors.push_back({item.path, "decode", decoded.message()});
          continue;
        }
        batch.item_indices.push_back(item_idx);
      }
      if (first_error.failed()) break;
      batch.input.resize(batch.item_indices.size() * static_cast<size_t>(input_size));
      window.Put(work_idx, std::move(batch));
    }
    std::lock_guard lock(stats_mutex);
    stats.read_seconds += read_seconds;
    stats.decode_seconds += decode_seconds;
  };

  // Writer: collects the rows of one part, then writes its features and errors files.
  BoundedQueue<EmbeddedBatch> to_writer(4);
  auto writer = [&] {
    table::VectorRows part_rows;
    part_rows.dim = dim;
    std::vector<table::ErrorRecord> part_errors;
    int64_t current_part = -1;
    int64_t done = 0;
    int64_t failed = 0;
    auto flush_part = [&]() -> Status {
      if (current_part < 0) return Status::OK();
      const auto write_start = Clock::now();
      const std::string name = table::PartName(options.first_part_index + current_part);
      if (!part_errors.empty()) {
        ORCHARD_ASSIGN_OR_RAISE(auto errors, table::MakeErrorsBatch(part_errors));
        ORCHARD_RETURN_NOT_OK(table::WriteParquet(errors_dir.Child(name), *errors));
      }
      // The features file last: its presence says the part is complete.
      ORCHARD_ASSIGN_OR_RAISE(auto features,
                              table::MakeVectorBatch(table::kFeaturesColumn, part_rows));
      ORCHARD_RETURN_NOT_OK(table::WriteParquet(features_dir.Child(name), *features));
      const double write_seconds = SecondsSince(write_start);
      if (options.compute_pca_stats && part_rows.num_rows() > 0) {
        pca::PcaStats part_stats(dim);
        part_stats.Add(part_rows.values.data(), part_rows.num_rows());
        ORCHARD_RETURN_NOT_OK(stats.pca.Merge(part_stats));
      }
      part_rows = table::VectorRows{};
      part_rows.dim = dim;
      part_errors.clear();
      std::lock_guard lock(stats_mutex);
      stats.write_seconds += write_seconds;
      ++stats.parts_written;
      return Status::OK();
    };
    while (auto batch = to_writer.Pop()) {
      if (first_error.failed()) continue;  // drain
      const int64_t part_idx = batch->batch_idx / batches_per_part;
      if (part_idx != current_part) {
        if (Status status = flush_part(); !status.ok()) {
          fail(status);
          continue;
        }
        current_part = part_idx;
      }
      for (size_t row = 0; row < batch->item_indices.size(); ++row) {
        const auto& item = items[static_cast<size_t>(batch->item_indices[row])];
        part_rows.paths.push_back(item.path);
        part_rows.labels.push_back(item.label);
      }
      part_rows.values.insert(part_rows.values.end(), batch->features.begin(),
                              batch->features.end());
      for (auto& error : batch->errors) {
        if (options.on_error) options.on_error(error);
        part_errors.push_back(std::move(error));
      }
      done += static_cast<int64_t>(batch->item_indices.size() + batch->errors.size());
      failed += static_cast<int64_t>(batch->errors.size());
      if (options.on_progress) options.on_progress(done, failed);
    }
    if (!first_error.failed()) {
      if (Status status = flush_part(); !status.ok()) fail(status);
    }
    std::lock_guard lock(stats_mutex);
    stats.ok = done - failed;
    stats.failed = failed;
  };

  std::vector<std::thread> prep_pool;
  for (int thread_idx = 0; thread_idx < prep_threads; ++thread_idx) {
    prep_pool.emplace_back(prep_worker);
  }
  std::thread writer_thread(writer);

  // Inference runs on this thread, one batch at a time, in order.
  double embed_seconds = 0;
  for (int64_t work_idx = 0; work_idx < num_work; ++work_idx) {
    if (cancelled()) {
      fail(Status::Cancelled("interrupted"));
      break;
    }
    auto batch = window.TakeNext();
    if (!batch || first_error.failed()) break;
    EmbeddedBatch embedded;
    embedded.batch_idx = batch->batch_idx;
    const auto count = static_cast<int64_t>(batch->item_indices.size());
    const auto embed_start = Clock::now();
    const std::vector<Status> statuses =
        EmbedWithRetry(embedder, batch->input.data(), count, &embedded.features);
    embed_seconds += SecondsSince(embed_start);
    std::vector<int64_t> kept;
    for (int64_t row = 0; row < count; ++row) {
      const int64_t item_idx = batch->item_indices[static_cast<size_t>(row)];
      if (statuses[static_cast<size_t>(row)].ok()) {
        kept.push_back(item_idx);
      } else {
        batch->errors.push_back({items[static_cast<size_t>(item_idx)].path, "embed",
                                 statuses[static_cast<size_t>(row)].message()});
      }
    }
    batch->item_indices = std::move(kept);
    embedded.item_indices = std::move(batch->item_indices);
    embedded.errors = std::move(batch->errors);
    batch->input = {};  // free the input tensor before blocking on the writer
    if (!to_writer.Push(std::move(embedded))) break;
  }
  if (first_error.failed()) window.Stop();
  for (auto& thread : prep_pool) thread.join();
  window.Stop();
  to_writer.Close();
  writer_thread.join();
  stats.embed_seconds = embed_seconds;
  stats.wall_seconds = SecondsSince(wall_start);
  if (first_error.failed()) return first_error.status();
  return stats;
}

}  // namespace orchard::pipeline
