// kvsched/latency/pivot_fit.hpp: the flat-then-linear fit of linear-op time against forward
// size, with the pivot chosen by scanning (AccelGen section 3.1's pivot S_p).
#pragma once
#include <Eigen/Dense>
#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>
#include <vector>

#include "kvsched/latency/least_squares.hpp"

namespace kvsched {

/// time(F) = base_s + s_per_token * max(F, pivot_tokens).
struct PivotLinearFit {
  double base_s = 0;        // intercept (s)
  double s_per_token = 0;   // slope above the pivot (s/token)
  double pivot_tokens = 0;  // forward size below which the time is flat (tokens)
  double residual = 0;      // sum of squared relative residuals on the fitted rows
  [[nodiscard]] double predict(double tokens) const { return base_s + s_per_token * std::max(tokens, pivot_tokens); }
};

/// Fits PivotLinearFit to (tokens[i], times_s[i]) by relative least squares for every candidate
/// pivot and keeps the candidate with the smallest sum of squared relative residuals (ours;
/// ties go to the smaller pivot). Candidates: every distinct token count that leaves at least 3
/// distinct larger counts (so the slope is determined); the smallest count is the "no flat
/// region" candidate. Candidates with a non-positive slope are skipped.
/// Errors: std::invalid_argument with fewer than 4 distinct token counts or no valid candidate.
[[nodiscard]] inline PivotLinearFit fit_pivot_linear(const std::vector<double>& tokens,
                                                     const std::vector<double>& times_s) {
  if (tokens.size() != times_s.size()) throw std::invalid_argument("fit_pivot_linear: length mismatch");
  std::vector<double> distinct = tokens;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (distinct.size() < 4) throw std::invalid_argument("fit_pivot_linear: need at least 4 distinct token counts");
  const auto n = static_cast<Eigen::Index>(tokens.size());
  const Eigen::VectorXd y = Eigen::Map<const Eigen::VectorXd>(times_s.data(), n);
  const Eigen::VectorXd F = Eigen::Map<const Eigen::VectorXd>(tokens.data(), n);
  PivotLinearFit best;
  best.residual = std::numeric_limits<double>::infinity();
  Eigen::MatrixXd X(n, 2);
  X.col(0).setOnes();
  for (std::size_t k = 0; k + 3 < distinct.size(); ++k) {
    const double pivot = distinct[k];
    X.col(1) = F.array().max(pivot);
    const Eigen::VectorXd beta = relative_least_squares(X, y);
    if (!(beta(1) > 0)) continue;
    const double res = ((X * beta - y).array() / y.array()).square().sum();
    if (res < best.residual) best = PivotLinearFit{beta(0), beta(1), pivot, res};
  }
  if (!(best.residual < std::numeric_limits<double>::infinity())) {
    throw std::invalid_argument("fit_pivot_linear: no pivot gives a positive slope");
  }
  return best;
}

}  // namespace kvsched
