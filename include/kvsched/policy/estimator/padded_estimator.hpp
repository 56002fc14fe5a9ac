// kvsched/policy/estimator/padded_estimator.hpp: a point estimator plus Hoeffding padding
// = a CacheOPT Estimator (docs/design.md section 3.2.1).
#pragma once
#include <algorithm>
#include <concepts>
#include <cstdint>

#include "kvsched/core/request.hpp"
#include "kvsched/policy/estimator/hoeffding_padding.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// A point estimator of a request's total output length x_hat (tokens), conditioned on the
/// `generated` tokens it has already produced (so x_hat > generated whenever it can be).
/// predict(spec, 0) is the estimate made at arrival; observe() learns from a finished request.
template <class E>
concept PointEstimator = requires(const E ce, E e, const RequestSpec& s, std::int32_t generated, const Request& r) {
  { ce.predict(s, generated) } -> std::convertible_to<double>;
  { e.observe(r) } -> std::same_as<void>;
};

/// Estimator = point estimator `Base` + HoeffdingPadding:
///   point = x_hat = Base::predict(spec, generated)        clamped to [generated + 1, max_tokens]
///   upper = x_tilde = min(x_hat + t(p), max_tokens)       p from the view's arrival rate
/// observe(r) records the error x_true - Base::predict(spec, 0) (the estimate made without r's
/// outcome: the Base has not learnt from r yet), then lets Base learn. (ours: the error of the
/// arrival-time estimate sizes R; re-estimates for top-ups reuse that R.)
template <PointEstimator Base>
struct PaddedEstimator {
  Base base{};
  HoeffdingPadding padding{};

  [[nodiscard]] LengthEstimate estimate(const Request& r, const SchedulerView& v) const {
    const double max_tokens = r.spec.max_tokens;
    const double floor = std::min(max_tokens, static_cast<double>(r.num_generated) + 1.0);
    const double point = std::clamp(static_cast<double>(base.predict(r.spec, r.num_generated)), floor, max_tokens);
    const double upper = std::clamp(padding.padded(point, max_tokens, v.arrival_rate_rps), point, max_tokens);
    return {point, upper};
  }

  void observe(const Request& r) {
    padding.record(static_cast<double>(r.num_generated), static_cast<double>(base.predict(r.spec, 0)));
    base.observe(r);
  }
};

}  // namespace kvsched
