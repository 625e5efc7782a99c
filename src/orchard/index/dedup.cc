#include "orchard/index/dedup.h"

#include <algorithm>
#include <numeric>

namespace orchard::index {
namespace {

// Union-find with path halving; the root of a set is its smallest row, so the
// representative of a group needs no second pass.
class DisjointRows {
 public:
  explicit DisjointRows(int64_t rows) : parent_(static_cast<size_t>(rows)) {
    std::iota(parent_.begin(), parent_.end(), int64_t{0});
  }
  int64_t Find(int64_t row) {
    while (parent_[static_cast<size_t>(row)] != row) {
      auto& parent = parent_[static_cast<size_t>(row)];
      parent = parent_[static_cast<size_t>(parent)];
      row = parent;
    }
    return row;
  }
  void Join(int64_t a, int64_t b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return;
    if (b < a) std::swap(a, b);
    parent_[static_cast<size_t>(b)] = a;
  }

 private:
  std::vector<int64_t> parent_;
};

}  // namespace

float CosineDistance(const float* a, const float* b, int64_t dim) {
  double dot = 0;
  for (int64_t idx = 0; idx < dim; ++idx) dot += double{a[idx]} * b[idx];
  return static_cast<float>(std::clamp(1.0 - dot, 0.0, 2.0));
}

std::vector<DuplicateMember> GroupDuplicates(const Neighbours& neighbours, const float* unit_values,
                                             int64_t dim, double threshold) {
  const int64_t rows = neighbours.queries;
  DisjointRows sets(rows);
  std::vector<bool> joined(static_cast<size_t>(rows), false);
  for (int64_t row = 0; row < rows; ++row) {
    for (int64_t rank = 0; rank < neighbours.k; ++rank) {
      const size_t at = static_cast<size_t>(row * neighbours.k + rank);
      const int64_t other = neighbours.ids[at];
      if (other < 0 || other >= rows || other == row) continue;
      if (neighbours.distances[at] > threshold) break;  // ascending: the rest are farther
      sets.Join(row, other);
      joined[static_cast<size_t>(row)] = true;
      joined[static_cast<size_t>(other)] = true;
    }
  }
  // Rows by group root, then row: the root (smallest row) comes first in its group.
  std::vector<std::pair<int64_t, int64_t>> members;  // (root, row)
  for (int64_t row = 0; row < rows; ++row) {
    if (joined[static_cast<size_t>(row)]) members.emplace_back(sets.Find(row), row);
  }
  std::sort(members.begin(), members.end());
  std::vector<DuplicateMember> out;
  out.reserve(members.size());
  int64_t group = -1;
  int64_t current_root = -1;
  for (const auto& [root, row] : members) {
    if (root != current_root) {
      ++group;
      current_root = root;
    }
    DuplicateMember member;
    member.group = group;
    member.row = row;
    member.representative = row == root;
    member.distance = member.representative
                          ? 0.0f
                          : CosineDistance(unit_values + row * dim, unit_values + root * dim, dim);
    out.push_back(member);
  }
  return out;
}

}  // namespace orchard::index
