// kvsched/latency/least_squares.hpp: relative-error least squares (Eigen) and the error
// statistics the latency fit reports.
#pragma once
#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>

namespace kvsched {

/// Absolute percentage error over a set of rows: mean (MAPE) and max, in percent.
struct ErrorStats {
  std::size_t rows = 0;    // rows compared
  double mape_pct = 0;     // mean |predicted - measured| / measured x 100
  double max_ape_pct = 0;  // largest |predicted - measured| / measured x 100
};

/// Error of `predicted` against `measured` (same length, measured > 0).
/// Errors: std::invalid_argument on a length mismatch.
[[nodiscard]] inline ErrorStats ape_stats(const Eigen::VectorXd& predicted, const Eigen::VectorXd& measured) {
  if (predicted.size() != measured.size()) throw std::invalid_argument("ape_stats: length mismatch");
  ErrorStats e;
  e.rows = static_cast<std::size_t>(measured.size());
  if (e.rows == 0) return e;
  const Eigen::ArrayXd ape = ((predicted - measured).array() / measured.array()).abs() * 100.0;
  e.mape_pct = ape.mean();
  e.max_ape_pct = ape.maxCoeff();
  return e;
}

/// Least squares on relative residuals: argmin_beta sum_i ((X_i beta - y_i) / y_i)^2, so that
/// short and long measurements weigh the same (the reported error is relative too). Solved
/// with Eigen's column-pivoting Householder QR on the row-scaled system.
/// Errors: std::invalid_argument when y has a non-positive entry, shapes differ, or there are
/// fewer rows than columns.
[[nodiscard]] inline Eigen::VectorXd relative_least_squares(const Eigen::MatrixXd& X, const Eigen::VectorXd& y) {
  if (X.rows() != y.size()) throw std::invalid_argument("relative_least_squares: X and y row counts differ");
  if (X.rows() < X.cols()) throw std::invalid_argument("relative_least_squares: fewer rows than unknowns");
  if ((y.array() <= 0).any()) throw std::invalid_argument("relative_least_squares: measurements must be > 0");
  const Eigen::ArrayXd w = y.array().inverse();
  const Eigen::MatrixXd A = X.array().colwise() * w;
  const Eigen::VectorXd b = Eigen::VectorXd::Ones(y.size());
  return A.colPivHouseholderQr().solve(b);
}

/// Weighted relative least squares: argmin_beta sum_i w_i ((X_i beta - y_i) / y_i)^2, for fits
/// that pool profiles of different sizes (each profile then weighs what its weights give it).
/// Errors: as relative_least_squares, and when w's length differs from y's or an entry is <= 0.
[[nodiscard]] inline Eigen::VectorXd relative_least_squares(const Eigen::MatrixXd& X, const Eigen::VectorXd& y,
                                                            const Eigen::VectorXd& weights) {
  if (weights.size() != y.size()) throw std::invalid_argument("relative_least_squares: weights and y lengths differ");
  if ((weights.array() <= 0).any()) throw std::invalid_argument("relative_least_squares: weights must be > 0");
  if (X.rows() != y.size()) throw std::invalid_argument("relative_least_squares: X and y row counts differ");
  if (X.rows() < X.cols()) throw std::invalid_argument("relative_least_squares: fewer rows than unknowns");
  if ((y.array() <= 0).any()) throw std::invalid_argument("relative_least_squares: measurements must be > 0");
  const Eigen::ArrayXd s = weights.array().sqrt();
  const Eigen::MatrixXd A = X.array().colwise() * (s / y.array());
  return A.colPivHouseholderQr().solve(Eigen::VectorXd(s.matrix()));
}

/// Held-out split used by every fit: row i (0-based, file order) is held out when
/// i % every == every - 1 (every 5th row by default); every <= 0 holds nothing out.
[[nodiscard]] constexpr bool is_held_out(std::size_t i, int every) {
  return every > 0 && i % static_cast<std::size_t>(every) == static_cast<std::size_t>(every - 1);
}

}  // namespace kvsched
