// kvsched/serve/sampler.hpp: next-token sampling from one row of logits: greedy at
// temperature 0, else softmax(logits / temperature) cut to the top-p nucleus.
// Source: vLLM 0.6 model_executor/layers/sampler.py (_apply_top_k_top_p: sort by
// probability, keep the smallest prefix whose mass reaches top_p, always the top token).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <stdexcept>
#include <vector>

namespace kvsched::serve {

/// Sampling parameters of one request (OpenAI's names).
struct SamplingParams {
  double temperature = 1.0;           // >= 0; 0 = greedy (argmax)
  double top_p = 1.0;                 // (0, 1]: nucleus mass kept
  std::optional<std::uint64_t> seed;  // fixed seed = reproducible samples; none = from the request id
};

/// Per-request sampler: owns the request's random stream, so a request's samples do not
/// depend on what else is in the batch (nor on preemption).
class Sampler {
 public:
  /// `fallback_seed` seeds the stream when params.seed is empty.
  Sampler(SamplingParams params, std::uint64_t fallback_seed)
      : params_(params), rng_(params.seed.value_or(fallback_seed)) {}

  [[nodiscard]] const SamplingParams& params() const { return params_; }

  /// Draws a token id from `logits` ([vocab]). Throws std::invalid_argument for an empty row.
  [[nodiscard]] std::int32_t sample(std::span<const float> logits) {
    if (logits.empty()) throw std::invalid_argument("Sampler::sample: empty logits");
    const auto argmax = static_cast<std::int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (params_.temperature <= 0.0) return argmax;
    const double inv_t = 1.0 / params_.temperature;
    const double top = logits[static_cast<std::size_t>(argmax)];
    probs_.resize(logits.size());
    double sum = 0.0;
    for (std::size_t i = 0; i < logits.size(); ++i) sum += probs_[i] = std::exp((logits[i] - top) * inv_t);
    order_.resize(logits.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::size_t keep = order_.size();
    if (params_.top_p < 1.0) {
      std::sort(order_.begin(), order_.end(), [&](std::int32_t a, std::int32_t b) { return probs_[a] > probs_[b]; });
      double mass = 0.0;
      keep = 0;
      while (keep < order_.size() && (keep == 0 || mass < params_.top_p * sum)) mass += probs_[order_[keep++]];
      sum = mass;
    }
    double u = std::uniform_real_distribution<double>(0.0, sum)(rng_);
    for (std::size_t k = 0; k < keep; ++k) {
      u -= probs_[order_[k]];
      if (u <= 0.0) return order_[k];
    }
    return order_[keep - 1];
  }

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<double> probs_;
  std::vector<std::int32_t> order_;
};

}  // namespace kvsched::serve
