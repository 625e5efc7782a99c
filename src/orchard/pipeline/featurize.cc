#include "orchard/pipeline/featurize.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <mutex>
#include <new>
#include <thread>

#include "orchard/pipeline/embed_bytes.h"
#include "orchard/pipeline/part_writer.h"
#include "orchard/pipeline/prep_stage.h"
#include "orchard/pipeline/reorder_window.h"
#include "orchard/util/start_thread.h"
#include "orchard/util/stopwatch.h"
#include "orchard/util/thread_pool.h"

namespace orchard::pipeline {
namespace {

using util::Clock;
using util::SecondsSince;

// The inference stage: embeds a prepared batch; an image the model fails on becomes an
// "embed" error row. Frees the input tensor before returning (before the caller blocks on
// the writer).
EmbeddedBatch InferenceStage(const model::Embedder& embedder, const std::vector<ImageItem>& items,
                             PreparedBatch batch, double* embed_seconds) {
  EmbeddedBatch embedded;
  embedded.batch_idx = batch.batch_idx;
  const auto count = static_cast<int64_t>(batch.item_indices.size());
  const auto embed_start = Clock::now();
  const std::vector<Status> statuses =
      EmbedWithRetry(embedder, batch.input.data(), count, &embedded.features);
  *embed_seconds += SecondsSince(embed_start);
  for (int64_t row = 0; row < count; ++row) {
    const int64_t item_idx = batch.item_indices[static_cast<size_t>(row)];
    if (statuses[static_cast<size_t>(row)].ok()) {
      embedded.item_indices.push_back(item_idx);
    } else {
      batch.errors.push_back({items[static_cast<size_t>(item_idx)].path, "embed",
                              statuses[static_cast<size_t>(row)].message()});
    }
  }
  embedded.errors = std::move(batch.errors);
  return embedded;  // `batch` (and its input tensor) is freed here
}

// PrepStage::Prepare, with a failed allocation of the batch (its input tensor, the bytes
// read) turned into an error naming the batch's first image: an exception must not leave a
// prep thread (std::terminate).
Result<PreparedBatch> PrepareOrOutOfMemory(const PrepStage& prep,
                                           const std::vector<ImageItem>& items, int64_t batch_idx,
                                           int64_t first, int64_t count, PrepTimes* times) {
  try {
    return prep.Prepare(batch_idx, first, count, times);
  } catch (const std::bad_alloc&) {
    return Status::OutOfMemory("out of memory preparing the batch of ", count, " images from '",
                               items[static_cast<size_t>(first)].path,
                               "'; lower -b/--batch-size or -j/--threads");
  }
}

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
  ORCHARD_RETURN_NOT_OK(CheckBatchFits(embedder, options.batch_size));
  const int64_t batch_size = options.batch_size;
  const int64_t rows_per_part = EffectiveRowsPerPart(options);
  const int64_t batches_per_part = rows_per_part / batch_size;
  const auto num_items = static_cast<int64_t>(items.size());
  const int64_t num_batches = (num_items + batch_size - 1) / batch_size;
  const int64_t input_size = embedder.input_size();
  const int64_t dim = embedder.info().output_dim;
  const image::PreprocessOptions preprocess = PreprocessFor(embedder, options.preprocess);

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
                             : (input_root.is_object_store ? kDefaultObjectStoreReads : 0);
  std::unique_ptr<ThreadPool> io_pool;
  if (io_threads > 0) {
    ORCHARD_ASSIGN_OR_RAISE(io_pool, ThreadPool::Make(io_threads));
  }

  FirstError first_error;
  // Two batches queued per prep thread keep the model busy without growing memory.
  ReorderWindow<PreparedBatch> window(2 * prep_threads + 1);
  std::atomic<int64_t> next_work{0};
  std::mutex stats_mutex;

  auto cancelled = [&] { return options.cancel != nullptr && options.cancel->load(); };
  // Records a fatal error and wakes every stage so that all threads wind down.
  auto fail = [&](const Status& status) {
    first_error.Set(status);
    window.Stop();
  };

