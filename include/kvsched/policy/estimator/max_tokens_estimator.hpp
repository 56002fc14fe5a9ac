// kvsched/policy/estimator/max_tokens_estimator.hpp: no length prediction (every baseline).
#pragma once
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Estimates every request's output as its max_tokens (point and bound alike). What engines
/// without a length predictor implicitly assume (vLLM, Sarathi-Serve, TensorRT-LLM, SGLang).
struct MaxTokensEstimator {
  [[nodiscard]] LengthEstimate estimate(const Request& r, const SchedulerView&) const {
    const double m = r.spec.max_tokens;
    return {m, m};
  }
  void observe(const Request&) {}
};

}  // namespace kvsched
