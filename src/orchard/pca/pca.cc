#include "orchard/pca/pca.h"

#include <cblas.h>
#include <lapacke.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstring>

namespace orchard::pca {
namespace {

// Version 2: only the lower triangle of sum(x x^T) (all that Add writes and the fit reads),
// half the bytes of the full matrix: 6.6 MB instead of 13 at 1,280 dimensions, which every
// Spark task sends back with its outcome.
constexpr char kMagic[8] = {'O', 'R', 'C', 'H', 'P', 'C', 'A', '2'};

// Doubles of the lower triangle of a dim x dim matrix, diagonal included.
size_t TriangleSize(int64_t dim) { return static_cast<size_t>(dim * (dim + 1) / 2); }
// Rows converted to float64 per rank update; bounds the temporary to 1024 x dim doubles.
constexpr int64_t kRowsPerUpdate = 1024;

using RowMatrixD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

void AppendBytes(std::string* out, const void* data, size_t size) {
  out->append(static_cast<const char*>(data), size);
}

}  // namespace

PcaStats::PcaStats(int64_t dim)
    : dim_(dim), sum_(static_cast<size_t>(dim), 0.0), cross_(static_cast<size_t>(dim * dim), 0.0) {}

void PcaStats::Add(const float* rows, int64_t num_rows) {
  if (num_rows <= 0 || dim_ == 0) return;
  Eigen::Map<Eigen::VectorXd> sum(sum_.data(), dim_);
  // Blocks of rows are widened to float64 and folded in with BLAS dsyrk, which updates
  // only the lower triangle (column-major) of sum(x x^T): half the work of a full GEMM.
  std::vector<double> block(static_cast<size_t>(std::min(kRowsPerUpdate, num_rows) * dim_));
  for (int64_t start = 0; start < num_rows; start += kRowsPerUpdate) {
    const int64_t count = std::min(kRowsPerUpdate, num_rows - start);
    const float* source = rows + start * dim_;
    std::copy(source, source + count * dim_, block.begin());
    Eigen::Map<const RowMatrixD> block_map(block.data(), count, dim_);
    sum += block_map.colwise().sum().transpose();
    // Row-major count x dim is column-major dim x count: cross += B B^T.
    cblas_dsyrk(CblasColMajor, CblasLower, CblasNoTrans, static_cast<int>(dim_),
                static_cast<int>(count), 1.0, block.data(), static_cast<int>(dim_), 1.0,
                cross_.data(), static_cast<int>(dim_));
  }
  count_ += num_rows;
}

Status PcaStats::Merge(const PcaStats& other) {
  if (other.count_ == 0) return Status::OK();
  if (count_ == 0 && dim_ == 0) {
    *this = other;
    return Status::OK();
  }
  if (other.dim_ != dim_) {
    return Status::Invalid("cannot merge PCA statistics of dimension ", other.dim_, " into ", dim_);
  }
  count_ += other.count_;
  for (size_t idx = 0; idx < sum_.size(); ++idx) sum_[idx] += other.sum_[idx];
  for (size_t idx = 0; idx < cross_.size(); ++idx) cross_[idx] += other.cross_[idx];
  return Status::OK();
}

std::string PcaStats::Serialize() const {
  static_assert(sizeof(double) == 8);
  std::string out;
  out.reserve(sizeof(kMagic) + 16 + 8 * (sum_.size() + TriangleSize(dim_)));
  AppendBytes(&out, kMagic, sizeof(kMagic));
  AppendBytes(&out, &dim_, sizeof(dim_));
  AppendBytes(&out, &count_, sizeof(count_));
  AppendBytes(&out, sum_.data(), sum_.size() * sizeof(double));
  // Column-major lower triangle: column j from row j down is contiguous.
  for (int64_t col = 0; col < dim_; ++col) {
    AppendBytes(&out, cross_.data() + col * dim_ + col,
                static_cast<size_t>(dim_ - col) * sizeof(double));
  }
  return out;
}

Result<PcaStats> PcaStats::Deserialize(const std::string& bytes) {
  if (bytes.size() < sizeof(kMagic) + 16 || std::memcmp(bytes.data(), kMagic, sizeof(kMagic))) {
    return Status::Invalid("not serialized PCA statistics (bad header)");
  }
  int64_t dim = 0;
  int64_t count = 0;
  std::memcpy(&dim, bytes.data() + 8, 8);
  std::memcpy(&count, bytes.data() + 16, 8);
  if (dim < 0 || dim > (1 << 16) ||
      bytes.size() != 24 + 8 * (static_cast<size_t>(dim) + TriangleSize(dim))) {
    return Status::Invalid("serialized PCA statistics have a bad size");
  }
  if (count < 0) return Status::Invalid("serialized PCA statistics have a negative row count");
  PcaStats stats(dim);
  stats.count_ = count;
  std::memcpy(stats.sum_.data(), bytes.data() + 24, 8 * static_cast<size_t>(dim));
  const char* triangle = bytes.data() + 24 + 8 * dim;
  for (int64_t col = 0; col < dim; ++col) {
    const auto length = static_cast<size_t>(dim - col);
    std::memcpy(stats.cross_.data() + col * dim + col, triangle, 8 * length);
    triangle += 8 * length;
  }
  return stats;
}

void PcaModel::Project(const float* rows, int64_t num_rows, float* out) const {
  if (num_rows <= 0 || k == 0) return;
  Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> x(
      rows, num_rows, dim);
  // Centre in float64, project, round once to float32.
  const Eigen::Map<const Eigen::RowVectorXd> mean_row(mean.data(), dim);
  const Eigen::Map<const RowMatrixD> basis(components.data(), k, dim);
  Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> result(
      out, num_rows, k);
  for (int64_t start = 0; start < num_rows; start += kRowsPerUpdate) {
    const int64_t block_rows = std::min(kRowsPerUpdate, num_rows - start);
    RowMatrixD centred = x.middleRows(start, block_rows).cast<double>();
    centred.rowwise() -= mean_row;
    result.middleRows(start, block_rows) = (centred * basis.transpose()).cast<float>();
  }
}

double PcaModel::CumulativeRatio(int64_t num_components) const {
  double total = 0;
  for (int64_t idx = 0;
       idx < num_components && idx < static_cast<int64_t>(explained_variance_ratio.size()); ++idx) {
    total += explained_variance_ratio[static_cast<size_t>(idx)];
  }
  return total;
}

Result<PcaModel> FitPca(const PcaStats& stats, const PcaFitOptions& options) {
  if (stats.count() < 2) {
    return Status::Invalid("PCA needs at least 2 feature rows, got ", stats.count());
  }
  if (options.k < 0 || options.k > stats.dim()) {
    return Status::Invalid("PCA k=", options.k, " is out of range 1..", stats.dim());
  }
  if (options.k == 0 && !(options.variance_threshold > 0 && options.variance_threshold <= 1)) {
    return Status::Invalid("PCA variance threshold ", options.variance_threshold,
                           " is out of range (0, 1]");
  }
  const int64_t dim = stats.dim();
  // A NaN or an infinity in any feature row makes every sum non-finite, and LAPACK then
  // fails with an info code that says nothing to the user: refuse by name here.
  const auto not_finite = [](const std::vector<double>& values) {
    return std::find_if_not(values.begin(), values.end(),
                            [](double value) { return std::isfinite(value); }) != values.end();
  };
  if (not_finite(stats.sum()) || not_finite(stats.cross())) {
    return Status::Invalid("PCA statistics of ", stats.count(),
                           " feature rows are not finite: a feature value is NaN or infinite, "
                           "or too large to square in float64. Check the features table (or "
                           "the model that wrote it)");
  }
  const auto n = static_cast<double>(stats.count());
  PcaModel model;
  model.dim = dim;
  model.count = stats.count();
  model.variance_threshold = options.variance_threshold;
  Eigen::Map<const Eigen::VectorXd> sum(stats.sum().data(), dim);
  const Eigen::VectorXd mean = sum / n;
  model.mean.assign(mean.data(), mean.data() + dim);
  // Covariance with Bessel's correction: (S - n m m^T) / (n - 1), from the lower triangle.
  Eigen::Map<const Eigen::MatrixXd> cross(stats.cross().data(), dim, dim);
  Eigen::MatrixXd covariance = cross.triangularView<Eigen::Lower>();
  covariance.noalias() -= n * mean * mean.transpose();
  covariance /= (n - 1);
  covariance = covariance.selfadjointView<Eigen::Lower>();
  if (!covariance.allFinite()) {
    return Status::Invalid("the covariance of ", stats.count(),
                           " feature rows overflows float64: feature values are too large");
  }

  // LAPACK's divide-and-conquer symmetric eigensolver: eigenvalues ascending, the
  // eigenvectors overwrite the matrix column by column.
  Eigen::VectorXd values(dim);
  const lapack_int info =
      LAPACKE_dsyevd(LAPACK_COL_MAJOR, 'V', 'L', static_cast<lapack_int>(dim), covariance.data(),
                     static_cast<lapack_int>(dim), values.data());
  if (info != 0 || !values.allFinite() || !covariance.allFinite()) {
    return Status::ExecutionError("PCA eigen-decomposition of the ", dim, "x", dim,
                                  " covariance did not converge (LAPACK dsyevd info=", info, ")");
  }
  const Eigen::MatrixXd& vectors = covariance;
  double total = 0;
  model.explained_variance.resize(static_cast<size_t>(dim));
  for (int64_t idx = 0; idx < dim; ++idx) {
    // Tiny negative eigenvalues are rounding noise of a rank-deficient covariance.
    const double value = std::max(0.0, values(dim - 1 - idx));
    model.explained_variance[static_cast<size_t>(idx)] = value;
    total += value;
  }
  model.explained_variance_ratio.resize(static_cast<size_t>(dim));
  for (int64_t idx = 0; idx < dim; ++idx) {
    model.explained_variance_ratio[static_cast<size_t>(idx)] =
        total > 0 ? model.explained_variance[static_cast<size_t>(idx)] / total : 0.0;
  }
  if (options.k > 0) {
    model.k = options.k;
  } else {
    double cumulative = 0;
    model.k = dim;
    for (int64_t idx = 0; idx < dim; ++idx) {
      cumulative += model.explained_variance_ratio[static_cast<size_t>(idx)];
      // A hair of tolerance so a threshold of exactly 1.0 is reachable despite rounding.
      if (cumulative >= options.variance_threshold - 1e-12) {
        model.k = idx + 1;
        break;
      }
    }
  }
  model.components.resize(static_cast<size_t>(model.k * dim));
  for (int64_t comp_idx = 0; comp_idx < model.k; ++comp_idx) {
    Eigen::VectorXd component = vectors.col(dim - 1 - comp_idx);
    Eigen::Index largest = 0;
    component.cwiseAbs().maxCoeff(&largest);
    if (component(largest) < 0) component = -component;
    std::copy(component.data(), component.data() + dim, model.components.begin() + comp_idx * dim);
  }
  return model;
}

}  // namespace orchard::pca
