// kvsched/policy/common/global_reserve.hpp: size of CacheOPT's global KV reserve, the
// blocks that new admissions may not take (docs/design.md section 3.2.4). Its configuration
// (GlobalReserveConfig) is held once per bundle (bundle_rules.hpp).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// G in blocks for the current state. kPoolFraction is O(1); kExpectedOvershoot is
/// O(running requests) (one reservation lookup each). 0 while no request runs or is swapped
/// out (ours): the reserve is for the growth of admitted requests, and with none it protects
/// nothing; keeping it then would reject a request that needs the whole pool (prompt + output
/// = max_model_len = the pool), which vLLM serves.
[[nodiscard]] inline std::int32_t global_reserve_blocks(const GlobalReserveConfig& c, const SchedulerView& v) {
  if (!c.enabled) return 0;
  if (v.running.empty() && v.swapped.empty()) return 0;
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

/// G in blocks under the bundle's rule (SchedulerView::rules().reserve).
[[nodiscard]] inline std::int32_t global_reserve_blocks(const SchedulerView& v) { return global_reserve_blocks(v.rules().reserve, v); }

}  // namespace kvsched
