// kvsched/policy/common/slo_slack.hpp: SLO slack and criticality of a request (CacheOPT
// section 3.2.5 of docs/design.md). Shared by the slack queue, the CacheOPT allocators, the
// proactive reserver and the SLO victim selector; the rule itself (CriticalConfig) is held
// once per bundle (bundle_rules.hpp).
#pragma once
#include <cstdint>
#include <limits>

#include "kvsched/core/request.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Deadline of a request's next output token (s, same clock as arrival_s):
///   before its first token:  arrival_s + slo.ttft_s   (TTFT deadline)
///   after it:                last_token_s + slo.tbt_s  (TBT deadline of the next gap)
/// +infinity when that SLO is unset (<= 0). Static while the request waits, so a queue
/// ordered by it stays ordered.
[[nodiscard]] inline double next_token_deadline_s(const Request& r) {
  constexpr double kNever = std::numeric_limits<double>::infinity();
  if (r.num_generated == 0) return r.spec.slo.ttft_s > 0 ? r.spec.arrival_s + r.spec.slo.ttft_s : kNever;
  return r.spec.slo.tbt_s > 0 ? r.last_token_s + r.spec.slo.tbt_s : kNever;
}

/// Slack of a request at `now_s` (s): time left before its next token misses its SLO
/// (TTFT slack for a request without output yet, TBT slack after). Negative = already late.
[[nodiscard]] inline double slack_s(const Request& r, double now_s) { return next_token_deadline_s(r) - now_s; }

/// True when `r`'s slack is at most kappa x the largest iteration time observed so far
/// (SchedulerView::max_iteration_s): its next token is due within one more iteration.
[[nodiscard]] inline bool is_critical(const Request& r, const SchedulerView& v, const CriticalConfig& c) {
  return c.enabled && slack_s(r, v.now_s) <= c.kappa * v.max_iteration_s;
}

/// is_critical() under the bundle's rule (SchedulerView::rules().critical).
[[nodiscard]] inline bool is_critical(const Request& r, const SchedulerView& v) { return is_critical(r, v, v.rules().critical); }

}  // namespace kvsched
