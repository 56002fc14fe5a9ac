// kvsched/policy/reserver/watermark_reserver.hpp: admission headroom of vLLM v0.
#pragma once
#include <cmath>
#include <cstdint>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Admits a request only if, after taking its blocks, at least `watermark` x device pool
/// blocks stay available. vLLM v0 BlockSpaceManager.can_allocate with watermark = 0.01;
/// watermark = 0 reproduces vLLM v1 (no headroom). Growth of running requests may use
/// every block.
struct WatermarkReserver {
  double watermark = 0.01;  // fraction of the device pool kept free at admission

  [[nodiscard]] std::int32_t watermark_blocks(const SchedulerView& v) const {
    return static_cast<std::int32_t>(std::ceil(watermark * v.blocks->num_device_blocks()));
  }
  [[nodiscard]] bool can_admit(const Request&, std::int32_t new_blocks, const SchedulerView& v) const {
    return v.blocks->available() - new_blocks >= watermark_blocks(v);
  }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }
};

}  // namespace kvsched
