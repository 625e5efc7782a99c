// libFuzzer target over decode + preprocess: any bytes must give either a preprocessed
// image or an error Status, never a crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "orchard/image/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  orchard::image::PreprocessOptions options;
  options.width = 32;  // small output keeps iterations fast; decoding is what is fuzzed
  options.height = 32;
  options.max_pixels = 4096 * 4096;
  static std::vector<float> output(static_cast<size_t>(orchard::image::InputSize(options)));
  (void)orchard::image::ReadImageHeader(data, size);
  (void)orchard::image::DecodeAndPreprocess(data, size, options, output.data());
  return 0;
}
