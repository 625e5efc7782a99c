#include "orchard/classify/trainer.h"

#include <cblas.h>

#include <LBFGS.h>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>

#include "orchard/util/stopwatch.h"

namespace orchard::classify {
namespace {

using nlohmann::json;
using util::Clock;
using util::SecondsSince;

// The training problem: standardized rows (row-major, float) and class indices.
struct Problem {
  const float* x = nullptr;
  const int32_t* y = nullptr;
  int64_t num_rows = 0;
  int64_t dim = 0;
  int64_t num_classes = 0;
};

// Mean cross-entropy + |W|^2 / (2 C n) and its gradient, for LBFGS++. Parameters are
// [W (classes x dim, row-major), b (classes)]. Keeps the best point seen, so that a line
// search that gives up (float rounding near the optimum) still leaves a usable answer.
class SoftmaxObjective {
 public:
  SoftmaxObjective(const Problem& problem, double c) : problem_(problem), c_(c) {
    weights_.resize(static_cast<size_t>(problem.num_classes * problem.dim));
    logits_.resize(static_cast<size_t>(problem.num_rows * problem.num_classes));
    grad_weights_.resize(weights_.size());
  }

  double operator()(const Eigen::VectorXd& params, Eigen::VectorXd& grad) {
    const int64_t n = problem_.num_rows, d = problem_.dim, k = problem_.num_classes;
    ++evaluations_;
    for (size_t idx = 0; idx < weights_.size(); ++idx)
      weights_[idx] = static_cast<float>(params[static_cast<Eigen::Index>(idx)]);
    // logits = X W^T (+ b below): the first of the two products that dominate the cost.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(n), static_cast<int>(k),
                static_cast<int>(d), 1.0f, problem_.x, static_cast<int>(d), weights_.data(),
                static_cast<int>(d), 0.0f, logits_.data(), static_cast<int>(k));
    double loss = 0;
    std::vector<double> grad_bias(static_cast<size_t>(k), 0.0);
    for (int64_t row_idx = 0; row_idx < n; ++row_idx) {
      float* row = logits_.data() + row_idx * k;
      for (int64_t class_idx = 0; class_idx < k; ++class_idx)
        row[class_idx] += static_cast<float>(params[static_cast<Eigen::Index>(k * d + class_idx)]);
      const float max_logit = *std::max_element(row, row + k);
      double sum = 0;
      for (int64_t class_idx = 0; class_idx < k; ++class_idx) {
        row[class_idx] = std::exp(row[class_idx] - max_logit);
        sum += row[class_idx];
      }
      const int32_t label = problem_.y[row_idx];
      loss -= std::log(std::max(static_cast<double>(row[label]) / sum, 1e-300));
      const float inverse = static_cast<float>(1.0 / sum);
      // d loss / d logits = probabilities - one_hot(label)
      for (int64_t class_idx = 0; class_idx < k; ++class_idx) {
        row[class_idx] *= inverse;
        if (class_idx == label) row[class_idx] -= 1.0f;
        grad_bias[static_cast<size_t>(class_idx)] += row[class_idx];
      }
    }
    // grad W = (P - Y)^T X
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(k), static_cast<int>(d),
                static_cast<int>(n), 1.0f, logits_.data(), static_cast<int>(k), problem_.x,
                static_cast<int>(d), 0.0f, grad_weights_.data(), static_cast<int>(d));
    const double inv_n = 1.0 / static_cast<double>(n);
    const double penalty = inv_n / c_;
    double norm2 = 0;
    for (size_t idx = 0; idx < grad_weights_.size(); ++idx) {
      const double weight = params[static_cast<Eigen::Index>(idx)];
      norm2 += weight * weight;
      grad[static_cast<Eigen::Index>(idx)] = grad_weights_[idx] * inv_n + penalty * weight;
    }
    for (int64_t class_idx = 0; class_idx < k; ++class_idx)
      grad[static_cast<Eigen::Index>(k * d + class_idx)] =
          grad_bias[static_cast<size_t>(class_idx)] * inv_n;
    const double value = loss * inv_n + 0.5 * penalty * norm2;
    if (!(value >= best_value_)) {  // also takes the first value
      best_value_ = value;
      best_params_ = params;
    }
    return value;
  }

