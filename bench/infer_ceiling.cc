// The inference ceiling: ONNX Runtime alone on pre-decoded, pre-resized tensors, through
// the same Embedder (same model, session options, batch size and threads) that `orchard
// run` uses. No decoding, no I/O, no writing: the most the pipeline could reach.
//
// Usage: orchard_infer_ceiling [--model PATH] [--images N] [--batch-size B] [--threads T]
//                              [--spin 0|1]
// Prints one JSON line: {"images":N,"seconds":S,"images_per_second":R,...}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "orchard/model/embedder.h"

int main(int argc, char** argv) {
  std::string model_path = ORCHARD_DEFAULT_MODEL;
  int64_t images = 512;
  int64_t batch_size = 32;
  int threads = 0;
  bool spin = false;
  for (int arg = 1; arg + 1 < argc; arg += 2) {
    const std::string flag = argv[arg];
    const char* value = argv[arg + 1];
    if (flag == "--model")
      model_path = value;
    else if (flag == "--images")
      images = std::atoll(value);
    else if (flag == "--batch-size")
      batch_size = std::atoll(value);
    else if (flag == "--threads")
      threads = std::atoi(value);
    else if (flag == "--spin")
      spin = std::atoi(value) != 0;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::ifstream file(model_path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  orchard::model::EmbedderOptions options;
  options.intra_op_threads = threads;
  options.allow_spinning = spin;
  auto made = orchard::model::Embedder::Make(bytes.str(), options);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().ToString().c_str());
    return 1;
  }
  const auto& embedder = **made;
  std::vector<float> input(static_cast<size_t>(batch_size * embedder.input_size()));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(-1.f, 1.f);
  for (auto& value : input) value = uniform(rng);
  std::vector<float> output(static_cast<size_t>(batch_size * embedder.info().output_dim));
  // One warm-up batch: first-run allocations are not part of the steady state.
  if (!embedder.Embed(input.data(), batch_size, output.data()).ok()) return 1;
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  while (done < images) {
    const int64_t count = std::min(batch_size, images - done);
    const auto status = embedder.Embed(input.data(), count, output.data());
    if (!status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
    done += count;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf(
      "{\"images\": %lld, \"batch_size\": %lld, \"threads\": %d, \"seconds\": %.3f, "
      "\"images_per_second\": %.2f}\n",
      static_cast<long long>(done), static_cast<long long>(batch_size), threads, seconds,
      static_cast<double>(done) / seconds);
  return 0;
}
