// kvsched/policy/common/preemption_cost.hpp: predicted cost of preempting a running request by
// swap or by recompute (CacheOPT, docs/design.md sections 3.2.6-3.2.7), shared by the mode chooser
// and the victim order.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kvsched/core/request.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

struct PreemptionCostConfig {
  /// With prefix caching on, recompute pays only for the part of the context expected to be
  /// evicted before the victim is re-admitted (ours, beyond the paper).
  bool cache_aware_recompute = true;
  /// Iterations assumed between the preemption and the re-admission: the running requests
  /// allocate about horizon x running / block_size blocks meanwhile (ours).
  double horizon_iterations = 32.0;
};

/// Costs of one candidate victim, in seconds of GPU time.
struct PreemptionCost {
  std::int32_t context_tokens = 0;          // L: KV tokens the victim holds (num_computed_tokens)
  std::int32_t expected_cached_tokens = 0;  // of L, expected to be a prefix-cache hit at re-admission
  double swap_s = 0.0;                      // L x kv_bytes_per_token out now and in later, plus per-transfer latency
  double recompute_s = 0.0;                 // prefill of the L - cached tokens after the cached ones
  bool swap_possible = false;               // the host pool has room for the victim's blocks

  /// Preemption time of the cheaper feasible mode (s).
  [[nodiscard]] double best_s() const { return swap_possible ? std::min(swap_s, recompute_s) : recompute_s; }
};

/// Tokens of `victim`'s context expected to be re-hit in the prefix cache when it is re-admitted
/// after a recompute preemption now (0 without prefix caching or with cache_aware off).
/// Model (ours), following BlockPool's LRU: freeing the victim puts its partial and unhashed
/// blocks with the clean free blocks and its full (hashed) blocks at the LRU tail, last block
/// first, so evictions reach its tail before its prefix. New allocations take clean blocks
/// first, then the LRU head. With D = 1 + horizon x running / block_size blocks allocated
/// before re-admission, E = D - clean free - cached free ahead of the victim's blocks of them
/// evict the victim's blocks; the first (full - E) blocks survive:
///   cached = min((full - clamp(E, 0, full)) x block_size, len - 1)
[[nodiscard]] inline std::int32_t expected_cached_after_recompute(const Request& victim, const SchedulerView& v,
                                                                  const PreemptionCostConfig& c) {
  const BlockManager& bm = *v.blocks;
  if (!c.cache_aware_recompute || !bm.prefix_caching() || !bm.has(victim.id())) return 0;
  const std::int32_t bs = bm.block_size();
  const std::int32_t held = bm.num_held(victim.id());
  const std::int32_t full = std::min(victim.num_computed_tokens / bs, held);
  const std::int64_t cached_free = bm.device_pool().num_cached_free();
  const std::int64_t clean_after = (bm.num_free_device() - cached_free) + (held - full);
  const auto demand = static_cast<std::int64_t>(
      std::ceil(1.0 + c.horizon_iterations * static_cast<double>(v.running.size()) / static_cast<double>(bs)));
  const std::int64_t evicted = std::clamp<std::int64_t>(demand - clean_after - cached_free, 0, full);
  const std::int64_t cached = (full - evicted) * bs;
  return static_cast<std::int32_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(cached, victim.num_tokens() - 1)));
}

/// Swap and recompute costs of preempting `victim` now (latency model of the view).
[[nodiscard]] inline PreemptionCost preemption_cost(const Request& victim, const SchedulerView& v, const PreemptionCostConfig& c) {
  PreemptionCost pc;
  pc.context_tokens = victim.num_computed_tokens;
  pc.expected_cached_tokens = std::min(pc.context_tokens, expected_cached_after_recompute(victim, v, c));
  pc.swap_s = v.latency->swap_round_trip_s(pc.context_tokens);
  pc.recompute_s = pc.context_tokens > pc.expected_cached_tokens
                       ? v.latency->prefill_s(pc.context_tokens - pc.expected_cached_tokens, pc.expected_cached_tokens)
                       : 0.0;
  const BlockManager& bm = *v.blocks;
  const std::int32_t held = bm.has(victim.id()) ? bm.num_held(victim.id()) : 0;
  pc.swap_possible = bm.num_host_blocks() > 0 && bm.num_free_host() >= held;
  return pc;
}

}  // namespace kvsched
