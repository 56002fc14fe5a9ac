// kvsched/policy/allocator/future_kv_curve.hpp: future KV use of running requests as they
// grow one token per iteration and free their blocks when they finish (docs/design.md 3.2.3, ours).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

namespace kvsched {

/// Predicted device KV use U(t), in blocks, t iterations from now, of requests that each hold
/// `cur` tokens now, grow by one token per iteration and finish after `remaining` iterations:
///   U(t) = sum over requests with remaining > t of ((cur + t) / block_size + 1/2)
/// (1/2 block per request: the average unused part of its last block, ours). U grows between
/// finishes, so its maximum is reached just before one (t = remaining - 1 of some request).
/// build() is O(n log n); peak() is O(1) and peak_with() (U with one more request) O(log n),
/// so an admission test never rescans the running requests.
class FutureKvCurve {
 public:
  /// Starts a new curve for blocks of `block_size` tokens.
  void reset(std::int32_t block_size) {
    bs_ = static_cast<double>(block_size);
    items_.clear();
  }
  /// Adds a request holding `cur_tokens` now that finishes after `remaining` >= 1 iterations.
  void add(std::int64_t cur_tokens, std::int64_t remaining) {
    items_.push_back({std::max<std::int64_t>(1, remaining), static_cast<double>(cur_tokens)});
  }
  [[nodiscard]] std::size_t size() const { return items_.size(); }

  /// Sorts by finish time and precomputes the maxima.
  void build() {
    std::stable_sort(items_.begin(), items_.end(), [](const Item& a, const Item& b) { return a.rem < b.rem; });
    build_sorted();
  }

 private:
  void build_sorted() {
    const std::size_t n = items_.size();
    suffix_cur_.assign(n + 1, 0.0);
    for (std::size_t k = n; k-- > 0;) suffix_cur_[k] = suffix_cur_[k + 1] + items_[k].cur;
    u_.assign(n, 0.0);
    for (std::size_t k = 0; k < n; ++k) {
      // Alive just before request k finishes: every request finishing no earlier than it.
      const std::size_t first = group_start(k);
      u_[k] = use(first, static_cast<double>(items_[k].rem - 1));
    }
    pre_v_.assign(n + 1, kNone);  // pre_v_[k] = max over j < k of U_j + T_j / bs
    for (std::size_t k = 0; k < n; ++k)
      pre_v_[k + 1] = std::max(pre_v_[k], u_[k] + static_cast<double>(items_[k].rem - 1) / bs_);
    suf_u_.assign(n + 1, kNone);  // suf_u_[k] = max over j >= k of U_j
    for (std::size_t k = n; k-- > 0;) suf_u_[k] = std::max(suf_u_[k + 1], u_[k]);
  }

 public:

  /// Adds a request to a built curve, keeping it built: O(n) (no re-sort).
  void insert(std::int64_t cur_tokens, std::int64_t remaining) {
    const Item it{std::max<std::int64_t>(1, remaining), static_cast<double>(cur_tokens)};
    items_.insert(std::upper_bound(items_.begin(), items_.end(), it, [](const Item& a, const Item& b) { return a.rem < b.rem; }), it);
    build_sorted();
  }

  /// U(t) in blocks. Requires build().
  [[nodiscard]] double at(std::int64_t t) const {
    return use(alive_from(t + 1), static_cast<double>(t));
  }

  /// max over t >= 0 of U(t) (0 for no request). Requires build().
  [[nodiscard]] double peak() const { return items_.empty() ? 0.0 : std::max(0.0, suf_u_[0]); }

  /// max over t of U(t) plus one more request holding `cur_tokens` now and finishing after
  /// `remaining` iterations. Requires build().
  [[nodiscard]] double peak_with(std::int64_t cur_tokens, std::int64_t remaining) const {
    const std::int64_t rem = std::max<std::int64_t>(1, remaining);
    const double last = static_cast<double>(rem - 1);  // the new request's last iteration
    // While it runs (t <= rem - 1): the event points T_k <= rem - 1 (k < upto) and its last
    // iteration; after it: the event points T_k >= rem (k >= upto).
    const std::size_t upto = alive_from(rem + 1);
    double with = std::max(pre_v_[upto], use(alive_from(rem), last) + last / bs_);
    with += static_cast<double>(cur_tokens) / bs_ + 0.5;
    return std::max(with, suf_u_[upto]);
  }

 private:
  struct Item {
    std::int64_t rem = 1;  // iterations until it finishes (it holds KV for t = 0 .. rem - 1)
    double cur = 0.0;      // tokens held now
  };
  static constexpr double kNone = -std::numeric_limits<double>::infinity();

  /// First index whose rem >= r (requests alive at t = r - 1).
  [[nodiscard]] std::size_t alive_from(std::int64_t r) const {
    return static_cast<std::size_t>(
        std::lower_bound(items_.begin(), items_.end(), r, [](const Item& it, std::int64_t v) { return it.rem < v; }) -
        items_.begin());
  }
  [[nodiscard]] std::size_t group_start(std::size_t k) const { return alive_from(items_[k].rem); }
  /// Blocks used at time t by requests first..n-1 (all alive then).
  [[nodiscard]] double use(std::size_t first, double t) const {
    const auto alive = static_cast<double>(items_.size() - first);
    return (suffix_cur_[first] + alive * t) / bs_ + 0.5 * alive;
  }

  double bs_ = 16.0;
  std::vector<Item> items_;         // sorted by rem after build()
  std::vector<double> suffix_cur_;  // [n + 1] sum of cur over k..n-1
  std::vector<double> u_;           // [n] U just before request k finishes
  std::vector<double> pre_v_;       // [n + 1] prefix max of U_k + T_k / bs
  std::vector<double> suf_u_;       // [n + 1] suffix max of U_k
};

}  // namespace kvsched
