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

namespace detail {
/// Puts the order statistic of every rank in `ranks` (sorted, unique, within [begin, end)) at
/// its index, by std::nth_element on the middle rank and recursion on both sides: O(n log k).
inline void select_ranks(std::vector<double>& v, std::size_t begin, std::size_t end, const std::size_t* rb,
                         const std::size_t* re) {
  if (rb == re || end - begin < 2) return;
  const std::size_t* mid = rb + (re - rb) / 2;
  const auto first = v.begin() + static_cast<std::ptrdiff_t>(begin);
  std::nth_element(first, v.begin() + static_cast<std::ptrdiff_t>(*mid), v.begin() + static_cast<std::ptrdiff_t>(end));
  select_ranks(v, begin, *mid, rb, mid);
  select_ranks(v, *mid + 1, end, mid + 1, re);
}
}  // namespace detail

/// Type-7 percentiles (see percentile_sorted) of unsorted samples at each probability of qs,
/// without a full sort: every rank the interpolation needs is selected (detail::select_ranks).
/// Reorders the samples. NaN for each q when there are no samples.
[[nodiscard]] inline std::vector<double> percentiles(std::vector<double>& samples, std::span<const double> qs) {
  std::vector<double> out(qs.size(), std::numeric_limits<double>::quiet_NaN());
  const std::size_t n = samples.size();
  if (n == 0) return out;
  std::vector<std::size_t> ranks;
  ranks.reserve(2 * qs.size());
  for (double q : qs) {
    const double h = static_cast<double>(n - 1) * std::clamp(q, 0.0, 1.0);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    ranks.push_back(lo);
    ranks.push_back(std::min(lo + 1, n - 1));
  }
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  detail::select_ranks(samples, 0, n, ranks.data(), ranks.data() + ranks.size());
  for (std::size_t i = 0; i < qs.size(); ++i) {
    const double h = static_cast<double>(n - 1) * std::clamp(qs[i], 0.0, 1.0);
    const auto lo = static_cast<std::size_t>(std::floor(h));
    const std::size_t hi = std::min(lo + 1, n - 1);
    out[i] = samples[lo] + (h - static_cast<double>(lo)) * (samples[hi] - samples[lo]);
  }
  return out;
}

/// Summarises samples (reordering them); with cdf, also fills the values at
/// cdf_probabilities() (defined below) in the same selection pass.
[[nodiscard]] inline Summary summarize(std::vector<double>& samples, std::vector<double>* cdf = nullptr);

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

inline Summary summarize(std::vector<double>& samples, std::vector<double>* cdf) {
  Summary s;
  s.count = samples.size();
  if (cdf != nullptr) cdf->clear();
  if (samples.empty()) return s;
  double sum = 0.0;
  for (double x : samples) sum += x;
  s.mean = sum / static_cast<double>(samples.size());
  std::vector<double> qs{0.50, 0.90, 0.99, 0.999, 1.0};
  if (cdf != nullptr) qs.insert(qs.end(), cdf_probabilities().begin(), cdf_probabilities().end());
  const auto v = percentiles(samples, qs);
  s.p50 = v[0];
  s.p90 = v[1];
  s.p99 = v[2];
  s.p999 = v[3];
  s.max = v[4];
  if (cdf != nullptr) cdf->assign(v.begin() + 5, v.end());
  return s;
}

}  // namespace kvsched::sim
