// PCA from mergeable float64 statistics: n, sum(x), sum(x x^T). Statistics of any split
// of the rows (threads, Spark partitions, machines) merge to the statistics of the whole,
// which is what makes the fit distributed.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "orchard/util/status.h"

namespace orchard::pca {

/// Running statistics of D-dimensional rows. Not thread-safe: give each thread its own
/// and Merge() them.
class PcaStats {
 public:
  explicit PcaStats(int64_t dim = 0);

  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  /// sum(x), length dim.
  const std::vector<double>& sum() const { return sum_; }
  /// sum(x x^T), dim*dim; only the lower triangle in column-major order (= the upper
  /// triangle in row-major order) is kept up to date.
  const std::vector<double>& cross() const { return cross_; }

  /// Adds `num_rows` rows of `dim` floats (row-major, contiguous).
  void Add(const float* rows, int64_t num_rows);

  /// Adds another statistics object of the same dimension.
  Status Merge(const PcaStats& other);

  /// A portable little-endian encoding (for Spark shuffles and files), and back.
  std::string Serialize() const;
  static Result<PcaStats> Deserialize(const std::string& bytes);

 private:
  int64_t dim_ = 0;
  int64_t count_ = 0;
  std::vector<double> sum_;
  std::vector<double> cross_;
};

/// How many components to keep: a fixed k when k > 0, else the fewest components whose
/// cumulative explained-variance ratio reaches `variance_threshold`.
struct PcaFitOptions {
  double variance_threshold = 0.99;
  int64_t k = 0;
};

/// A fitted PCA. Components are unit vectors, sorted by decreasing variance; each is
/// signed so that its largest-magnitude coordinate is positive (deterministic across
/// runs and engines).
struct PcaModel {
  int64_t dim = 0;
  int64_t count = 0;
  int64_t k = 0;
  double variance_threshold = 0;
  std::vector<double> mean;                      // dim
  std::vector<double> components;                // k x dim, row-major
  std::vector<double> explained_variance;        // every eigenvalue, decreasing (dim)
  std::vector<double> explained_variance_ratio;  // every ratio, decreasing (dim)

  /// Writes k floats per row: (x - mean) . component_i.
  void Project(const float* rows, int64_t num_rows, float* out) const;

  double CumulativeRatio(int64_t num_components) const;
};

/// Fits from statistics. Fails when there are fewer than 2 rows, the options are out of
/// range (a fixed k larger than the dimension is an error), or the statistics are not
/// finite (a NaN or infinite feature value: the message says so, not a LAPACK code).
Result<PcaModel> FitPca(const PcaStats& stats, const PcaFitOptions& options);

}  // namespace orchard::pca
