// kvsched/latency/prefill_feature_check.hpp: why the prefill attention fit has the terms it has:
// its held-out error with the first interface's features [1, pairs] next to the features the
// model uses, [1, c, pairs, c^2] (docs/latency_model.md).
#pragma once
#include <Eigen/Dense>

#include "kvsched/latency/least_squares.hpp"
#include "kvsched/latency/profile_fit.hpp"
#include "kvsched/latency/vidur_profiles.hpp"

namespace kvsched {

/// Held-out relative error of two fits of the same prefill attention rows.
struct PrefillFeatureCheck {
  ErrorStats pairs_only;  // features [1, pairs]: pairs = c x (p + (c + 1) / 2)
  ErrorStats full;        // features [1, c, pairs, c^2] (detail::prefill_features)
};

/// Fits `profile`'s prefill rows both ways, every `holdout_every`-th row held out.
/// Errors: std::invalid_argument when the profile has no prefill rows.
[[nodiscard]] inline PrefillFeatureCheck prefill_feature_check(const AttentionProfile& profile, int holdout_every = 5) {
  const auto pairs = detail::fit_rows(
      profile.prefill,
      [](const PrefillAttnSample& s) { return Eigen::RowVector2d(1.0, s.chunk * (s.context + (s.chunk + 1.0) / 2.0)); },
      holdout_every);
  const auto full = detail::fit_rows(
      profile.prefill, [](const PrefillAttnSample& s) { return detail::prefill_features(s.chunk, s.context); },
      holdout_every);
  return {pairs.held_out, full.held_out};
}

}  // namespace kvsched
