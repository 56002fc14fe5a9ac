// kvsched/policy/reserver/watermark_reserver.hpp: admission headroom of vLLM v0.
#pragma once
#include <cstdint>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Admits a request only if, after taking its blocks, at least `watermark` x device pool
/// blocks (truncated) stay available: vLLM v0 `vllm/core/block_manager.py`
/// `BlockSpaceManager.can_allocate` with `watermark_blocks = int(watermark * num_gpu_blocks)`
/// (default 0.01), as Sarathi-Serve's block manager and Vidur's vLLM and Sarathi schedulers
/// (`_can_allocate_request`) do. Growth of running requests may use every block.
struct WatermarkReserver {
  double watermark = 0.01;  // fraction of the device pool kept free at admission

  [[nodiscard]] std::int32_t watermark_blocks(const SchedulerView& v) const {
    return static_cast<std::int32_t>(watermark * v.blocks->num_device_blocks());
  }
  [[nodiscard]] bool can_admit(const Request&, std::int32_t new_blocks, const SchedulerView& v) const {
    return v.blocks->available() - new_blocks >= watermark_blocks(v);
  }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }
};

}  // namespace kvsched