  const Eigen::VectorXd& best_params() const { return best_params_; }
  double best_value() const { return best_value_; }
  int64_t evaluations() const { return evaluations_; }

 private:
  Problem problem_;
  double c_;
  std::vector<float> weights_, logits_, grad_weights_;
  Eigen::VectorXd best_params_;
  double best_value_ = std::numeric_limits<double>::infinity();
  int64_t evaluations_ = 0;
};

struct FitResult {
  Eigen::VectorXd params;
  int iterations = 0;
  int64_t evaluations = 0;
  double loss = 0;
  double seconds = 0;
  bool line_search_stopped = false;
};

Result<FitResult> Fit(const Problem& problem, double c, const Eigen::VectorXd& start,
                      const TrainOptions& options) {
  const auto start_time = Clock::now();
  LBFGSpp::LBFGSParam<double> param;
  param.epsilon = options.gradient_tolerance;
  param.epsilon_rel = options.gradient_tolerance;
  param.max_iterations = options.max_iterations;
  // Also stop when the objective stalls (its value is only float-accurate).
  param.past = 5;
  param.delta = options.tolerance;
  LBFGSpp::LBFGSSolver<double> solver(param);
  SoftmaxObjective objective(problem, c);
  FitResult result;
  Eigen::VectorXd params = start;
  double value = 0;
  try {
    result.iterations = solver.minimize(objective, params, value);
  } catch (const std::exception&) {
    // The line search gave up: the float-precision objective cannot be decreased any
    // further along the search direction. The best point seen is the answer.
    result.line_search_stopped = true;
  }
  if (objective.best_params().size() == 0 || !std::isfinite(objective.best_value())) {
    return Status::Invalid("training diverged (C=", c, "): the objective is not finite");
  }
  result.params = objective.best_params();
  result.loss = objective.best_value();
  result.evaluations = objective.evaluations();
  result.seconds = SecondsSince(start_time);
  return result;
}

void SetWeights(const Eigen::VectorXd& params, Classifier* classifier) {
  const int64_t k = classifier->num_classes(), d = classifier->dim;
  classifier->weights.resize(static_cast<size_t>(k * d));
  classifier->bias.resize(static_cast<size_t>(k));
  for (int64_t idx = 0; idx < k * d; ++idx)
    classifier->weights[static_cast<size_t>(idx)] = static_cast<float>(params[idx]);
  for (int64_t class_idx = 0; class_idx < k; ++class_idx)
    classifier->bias[static_cast<size_t>(class_idx)] =
        static_cast<float>(params[k * d + class_idx]);
}

double Accuracy(const Classifier& classifier, const float* standardized_rows, const int32_t* labels,
                int64_t num_rows) {
  if (num_rows == 0) return 0;
  const int64_t k = classifier.num_classes(), d = classifier.dim;
  std::vector<float> logits(static_cast<size_t>(num_rows * k));
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(num_rows),
              static_cast<int>(k), static_cast<int>(d), 1.0f, standardized_rows,
              static_cast<int>(d), classifier.weights.data(), static_cast<int>(d), 0.0f,
              logits.data(), static_cast<int>(k));
  int64_t correct = 0;
  for (int64_t row_idx = 0; row_idx < num_rows; ++row_idx) {
    const float* row = logits.data() + row_idx * k;
    int64_t best = 0;
    for (int64_t class_idx = 1; class_idx < k; ++class_idx) {
      if (row[class_idx] + classifier.bias[static_cast<size_t>(class_idx)] >
          row[best] + classifier.bias[static_cast<size_t>(best)]) {
        best = class_idx;
      }
    }
    if (best == labels[row_idx]) ++correct;
  }
  return static_cast<double>(correct) / static_cast<double>(num_rows);
}

}  // namespace

