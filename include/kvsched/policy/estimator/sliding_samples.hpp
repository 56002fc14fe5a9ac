// kvsched/policy/estimator/sliding_samples.hpp: a sliding window of numeric samples kept
// sorted, for online quantiles (history estimator, Hoeffding padding's error range).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace kvsched {

/// The last `capacity` samples, in arrival order (ring) and sorted. add() is O(capacity)
/// (one insertion and one erase in a sorted vector: a memmove); every query is O(log n).
/// Quantiles use the nearest-rank rule on the window (no interpolation).
class SlidingSamples {
 public:
  explicit SlidingSamples(std::size_t capacity = 1000) : cap_(capacity == 0 ? 1 : capacity) {}

  [[nodiscard]] std::size_t size() const { return sorted_.size(); }
  [[nodiscard]] bool empty() const { return sorted_.empty(); }
  [[nodiscard]] std::size_t capacity() const { return cap_; }
  [[nodiscard]] double min() const { return sorted_.front(); }
  [[nodiscard]] double max() const { return sorted_.back(); }

  /// Adds `x`, dropping the oldest sample when the window is full.
  /// O(log n) search plus a shift of the samples between the old and the new one's places.
  void add(double x) {
    if (ring_.size() < cap_) {
      ring_.push_back(x);
      sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), x), x);
      return;
    }
    const double old = ring_[head_];
    ring_[head_] = x;
    head_ = (head_ + 1) % cap_;
    // Replace one copy of `old` by `x` in one move of the elements between them (an erase
    // then an insert would move up to the whole window twice); the order is the same.
    const auto out = std::lower_bound(sorted_.begin(), sorted_.end(), old);
    const auto in = std::upper_bound(sorted_.begin(), sorted_.end(), x);
    if (in > out) {
      std::move(out + 1, in, out);
      *(in - 1) = x;
    } else {
      std::move_backward(in, out, out + 1);
      *in = x;
    }
  }

  /// Nearest-rank quantile q in [0, 1] of the window (q = 0: min, q = 1: max). Precondition:
  /// not empty.
  [[nodiscard]] double quantile(double q) const { return rank(0, sorted_.size(), q); }

  /// Number of samples strictly greater than x.
  [[nodiscard]] std::size_t count_above(double x) const {
    return static_cast<std::size_t>(sorted_.end() - std::upper_bound(sorted_.begin(), sorted_.end(), x));
  }

  /// Quantile q of the samples strictly greater than x (a conditional quantile: "given the
  /// value exceeds x"). Precondition: count_above(x) > 0.
  [[nodiscard]] double quantile_above(double x, double q) const {
    const auto lo = static_cast<std::size_t>(std::upper_bound(sorted_.begin(), sorted_.end(), x) - sorted_.begin());
    return rank(lo, sorted_.size(), q);
  }

 private:
  [[nodiscard]] double rank(std::size_t lo, std::size_t hi, double q) const {
    const std::size_t n = hi - lo;
    const double qq = std::clamp(q, 0.0, 1.0);
    // Nearest rank: the ceil(q n)-th smallest (1-based), the smallest for q = 0.
    std::size_t k = static_cast<std::size_t>(std::ceil(qq * static_cast<double>(n)));
    k = std::clamp<std::size_t>(k, 1, n);
    return sorted_[lo + k - 1];
  }

  std::size_t cap_;
  std::vector<double> ring_;    // [<= cap_] samples in arrival order (a ring once full)
  std::size_t head_ = 0;        // oldest sample's index in ring_ once full
  std::vector<double> sorted_;  // [size()] the same samples, ascending
};

}  // namespace kvsched
