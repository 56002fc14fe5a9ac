// kvsched/policy/mode/latency_mode_chooser.hpp: swap or recompute, whichever is faster
// (CacheOPT, docs/design.md section 3.2.7).
#pragma once
#include <cstdint>

#include "kvsched/policy/common/preemption_cost.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

enum class ModeRule : std::uint8_t {
  kLatency,    // swap iff predicted swap time (out + in) < predicted recompute time
  kThreshold,  // swap iff context L > threshold_tokens (the paper's profiled crossover L*)
};

struct LatencyModeConfig {
  ModeRule rule = ModeRule::kLatency;
  std::int32_t threshold_tokens = 1024;  // L* for kThreshold (tokens)
  PreemptionCostConfig cost{};           // cache-aware recompute cost (preemption_cost.hpp)
};

/// For a victim with context L (tokens):
///   swap time      = 2 x (per-transfer latency + L x kv_bytes_per_token / host bandwidth)
///   recompute time = prefill time of the L - cached tokens after `cached` ones (cached = 0
///                    without prefix caching; with it, expected_cached_after_recompute)
/// kLatency picks the smaller; kThreshold swaps iff L > L*. Recompute whenever the host pool
/// lacks room for the victim's blocks (the scheduler falls back to it too).
struct LatencyModeChooser {
  LatencyModeConfig config{};

  [[nodiscard]] PreemptionMode choose(const Request& victim, const SchedulerView& v) const {
    const PreemptionCost pc = preemption_cost(victim, v, config.cost);
    if (!pc.swap_possible) return PreemptionMode::kRecompute;
    if (config.rule == ModeRule::kThreshold)
      return pc.context_tokens > config.threshold_tokens ? PreemptionMode::kSwap : PreemptionMode::kRecompute;
    return pc.swap_s < pc.recompute_s ? PreemptionMode::kSwap : PreemptionMode::kRecompute;
  }
};

}  // namespace kvsched