Split StratifiedSplit(const std::vector<std::string>& labels, double validation_share,
                      uint64_t seed) {
  std::map<std::string, std::vector<int64_t>> by_label;
  for (size_t row_idx = 0; row_idx < labels.size(); ++row_idx)
    by_label[labels[row_idx]].push_back(static_cast<int64_t>(row_idx));
  Split split;
  std::mt19937_64 generator(seed);
  for (auto& [label, rows] : by_label) {
    const auto count = static_cast<int64_t>(rows.size());
    int64_t held =
        static_cast<int64_t>(std::llround(static_cast<double>(count) * validation_share));
    if (validation_share > 0 && count >= 2) held = std::max<int64_t>(held, 1);
    held = std::min(held, count - 1);
    held = std::max<int64_t>(held, 0);
    // Fisher-Yates with our own draws, so the split is the same on every standard library.
    for (int64_t idx = count - 1; idx > 0; --idx) {
      const auto other = static_cast<int64_t>(generator() % static_cast<uint64_t>(idx + 1));
      std::swap(rows[static_cast<size_t>(idx)], rows[static_cast<size_t>(other)]);
    }
    split.validation.insert(split.validation.end(), rows.begin(), rows.begin() + held);
    split.train.insert(split.train.end(), rows.begin() + held, rows.end());
  }
  std::sort(split.train.begin(), split.train.end());
  std::sort(split.validation.begin(), split.validation.end());
  return split;
}

json ToJson(const TrainReport& report) {
  json candidates = json::array();
  for (const FitReport& fit : report.candidates) {
    candidates.push_back({{"c", fit.c},
                          {"validation_accuracy", fit.validation_accuracy},
                          {"iterations", fit.iterations},
                          {"evaluations", fit.evaluations},
                          {"seconds", fit.seconds}});
  }
  json out = {
      {"rows", report.rows},
      {"train_rows", report.train_rows},
      {"validation_rows", report.validation_rows},
      {"dim", report.dim},
      {"classes", report.classes},
      {"c", report.c},
      {"c_chosen", report.c_chosen},
      {"validation_split", report.validation_split},
      {"seed", report.seed},
      {"candidates", candidates},
      {"final_fit",
       {{"iterations", report.final_fit.iterations},
        {"evaluations", report.final_fit.evaluations},
        {"loss", report.final_fit.loss},
        {"seconds", report.final_fit.seconds}}},
      {"training_accuracy", report.training_accuracy},
      {"seconds", {{"c_search", report.c_search_seconds}, {"total", report.total_seconds}}}};
  if (report.validation_accuracy) out["validation_accuracy"] = *report.validation_accuracy;
  return out;
}

