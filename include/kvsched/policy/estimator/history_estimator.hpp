// kvsched/policy/estimator/history_estimator.hpp: output length from the history of finished
// requests, no model and no oracle (docs/design.md section 3.2.1; kvsched's stand-in for the
// paper's fine-tuned predictor).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>

#include "kvsched/core/request.hpp"
#include "kvsched/policy/estimator/sliding_samples.hpp"

namespace kvsched {

struct HistoryEstimatorConfig {
  double quantile = 0.5;            // x_hat = this conditional quantile of past outputs (ours: median)
  double bucket_base = 2.0;         // prompt buckets [base^k, base^(k+1)) tokens (ours: powers of 2)
  std::size_t window = 1000;        // finished requests kept per group (sliding, ours)
  std::size_t min_samples = 20;     // fewer in a group: back off to a coarser one (ours)
  std::size_t min_above = 5;        // fewer samples above `generated`: back off (ours)
};

/// Online conditional quantiles of the output length, grouped by prompt-length bucket and
/// class tag (RequestSpec::class_id). For a request that has produced g tokens:
///   x_hat = quantile q of { past output lengths > g } in the finest group with enough samples,
///   groups from fine to coarse: (class, prompt bucket) -> class -> all requests;
///   no group qualifies: x_hat = min(max_tokens, max(2g, g + 1)) once g > 0 (ours: the request
///   outlived its history, guess it doubles), or max_tokens before any history (cold start).
/// Learns from every finished request's real output (Request::num_generated). It never reads
/// RequestSpec::oracle_output_tokens or predicted_output_tokens: it needs no oracle and no
/// model. A PointEstimator. Memory: three windows per (class, bucket) seen.
class HistoryEstimator {
 public:
  explicit HistoryEstimator(HistoryEstimatorConfig c = {}) : cfg_(c), all_(c.window) {}

  [[nodiscard]] const HistoryEstimatorConfig& config() const { return cfg_; }
  /// Finished requests learnt from (capped at the window).
  [[nodiscard]] std::size_t num_samples() const { return all_.size(); }

  /// Prompt-length bucket of a prompt of `prompt_tokens` tokens: floor(log_base(prompt)).
  [[nodiscard]] std::uint32_t bucket(std::int32_t prompt_tokens) const {
    const double p = std::max(1, prompt_tokens);
    return static_cast<std::uint32_t>(std::floor(std::log(p) / std::log(std::max(1.0001, cfg_.bucket_base)) + 1e-9));
  }

  [[nodiscard]] double predict(const RequestSpec& s, std::int32_t generated) const {
    const double g = generated;
    if (auto it = groups_.find(group_key(s)); it != groups_.end())
      if (auto x = from(it->second, g)) return *x;
    if (auto it = classes_.find(s.class_id); it != classes_.end())
      if (auto x = from(it->second, g)) return *x;
    if (auto x = from(all_, g)) return *x;
    if (generated > 0) return std::min<double>(s.max_tokens, std::max(2.0 * g, g + 1.0));
    return s.max_tokens;
  }

  void observe(const Request& r) {
    const double out = r.num_generated;
    groups_.try_emplace(group_key(r.spec), cfg_.window).first->second.add(out);
    classes_.try_emplace(r.spec.class_id, cfg_.window).first->second.add(out);
    all_.add(out);
  }

 private:
  [[nodiscard]] std::uint64_t group_key(const RequestSpec& s) const {
    return (static_cast<std::uint64_t>(s.class_id) << 32) | bucket(s.prompt_tokens);
  }
  [[nodiscard]] std::optional<double> from(const SlidingSamples& w, double g) const {
    if (w.size() < cfg_.min_samples || w.count_above(g) < std::max<std::size_t>(1, cfg_.min_above)) return std::nullopt;
    return w.quantile_above(g, cfg_.quantile);
  }

  HistoryEstimatorConfig cfg_;
  std::unordered_map<std::uint64_t, SlidingSamples> groups_;  // (class, prompt bucket) -> outputs
  std::unordered_map<std::uint16_t, SlidingSamples> classes_; // class -> outputs
  SlidingSamples all_;                                         // every finished request
};

}  // namespace kvsched
