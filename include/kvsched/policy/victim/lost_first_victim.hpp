// kvsched/policy/victim/lost_first_victim.hpp: preempt a request that has already missed its
// TBT SLO before one that can still meet it (ours).
#pragma once
#include <span>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Whether `r` can no longer meet its TBT SLO at `now_s` (s): a gap so far
/// (Request::max_token_gap_s), or the gap open since its last token, exceeds slo.tbt_s.
/// False without a TBT target (tbt_s <= 0).
[[nodiscard]] inline bool tbt_slo_missed(const Request& r, double now_s) {
  const double tbt = r.spec.slo.tbt_s;
  if (tbt <= 0.0) return false;
  return r.max_token_gap_s > tbt || (r.last_token_s >= 0.0 && now_s - r.last_token_s > tbt);
}

/// Victim = the most recently admitted candidate (running requests not yet scheduled this
/// step, the needy one included, in admission order) that has already missed its TBT SLO
/// (tbt_slo_missed); when none has, the most recently admitted of all, as vLLM v1 does
/// (LastAdmittedVictim, `self.running.pop()`).
/// Why (ours): TBT attainment counts the requests whose every gap met the SLO, so stalling a
/// request that has already stalled past it costs nothing more; preemptions then fall on the
/// requests already lost instead of spreading over new ones (CacheOPT's victim order, section
/// 3.2.6, likewise prefers victims whose SLO has the most room). O(candidates) per call.
struct LostFirstVictim {
  [[nodiscard]] Request* select(std::span<Request* const> candidates, const Request&, const SchedulerView& v) const {
    for (auto it = candidates.rbegin(); it != candidates.rend(); ++it)
      if (tbt_slo_missed(**it, v.now_s)) return *it;
    return candidates.empty() ? nullptr : candidates.back();
  }
};

}  // namespace kvsched