Result<Classifier> Train(const table::VectorRows& rows, const TrainOptions& options,
                         TrainReport* report) {
  const auto start_time = Clock::now();
  const int64_t n = rows.num_rows(), d = rows.dim;
  if (n == 0 || d == 0) return Status::Invalid("no training rows");
  if (options.c < 0) return Status::Invalid("C must be positive, got ", options.c);
  if (options.validation_split < 0 || options.validation_split >= 1) {
    return Status::Invalid("the validation split must be in [0, 1), got ",
                           options.validation_split);
  }
  if (options.c == 0 && (options.validation_split == 0 || options.c_grid.empty())) {
    return Status::Invalid("choosing C needs a validation split > 0; or give C (--c)");
  }
  if (options.threads > 0) openblas_set_num_threads(options.threads);

  Classifier classifier;
  classifier.dim = d;
  std::map<std::string, int32_t> class_index;
  for (const auto& label : rows.labels) class_index.emplace(label, 0);
  if (class_index.size() < 2) {
    return Status::Invalid("training needs at least 2 labels, got ", class_index.size());
  }
  for (auto& [label, idx] : class_index) {
    idx = static_cast<int32_t>(classifier.classes.size());
    classifier.classes.push_back(label);
  }
  const auto k = static_cast<int64_t>(classifier.classes.size());

  // Standardization, from every row (float64 sums).
  classifier.mean.assign(static_cast<size_t>(d), 0.0);
  classifier.scale.assign(static_cast<size_t>(d), 0.0);
  for (int64_t row_idx = 0; row_idx < n; ++row_idx) {
    for (int64_t col = 0; col < d; ++col) {
      const double value = rows.values[static_cast<size_t>(row_idx * d + col)];
      if (!std::isfinite(value)) {
        return Status::Invalid("row '", rows.paths[static_cast<size_t>(row_idx)],
                               "' has a non-finite value");
      }
      classifier.mean[static_cast<size_t>(col)] += value;
    }
  }
  for (auto& value : classifier.mean) value /= static_cast<double>(n);
  for (int64_t row_idx = 0; row_idx < n; ++row_idx) {
    for (int64_t col = 0; col < d; ++col) {
      const double diff = rows.values[static_cast<size_t>(row_idx * d + col)] -
                          classifier.mean[static_cast<size_t>(col)];
      classifier.scale[static_cast<size_t>(col)] += diff * diff;
    }
  }
  for (auto& value : classifier.scale) {
    value = std::sqrt(value / static_cast<double>(n));
    if (value < 1e-12) value = 1.0;  // constant input: leave it centred, not divided by 0
  }

  // Standardized rows, training rows first, then validation rows: both fits work on a
  // prefix of one matrix, so no copy is made per split.
  const Split split = options.validation_split > 0
                          ? StratifiedSplit(rows.labels, options.validation_split, options.seed)
                          : Split{};
  std::vector<int64_t> order;
  if (options.validation_split > 0) {
    order = split.train;
    order.insert(order.end(), split.validation.begin(), split.validation.end());
  } else {
    order.resize(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
  }
  const auto n_train = options.validation_split > 0 ? static_cast<int64_t>(split.train.size()) : n;
  std::vector<float> x(static_cast<size_t>(n * d));
  std::vector<int32_t> y(static_cast<size_t>(n));
  for (int64_t out_idx = 0; out_idx < n; ++out_idx) {
    const int64_t row_idx = order[static_cast<size_t>(out_idx)];
    y[static_cast<size_t>(out_idx)] = class_index.at(rows.labels[static_cast<size_t>(row_idx)]);
    for (int64_t col = 0; col < d; ++col) {
      x[static_cast<size_t>(out_idx * d + col)] =
          static_cast<float>((rows.values[static_cast<size_t>(row_idx * d + col)] -
                              classifier.mean[static_cast<size_t>(col)]) /
                             classifier.scale[static_cast<size_t>(col)]);
    }
  }

  const Problem train_problem{x.data(), y.data(), n_train, d, k};
  const Problem all_problem{x.data(), y.data(), n, d, k};
  const float* validation_x = x.data() + n_train * d;
  const int32_t* validation_y = y.data() + n_train;
  const int64_t n_validation = n - n_train;

  std::vector<FitReport> candidates;
  Eigen::VectorXd params = Eigen::VectorXd::Zero(k * (d + 1));
  Eigen::VectorXd best_params = params;
  double best_c = options.c;
  double best_accuracy = -1;
  if (n_validation > 0) {
    std::vector<double> grid = options.c > 0 ? std::vector<double>{options.c} : options.c_grid;
    std::sort(grid.begin(), grid.end());
    for (double c : grid) {
      if (!(c > 0)) return Status::Invalid("C must be positive, got ", c);
      // Warm start from the previous (more regularized) solution: the path is cheap.
      ORCHARD_ASSIGN_OR_RAISE(auto fit, Fit(train_problem, c, params, options));
      params = fit.params;
      SetWeights(params, &classifier);
      const double accuracy = Accuracy(classifier, validation_x, validation_y, n_validation);
      candidates.push_back({c, accuracy, fit.iterations, fit.evaluations, fit.loss, fit.seconds});
      if (accuracy > best_accuracy) {
        best_accuracy = accuracy;
        best_c = c;
        best_params = params;
      }
    }
  }
  const double search_seconds = SecondsSince(start_time);
  // Final fit on every row with the chosen C, from the validation fit of that C.
  ORCHARD_ASSIGN_OR_RAISE(auto final_fit, Fit(all_problem, best_c, best_params, options));
  SetWeights(final_fit.params, &classifier);
  classifier.c = best_c;
  const double train_accuracy = Accuracy(classifier, x.data(), y.data(), n);
  if (report != nullptr) {
    report->rows = n;
    report->train_rows = n_train;
    report->validation_rows = n_validation;
    report->dim = d;
    report->classes = k;
    report->c = best_c;
    report->c_chosen = options.c == 0;
    report->validation_split = options.validation_split;
    report->seed = options.seed;
    report->candidates = std::move(candidates);
    report->final_fit = {
        best_c, 0, final_fit.iterations, final_fit.evaluations, final_fit.loss, final_fit.seconds};
    report->training_accuracy = train_accuracy;
    if (n_validation > 0) report->validation_accuracy = best_accuracy;
    report->c_search_seconds = search_seconds;
    report->total_seconds = SecondsSince(start_time);
  }
  return classifier;
}

}  // namespace orchard::classify
