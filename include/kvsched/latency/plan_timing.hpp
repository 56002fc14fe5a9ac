// kvsched/latency/plan_timing.hpp: how long one iteration running a SchedulePlan takes, as the
// latency model predicts it: the forward pass over the plan's batch plus its swap transfers.
// The simulator, the server, the examples and the tests all time plans with these.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/latency/batch_shape.hpp"
#include "kvsched/latency/latency_model.hpp"

namespace kvsched {

/// Shape of a plan's forward pass, as LatencyModel reads it: each prefill chunk (num_tokens)
/// after its cached context (num_computed_before), each decode over its context.
[[nodiscard]] inline BatchShape batch_shape_of(const SchedulePlan& plan) {
  BatchShape b;
  for (const auto& s : plan.scheduled) {
    if (s.is_prefill) {
      b.add_prefill(s.num_tokens, s.num_computed_before);
    } else {
      b.add_decode(s.num_computed_before);
    }
  }
  return b;
}

/// Predicted time of a plan's swap transfers (s): one host<->device copy call per direction
/// that has blocks, each moving its blocks x `block_bytes` (bytes per KV block: block size in
/// tokens x LatencyModel::kv_bytes_per_token()). 0 when the plan swaps nothing.
[[nodiscard]] inline double plan_swap_s(const SchedulePlan& plan, const LatencyModel& lm, std::int64_t block_bytes) {
  const auto out_bytes = static_cast<std::int64_t>(plan.swap_out.size()) * block_bytes;
  const auto in_bytes = static_cast<std::int64_t>(plan.swap_in.size()) * block_bytes;
  return lm.swap_s(out_bytes) + lm.swap_s(in_bytes);
}

/// Predicted duration of one iteration running `plan` (s): forward time of batch_shape_of(plan)
/// plus plan_swap_s(); with `overlap_swap` (swaps on their own stream, ours) the larger of the
/// two instead of their sum.
[[nodiscard]] inline double plan_time_s(const SchedulePlan& plan, const LatencyModel& lm, std::int64_t block_bytes,
                                        bool overlap_swap = false) {
  const double compute = lm.iteration_s(batch_shape_of(plan));
  const double swap = plan_swap_s(plan, lm, block_bytes);
  return overlap_swap ? std::max(compute, swap) : compute + swap;
}

}  // namespace kvsched
