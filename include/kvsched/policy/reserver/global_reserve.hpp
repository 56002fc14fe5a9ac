// kvsched/policy/reserver/global_reserve.hpp: size of CacheOPT's global KV reserve, the
// blocks that new admissions may not take (design.md section 3.2.4).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kvsched/scheduler/scheduler_view.hpp"

namespace kvsched {

/// How the global reserve G is sized.
enum class GlobalReserveRule : std::uint8_t {
  kPoolFraction,       // G = ceil(fraction x device pool blocks) (ours, default 5%)
  kExpectedOvershoot,  // G = ceil(overshoot_probability x sum over running requests of the blocks
                       //     between their reservation and prompt + max_tokens) (ours)
};

/// Configuration of the global reserve. The allocator and the reserver of a CacheOPT preset
/// each hold one; the presets give both the same value (the allocator needs it to know when
/// free blocks are short and a host's unused reservation should be tried instead).
struct GlobalReserveConfig {
  bool enabled = true;                 // false: G = 0 (ablation "no reserve")
  GlobalReserveRule rule = GlobalReserveRule::kPoolFraction;
  double fraction = 0.05;              // of the device pool (kPoolFraction)
  double overshoot_probability = 0.1;  // chance a running request outgrows its reservation (kExpectedOvershoot)
};

/// G in blocks for the current state. kPoolFraction is O(1); kExpectedOvershoot is
/// O(running requests) (one reservation lookup each).
[[nodiscard]] inline std::int32_t global_reserve_blocks(const GlobalReserveConfig& c, const SchedulerView& v) {
  if (!c.enabled) return 0;
  if (c.rule == GlobalReserveRule::kPoolFraction)
    return static_cast<std::int32_t>(std::ceil(c.fraction * v.blocks->num_device_blocks()));
  const std::int32_t bs = v.blocks->block_size();
  double over = 0;
  for (const Request* r : v.running) {
    const auto full = blocks_for_tokens(static_cast<std::int64_t>(r->spec.prompt_tokens) + r->spec.max_tokens - 1, bs);
    const std::int64_t have = std::max(v.blocks->reservation(r->id()), v.blocks->num_held(r->id()));
    over += static_cast<double>(std::max<std::int64_t>(0, full - have));
  }
  return static_cast<std::int32_t>(std::ceil(c.overshoot_probability * over));
}

}  // namespace kvsched
