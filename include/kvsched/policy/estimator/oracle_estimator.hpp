// kvsched/policy/estimator/oracle_estimator.hpp: the true output length (an upper bound on
// what any estimator can do; docs/design.md sections 3.2.1 and 3.3.4).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/core/request.hpp"

namespace kvsched {

/// x_hat = RequestSpec::oracle_output_tokens, which only a simulator knows (kvsched-sim sets
/// it from the trace). A request without it is estimated at max_tokens. Conditioned on
/// `generated`: never below generated + 1. Learns nothing. A PointEstimator.
struct OracleEstimator {
  [[nodiscard]] double predict(const RequestSpec& s, std::int32_t generated) const {
    const std::int32_t truth = s.oracle_output_tokens.value_or(s.max_tokens);
    return static_cast<double>(std::max(truth, generated + 1));
  }
  void observe(const Request&) {}
};

}  // namespace kvsched
