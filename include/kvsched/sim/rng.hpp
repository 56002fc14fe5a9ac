// kvsched/sim/rng.hpp: the simulator's random numbers, reproducible for a seed.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>

namespace kvsched::sim {

/// SplitMix64 finaliser: derives independent seeds for sub-streams (one per workload source)
/// from one user seed, so that adding a source does not shift the others' draws.
[[nodiscard]] constexpr std::uint64_t derive_seed(std::uint64_t seed, std::uint64_t stream) {
  std::uint64_t z = seed + 0x9E3779B97F4A7C15ULL * (stream + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/// Random draws for arrival processes. The engine is std::mt19937_64, whose sequence the C++
/// standard fixes; the distributions are written here (not std::*_distribution, whose
/// algorithms differ between standard libraries), so a seed gives the same draws everywhere
/// the math library rounds alike.
class Rng {
 public:
  explicit Rng(std::uint64_t seed) : engine_(seed) {}

  /// Uniform in [0, 1), 53 random bits.
  [[nodiscard]] double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
  /// Exponential with the given rate (1/mean), by inversion.
  [[nodiscard]] double exponential(double rate) { return -std::log1p(-uniform()) / rate; }
  /// Standard normal, Marsaglia's polar method (the second value of a pair is kept).
  [[nodiscard]] double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u = 0.0, v = 0.0, s = 0.0;
    do {
      u = 2.0 * uniform() - 1.0;
      v = 2.0 * uniform() - 1.0;
      s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    const double m = std::sqrt(-2.0 * std::log(s) / s);
    spare_ = v * m;
    has_spare_ = true;
    return u * m;
  }
  /// Gamma(shape k > 0, scale theta > 0), mean k * theta. Marsaglia and Tsang (2000), "A simple
  /// method for generating gamma variables"; for k < 1 the boost Gamma(k+1) * U^(1/k).
  [[nodiscard]] double gamma(double shape, double scale) {
    if (shape < 1.0) {
      const double g = gamma(shape + 1.0, 1.0);
      double u = uniform();
      while (u == 0.0) u = uniform();
      return g * std::pow(u, 1.0 / shape) * scale;
    }
    const double d = shape - 1.0 / 3.0;
    const double c = 1.0 / std::sqrt(9.0 * d);
    while (true) {
      double x = 0.0, v = 0.0;
      do {
        x = normal();
        v = 1.0 + c * x;
      } while (v <= 0.0);
      v = v * v * v;
      const double u = uniform();
      if (u < 1.0 - 0.0331 * x * x * x * x) return d * v * scale;
      if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v * scale;
    }
  }

 private:
  std::mt19937_64 engine_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace kvsched::sim
