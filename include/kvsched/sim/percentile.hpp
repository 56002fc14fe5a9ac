// kvsched/sim/percentile.hpp: percentiles and summaries of latency samples.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <span>
#include <vector>

namespace kvsched::sim {

/// Percentile of sorted samples by linear interpolation between closest ranks (Hyndman and
/// Fan type 7, NumPy's default): with h = (n - 1) q, x[floor h] + (h - floor h) (x[floor h + 1]
/// - x[floor h]). q in [0, 1]. NaN for no samples.
[[nodiscard]] inline double percentile_sorted(std::span<const double> sorted, double q) {
  if (sorted.empty()) return std::numeric_limits<double>::quiet_NaN();
  const double h = static_cast<double>(sorted.size() - 1) * std::clamp(q, 0.0, 1.0);
  const auto lo = static_cast<std::size_t>(std::floor(h));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (h - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

/// Count, mean, percentiles (type 7, see percentile_sorted) and maximum of samples (s).
/// Every field is NaN when count == 0.
struct Summary {
  std::size_t count = 0;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double p50 = std::numeric_limits<double>::quiet_NaN();
  double p90 = std::numeric_limits<double>::quiet_NaN();
  double p99 = std::numeric_limits<double>::quiet_NaN();
  double p999 = std::numeric_limits<double>::quiet_NaN();
  double max = std::numeric_limits<double>::quiet_NaN();
};

/// Summarises samples; sorts them in place (callers keep the sorted vector for CDFs).
[[nodiscard]] inline Summary summarize(std::vector<double>& samples) {
  Summary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  double sum = 0.0;
  for (double x : samples) sum += x;
  s.mean = sum / static_cast<double>(samples.size());
  s.p50 = percentile_sorted(samples, 0.50);
  s.p90 = percentile_sorted(samples, 0.90);
  s.p99 = percentile_sorted(samples, 0.99);
  s.p999 = percentile_sorted(samples, 0.999);
  s.max = samples.back();
  return s;
}

/// Probabilities at which cdf_points samples a distribution: 0, 0.01, ..., 0.99, then
/// 0.991, ..., 0.999, 0.9999 and 1 (denser in the tail, where TBT stalls show).
[[nodiscard]] inline const std::vector<double>& cdf_probabilities() {
  static const std::vector<double> p = [] {
    std::vector<double> v;
    for (int i = 0; i < 100; ++i) v.push_back(i / 100.0);
    for (int i = 1; i < 10; ++i) v.push_back(0.99 + i / 1000.0);
    v.push_back(0.9999);
    v.push_back(1.0);
    return v;
  }();
  return p;
}

/// Values of sorted samples at cdf_probabilities() (type-7 percentiles): a fixed-size curve
/// for plots. Empty for no samples.
[[nodiscard]] inline std::vector<double> cdf_points(std::span<const double> sorted) {
  std::vector<double> out;
  if (sorted.empty()) return out;
  out.reserve(cdf_probabilities().size());
  for (double q : cdf_probabilities()) out.push_back(percentile_sorted(sorted, q));
  return out;
}

}  // namespace kvsched::sim
