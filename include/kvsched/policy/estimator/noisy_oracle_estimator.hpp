// kvsched/policy/estimator/noisy_oracle_estimator.hpp: the true output length times a random
// error, to emulate a length predictor of known accuracy (docs/design.md section 3.2.1).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include "kvsched/core/block_hash.hpp"
#include "kvsched/core/request.hpp"

namespace kvsched {

/// Distribution of the multiplicative error factor f (x_hat = f x x_true).
enum class NoiseDistribution : std::uint8_t {
  kNormal,     // f = 1 + level * N(0, 1): relative error with standard deviation `level`
  kUniform,    // f = 1 + level * U(-1, 1): relative error within +-level
  kLogNormal,  // f = exp(level * N(0, 1)): symmetric in log space (x10 and /10 equally likely)
  kConstant,   // f = level: every estimate off by the same factor (tests: 10 and 0.1)
};

struct NoisyOracleConfig {
  NoiseDistribution distribution = NoiseDistribution::kNormal;
  double level = 0.3;          // see NoiseDistribution (0.3 = 30% relative error)
  double min_factor = 0.05;    // f is clipped below here (a predictor never says ~0 tokens)
  std::uint64_t seed = 1;      // same seed and id -> same error: runs are reproducible
};

/// x_hat = round(f x oracle_output_tokens), f drawn per request from the configured
/// distribution by hashing (seed, id), so one request always gets the same error (and the
/// padding sees the error of the estimate actually used). Needs oracle_output_tokens (a
/// simulator sets it); without it, the true length is taken as max_tokens. Conditioned on
/// `generated`: max(x_hat, generated + 1). Learns nothing. A PointEstimator.
struct NoisyOracleEstimator {
  NoisyOracleConfig config{};

  /// Error factor f of request `id` (deterministic).
  [[nodiscard]] double factor(std::uint64_t id) const {
    const std::uint64_t h1 = mix64(id ^ mix64(config.seed));
    const std::uint64_t h2 = mix64(h1 ^ 0xA0761D6478BD642Full);
    // Two uniforms in (0, 1) from 53-bit mantissas.
    const double u1 = (static_cast<double>(h1 >> 11) + 0.5) * 0x1.0p-53;
    const double u2 = (static_cast<double>(h2 >> 11) + 0.5) * 0x1.0p-53;
    const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);  // Box-Muller
    double f = 1.0;
    switch (config.distribution) {
      case NoiseDistribution::kNormal: f = 1.0 + config.level * z; break;
      case NoiseDistribution::kUniform: f = 1.0 + config.level * (2.0 * u1 - 1.0); break;
      case NoiseDistribution::kLogNormal: f = std::exp(config.level * z); break;
      case NoiseDistribution::kConstant: f = config.level; break;
    }
    return std::max(f, config.min_factor);
  }

  [[nodiscard]] double predict(const RequestSpec& s, std::int32_t generated) const {
    const double truth = s.oracle_output_tokens.value_or(s.max_tokens);
    const double x_hat = std::max(1.0, std::round(factor(s.id) * truth));
    return std::max(x_hat, static_cast<double>(generated) + 1.0);
  }
  void observe(const Request&) {}
};

}  // namespace kvsched
