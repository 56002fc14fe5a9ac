// kvsched/policy/estimator/external_estimator.hpp: the engine supplies x_hat (docs/design.md
// section 3.2.1; the paper fine-tunes the serving model to predict it).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/core/request.hpp"

namespace kvsched {

/// x_hat = RequestSpec::predicted_output_tokens, set by the caller's own predictor. A request
/// without a prediction is estimated at `missing_tokens` (0 = its max_tokens). Conditioned on
/// `generated`: max(x_hat, generated + 1). Learns nothing. A PointEstimator.
struct ExternalEstimator {
  std::int32_t missing_tokens = 0;  // estimate for a request without a prediction (0 = max_tokens)

  [[nodiscard]] double predict(const RequestSpec& s, std::int32_t generated) const {
    const std::int32_t fallback = missing_tokens > 0 ? missing_tokens : s.max_tokens;
    const std::int32_t x_hat = std::max(1, s.predicted_output_tokens.value_or(fallback));
    return static_cast<double>(std::max(x_hat, generated + 1));
  }
  void observe(const Request&) {}
};

}  // namespace kvsched
