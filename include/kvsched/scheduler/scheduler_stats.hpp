// kvsched/scheduler/scheduler_stats.hpp: counters a scheduler keeps for reports.
#pragma once
#include <cstdint>

namespace kvsched {

/// Cumulative counters since construction (docs/design.md section 4 metrics).
struct SchedulerStats {
  std::int64_t iterations = 0;               // schedule() calls that produced a non-empty batch
  std::int64_t preemptions_recompute = 0;    // victims preempted by recompute
  std::int64_t preemptions_swap = 0;         // victims preempted by swap
  std::int64_t recomputed_tokens = 0;        // KV tokens dropped by recompute preemptions
  std::int64_t prefix_cache_hit_tokens = 0;  // prompt tokens served from the prefix cache
  std::int64_t swapped_out_blocks = 0;       // device->host block copies
  std::int64_t swapped_in_blocks = 0;        // host->device block copies
  std::int64_t rejected = 0;                 // requests rejected (never fit, too long, ...)
  std::int64_t kv_fault_recomputes = 0;      // requests recomputed because a block move of theirs failed (StepResult::lost_blocks)
};

}  // namespace kvsched