  // Prep threads: read and decode batches, handed to inference in order through `window`.
  // Reads run ahead in the order the prep threads take the batches, across batches.
  std::vector<int64_t> read_order;
  if (io_pool != nullptr) {
    read_order.reserve(static_cast<size_t>(std::min(num_items, num_work * batch_size)));
    for (const int64_t batch_idx : work) {
      for (int64_t item_idx = batch_idx * batch_size;
           item_idx < std::min(num_items, (batch_idx + 1) * batch_size); ++item_idx) {
        read_order.push_back(item_idx);
      }
    }
  }
  const PrepStage prep(items, input_root, preprocess, input_size, io_pool.get(),
                       kDefaultReadAheadBytes * prep_threads, io_threads, std::move(read_order));
  auto prep_worker = [&] {
    PrepTimes times;
    for (;;) {
      const int64_t work_idx = next_work.fetch_add(1);
      if (work_idx >= num_work || first_error.failed()) break;
      if (!window.WaitForSlot(work_idx)) break;
      const int64_t batch_idx = work[static_cast<size_t>(work_idx)];
      const int64_t first = batch_idx * batch_size;
      auto batch = PrepareOrOutOfMemory(prep, items, batch_idx, first,
                                        std::min(batch_size, num_items - first), &times);
      if (!batch.ok()) {
        fail(batch.status());
        break;
      }
      if (first_error.failed()) break;
      window.Put(work_idx, std::move(*batch));
    }
    std::lock_guard lock(stats_mutex);
    stats.read_seconds += times.read_seconds;
    stats.decode_seconds += times.decode_seconds;
  };

  // Writer thread: batches arrive in order; PartWriter writes one part at a time.
  BoundedQueue<EmbeddedBatch> to_writer(4);
  PartWriterOptions writer_options;
  writer_options.dim = dim;
  writer_options.first_part_index = options.first_part_index;
  writer_options.compute_pca_stats = options.compute_pca_stats;
  writer_options.on_part_stats = options.on_part_stats;
  writer_options.on_error = options.on_error;
  PartWriter part_writer(items, features_dir, errors_dir, std::move(writer_options));
  auto writer = [&] {
    while (auto batch = to_writer.Pop()) {
      if (first_error.failed()) continue;  // drain
      const int64_t part_idx = batch->batch_idx / batches_per_part;
      Status status;
      try {
        status = part_writer.Add(part_idx, std::move(*batch));
      } catch (const std::bad_alloc&) {
        status = Status::OutOfMemory("out of memory writing part ", part_idx,
                                     " of the features; lower -b/--batch-size or -j/--threads");
      }
      if (!status.ok()) {
        fail(status);
        continue;
      }
      if (options.on_progress) {
        options.on_progress(part_writer.rows_done(), part_writer.rows_failed());
      }
    }
    if (!first_error.failed()) {
      if (Status status = part_writer.Finish(); !status.ok()) fail(status);
    }
  };

  // A stage thread the system refuses to create fails the run (fail() wakes the stages
  // that did start, and they are joined below): never std::terminate, never a stage
  // waiting for one that does not exist.
  std::vector<std::thread> prep_pool;
  for (int thread_idx = 0; thread_idx < prep_threads && !first_error.failed(); ++thread_idx) {
    auto thread = util::StartThread("image decoding", prep_worker);
    if (!thread.ok()) {
      fail(thread.status());
      break;
    }
    prep_pool.push_back(std::move(thread).ValueOrDie());
  }
  std::thread writer_thread;
  if (!first_error.failed()) {
    auto thread = util::StartThread("part writer", writer);
    if (thread.ok()) {
      writer_thread = std::move(thread).ValueOrDie();
    } else {
      fail(thread.status());
    }
  }

  // Inference runs on this thread, one batch at a time, in order.
  double embed_seconds = 0;
  for (int64_t work_idx = 0; work_idx < num_work && !first_error.failed(); ++work_idx) {
    if (cancelled()) {
      fail(Status::Cancelled("interrupted"));
      break;
    }
    auto batch = window.TakeNext();
    if (!batch || first_error.failed()) break;
    EmbeddedBatch embedded;
    try {
      embedded = InferenceStage(embedder, items, std::move(*batch), &embed_seconds);
    } catch (const std::bad_alloc&) {
      fail(Status::OutOfMemory(
          "out of memory embedding the batch of images from '",
          items[static_cast<size_t>(work[static_cast<size_t>(work_idx)] * batch_size)].path,
          "'; lower -b/--batch-size or -j/--threads"));
      break;
    }
    if (!to_writer.Push(std::move(embedded))) break;
  }
  if (first_error.failed()) window.Stop();
  for (auto& thread : prep_pool) thread.join();
  window.Stop();
  to_writer.Close();
  if (writer_thread.joinable()) writer_thread.join();
  stats.ok = part_writer.rows_done() - part_writer.rows_failed();
  stats.failed = part_writer.rows_failed();
  stats.write_seconds = part_writer.write_seconds();
  stats.parts_written = part_writer.parts_written();
  stats.pca = part_writer.pca();
  stats.embed_seconds = embed_seconds;
  stats.wall_seconds = SecondsSince(wall_start);
  if (first_error.failed()) return first_error.status();
  return stats;
}

}  // namespace orchard::pipeline
