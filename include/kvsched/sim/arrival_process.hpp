// kvsched/sim/arrival_process.hpp: arrival times for traces that carry none (length-only CSVs),
// or to replace a trace's own times.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/sim/rng.hpp"

namespace kvsched::sim {

/// Inter-arrival distribution. Poisson: exponential gaps (CV 1). Gamma: gaps with mean 1/rate
/// and coefficient of variation cv (shape 1/cv^2, scale cv^2/rate), as Vidur's gamma request
/// interval generator; cv > 1 gives bursts, cv < 1 smoother traffic than Poisson.
enum class ArrivalKind : std::uint8_t { kPoisson, kGamma };

[[nodiscard]] constexpr std::string_view to_string(ArrivalKind k) {
  return k == ArrivalKind::kPoisson ? "poisson" : "gamma";
}
[[nodiscard]] inline std::optional<ArrivalKind> parse_arrival_kind(std::string_view s) {
  if (s == "poisson") return ArrivalKind::kPoisson;
  if (s == "gamma") return ArrivalKind::kGamma;
  return std::nullopt;
}

/// An arrival process: kind, mean rate (requests/s) and, for kGamma, the CV of the gaps.
struct ArrivalProcess {
  ArrivalKind kind = ArrivalKind::kPoisson;
  double rate_rps = 1.0;  // mean arrival rate (requests/s), > 0
  double cv = 1.0;        // coefficient of variation of inter-arrival gaps (kGamma only), > 0

  /// Bounds (ours, sanity): a rate in [1e-9, 1e9] requests/s (one request in 30 years to one
  /// per nanosecond) and a gamma cv in [1e-4, 1e4] (shape 1/cv^2 in [1e-8, 1e8]); outside
  /// them gaps or the gamma shape overflow or underflow to 0, inf or NaN, and a simulation
  /// fed such times never ends.
  static constexpr double kMinRate = 1e-9, kMaxRate = 1e9, kMinCv = 1e-4, kMaxCv = 1e4;

  /// Throws std::invalid_argument naming the field when rate_rps or cv is outside its bounds
  /// (NaN and infinities included).
  void validate() const {
    if (!(rate_rps >= kMinRate && rate_rps <= kMaxRate))
      throw std::invalid_argument("arrival rate must be in [1e-9, 1e9] requests/s, got " + fmt_number(rate_rps));
    if (kind == ArrivalKind::kGamma && !(cv >= kMinCv && cv <= kMaxCv))
      throw std::invalid_argument("gamma arrival cv must be in [1e-4, 1e4], got " + fmt_number(cv));
  }
  /// `x` with 6 significant digits ("1e-310", not std::to_string's "0.000000").
  static std::string fmt_number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", x);
    return buf;
  }
};

/// n arrival times (s): the first at 0, then cumulative gaps drawn from the process.
/// Deterministic for a seed. Throws std::invalid_argument for an invalid process, or when a
/// time is not finite (the sum overflowed).
[[nodiscard]] inline std::vector<double> generate_arrival_times(const ArrivalProcess& p, std::size_t n,
                                                                std::uint64_t seed) {
  p.validate();
  std::vector<double> t(n, 0.0);
  Rng rng(seed);
  const double shape = 1.0 / (p.cv * p.cv);
  const double scale = p.cv * p.cv / p.rate_rps;
  for (std::size_t i = 1; i < n; ++i) {
    const double gap = p.kind == ArrivalKind::kPoisson ? rng.exponential(p.rate_rps) : rng.gamma(shape, scale);
    t[i] = t[i - 1] + gap;
    if (!std::isfinite(t[i]))
      throw std::invalid_argument("arrival time " + std::to_string(i) + " is not finite (rate " + ArrivalProcess::fmt_number(p.rate_rps) + ")");
  }
  return t;
}

}  // namespace kvsched::sim
