// Near-duplicate groups from a k-nearest-neighbour graph (issue 25): never all pairs.
// Each row is joined to those of its k neighbours within the threshold; the groups are
// the connected components of two or more rows.
#pragma once

#include <cstdint>
#include <vector>

#include "orchard/index/vector_index.h"

namespace orchard::index {

/// The cosine distance under which two images are near-duplicates by default: on
/// MobileNetV2 features, copies re-encoded at JPEG quality 90, resized to 90 % or cropped
/// by 3 % stay below 0.03 on the sample; distinct frames of one rotating fruit start near
/// 0.06 (docs/decisions.md "Index, search, dedup").
inline constexpr double kDefaultDuplicateDistance = 0.05;
/// Neighbours looked at per row by dedup.
inline constexpr int64_t kDedupNeighbours = 10;

struct DuplicateMember {
  int64_t group = 0;   ///< 0, 1, ... in the order of their representatives
  int64_t row = 0;     ///< of the vectors grouped
  float distance = 0;  ///< cosine distance to the group's representative
  bool representative = false;
};

/// The members of every group, group by group, the representative (the group's smallest
/// row) first, then by row. `neighbours` holds rows' own neighbours (queries == rows of
/// `unit_values`); a neighbour that is the row itself is ignored.
std::vector<DuplicateMember> GroupDuplicates(const Neighbours& neighbours, const float* unit_values,
                                             int64_t dim, double threshold);

/// Cosine distance of two unit vectors, in [0, 2].
float CosineDistance(const float* a, const float* b, int64_t dim);

}  // namespace orchard::index
