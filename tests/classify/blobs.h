// Labelled rows for the classifier tests (classify/, jobs/): well-separated blobs.
#pragma once

#include <cstdint>
#include <random>
#include <string>

#include "orchard/table/tables.h"

namespace orchard::testing {

// `per_class` points around each of `num_classes` well-separated centres in `dim` dims.
inline table::VectorRows Blobs(int num_classes, int per_class, int dim, uint64_t seed,
                               float noise = 0.3f) {
  std::mt19937_64 generator(seed);
  std::normal_distribution<float> gaussian(0.0f, noise);
  table::VectorRows rows;
  rows.dim = dim;
  for (int point = 0; point < per_class; ++point) {
    for (int class_idx = 0; class_idx < num_classes; ++class_idx) {
      const std::string label = "class_" + std::to_string(class_idx);
      rows.paths.push_back(label + "/" + std::to_string(point) + ".jpg");
      rows.labels.push_back(label);
      for (int col = 0; col < dim; ++col) {
        // Centre: 5 on the class's own axis; a large offset on the last axis that
        // standardization must take care of.
        float centre = (col == class_idx % dim) ? 5.0f : 0.0f;
        if (col == dim - 1) centre += 1000.0f;
        rows.values.push_back(centre + gaussian(generator));
      }
    }
  }
  return rows;
}

}  // namespace orchard::testing
