// kvsched/policy/common/slo_priority.hpp: a request's remaining slack against its SLO and the
// similar-SLO grouping (AccelGen section 3.2, docs/design.md section 3.3.2). Shared by the SLO
// slack queue, the SLO-guaranteed dynamic chunker and the multi-resource batch selector, so
// that all three rank requests the same way.
#pragma once
#include <cstdint>
#include <limits>

#include "kvsched/core/request.hpp"
#include "kvsched/latency/latency_model.hpp"

namespace kvsched {

/// Seconds added to the arrival (or last token) of a request that has no SLO for its next
/// step, so that it ranks after every request with one, first come first served among
/// themselves (ours).
inline constexpr double kNoSloSlackS = 1.0e6;

/// TBT SLO of a request (s); +infinity when it has none (tbt_s <= 0).
[[nodiscard]] inline double tbt_slo_or_inf(const Request& r) {
  return r.spec.slo.tbt_s > 0.0 ? r.spec.slo.tbt_s : std::numeric_limits<double>::infinity();
}

/// Start deadline of a request's next step (s): the latest time at which it can start and
/// still meet its SLO, so that its remaining slack at time `now` is deadline - now.
///   not started (no output yet): arrival + TTFT SLO - predicted prefill time of what is left
///                                of the prompt (alone in an iteration);
///   decode:                       last token + TBT SLO;
///   re-prefill after recompute:   last token + TBT SLO - predicted prefill of the sequence.
/// A request without the SLO in question gets arrival (or last token) + kNoSloSlackS.
/// For a waiting request the deadline never changes while it waits, so a queue can keep
/// waiting requests sorted by it once and for all (slack = deadline - now for every one).
[[nodiscard]] inline double start_deadline_s(const Request& r, const LatencyModel& lm) {
  const std::int32_t left = r.num_uncomputed();
  if (r.num_generated == 0) {
    if (r.spec.slo.ttft_s <= 0.0) return r.spec.arrival_s + kNoSloSlackS;
    return r.spec.arrival_s + r.spec.slo.ttft_s - lm.prefill_s(left, r.num_computed_tokens);
  }
  if (r.spec.slo.tbt_s <= 0.0) return r.last_token_s + kNoSloSlackS;
  if (!r.is_prefilling()) return r.last_token_s + r.spec.slo.tbt_s;
  return r.last_token_s + r.spec.slo.tbt_s - lm.prefill_s(left, r.num_computed_tokens);
}

/// Where a request's TBT SLO stands against the batch's anchor (the most urgent request):
/// within a factor `ratio` either way = similar; looser; tighter (docs/design.md section 3.3.2,
/// rho). No SLO counts as infinitely loose.
enum class SloGroup : std::uint8_t { kSimilar = 0, kLooser = 1, kTighter = 2 };

[[nodiscard]] inline SloGroup slo_group(double tbt_s, double anchor_tbt_s, double ratio) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (anchor_tbt_s == inf) return tbt_s == inf ? SloGroup::kSimilar : SloGroup::kTighter;
  if (tbt_s > anchor_tbt_s * ratio) return SloGroup::kLooser;
  if (tbt_s * ratio < anchor_tbt_s) return SloGroup::kTighter;
  return SloGroup::kSimilar;
}

}  // namespace kvsched
