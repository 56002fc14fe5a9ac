// kvsched/policy/estimator/hoeffding_padding.hpp: confidence padding of an output-length
// estimate (CacheOPT, docs/design.md section 3.2.1).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "kvsched/policy/estimator/sliding_samples.hpp"

namespace kvsched {

/// How the error range R is read from the window of past errors e = x_true - x_hat.
enum class ErrorRange : std::uint8_t {
  kFull,       // R = q_hi(e) - q_lo(e): with q_lo = 0, q_hi = 1 the paper's max - min
  kUnderOnly,  // R = max(0, q_hi(e)): only under-estimates (x_true > x_hat) need padding (ours)
};

/// Configuration of HoeffdingPadding. Defaults are the paper's rule where it has one; the
/// rest is marked (ours).
struct HoeffdingPaddingConfig {
  bool enabled = true;                 // false: x_tilde = x_hat (ablation "no padding")
  // Target probability p as a function of the arrival rate lambda (ours: linear between the
  // two points, docs/design.md 3.2.1): p = p_hi at lambda <= rate_lo_rps, p_lo at >= rate_hi_rps.
  double p_hi = 0.95;
  double p_lo = 0.80;
  double rate_lo_rps = 1.0;            // requests/s (ours)
  double rate_hi_rps = 8.0;            // requests/s (ours)
  bool p_falls_with_rate = true;       // false: p rises from p_lo to p_hi as lambda grows (ours)
  // Error range R, learned online from the estimator's own errors on finished requests.
  std::size_t window = 1000;           // errors kept (sliding window, ours)
  std::size_t min_errors = 16;         // fewer seen: x_tilde = max_tokens (cold start, ours)
  ErrorRange range = ErrorRange::kFull;
  double q_lo = 0.0;                   // lower quantile of e for R (0 = min, the paper)
  double q_hi = 1.0;                   // upper quantile of e for R (1 = max, the paper)
  bool relative = false;               // errors as (x_true - x_hat) / x_hat, padding x_hat * t (ours)
};

/// Hoeffding padding: for an estimation error bounded in a range of width R,
///   P(x_true - x_hat >= t) <= exp(-2 t^2 / R^2),  so  t(p) = R * sqrt(ln(1 / (1 - p)) / 2)
/// bounds the error with probability p, and the padded estimate is
///   x_tilde = min(x_hat + t(p), max_tokens)          (tokens; CacheOPT section 3.2.1)
/// R is measured from the errors of finished requests, p follows the arrival rate.
/// Units: tokens (or a fraction of x_hat when config.relative).
class HoeffdingPadding {
 public:
  explicit HoeffdingPadding(HoeffdingPaddingConfig c = {}) : cfg_(c), errors_(c.window) {}

  [[nodiscard]] const HoeffdingPaddingConfig& config() const { return cfg_; }
  [[nodiscard]] std::size_t num_errors() const { return errors_.size(); }

  /// t(p) = R * sqrt(ln(1 / (1 - p)) / 2); 0 for p <= 0, R <= 0. p is clamped below 1.
  [[nodiscard]] static double hoeffding_t(double range, double p) {
    if (range <= 0 || p <= 0) return 0.0;
    const double pp = std::min(p, 1.0 - 1e-12);
    return range * std::sqrt(std::log(1.0 / (1.0 - pp)) / 2.0);
  }

  /// Target probability p at arrival rate `rate_rps` (requests/s), linear between
  /// (rate_lo_rps, p_hi) and (rate_hi_rps, p_lo), flat outside (direction per config).
  [[nodiscard]] double target_probability(double rate_rps) const {
    const double lo = cfg_.p_falls_with_rate ? cfg_.p_hi : cfg_.p_lo;  // p at low rate
    const double hi = cfg_.p_falls_with_rate ? cfg_.p_lo : cfg_.p_hi;  // p at high rate
    if (rate_rps <= cfg_.rate_lo_rps || cfg_.rate_hi_rps <= cfg_.rate_lo_rps) return lo;
    if (rate_rps >= cfg_.rate_hi_rps) return hi;
    const double f = (rate_rps - cfg_.rate_lo_rps) / (cfg_.rate_hi_rps - cfg_.rate_lo_rps);
    return lo + f * (hi - lo);
  }

  /// Error range R of the window (tokens, or relative); 0 when no error was recorded.
  [[nodiscard]] double range() const {
    if (errors_.empty()) return 0.0;
    const double hi = errors_.quantile(cfg_.q_hi);
    if (cfg_.range == ErrorRange::kUnderOnly) return std::max(0.0, hi);
    return std::max(0.0, hi - errors_.quantile(cfg_.q_lo));
  }

  /// True until min_errors errors have been recorded: the range is not trusted yet.
  [[nodiscard]] bool cold() const { return errors_.size() < cfg_.min_errors; }

  /// Padding t (tokens) added to `x_hat` at arrival rate `rate_rps`.
  [[nodiscard]] double padding_tokens(double x_hat, double rate_rps) const {
    const double t = hoeffding_t(range(), target_probability(rate_rps));
    return cfg_.relative ? t * x_hat : t;
  }

  /// x_tilde = min(x_hat + t(p), max_tokens) (tokens). Disabled: x_hat. Cold: max_tokens.
  [[nodiscard]] double padded(double x_hat, double max_tokens, double rate_rps) const {
    if (!cfg_.enabled) return std::min(x_hat, max_tokens);
    if (cold()) return max_tokens;
    return std::min(x_hat + padding_tokens(x_hat, rate_rps), max_tokens);
  }

  /// Records the error of one finished request: x_true = its real output length, x_hat = the
  /// estimate made without knowledge of it (tokens).
  void record(double x_true, double x_hat) {
    errors_.add(cfg_.relative ? (x_true - x_hat) / std::max(1.0, x_hat) : x_true - x_hat);
  }

 private:
  HoeffdingPaddingConfig cfg_;
  SlidingSamples errors_;
};

}  // namespace kvsched
