// kvsched/policy/victim/never_preempt.hpp: no preemption.
#pragma once
#include <span>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Never preempts: a request that cannot grow waits for the step. TensorRT-LLM
/// GUARANTEED_NO_EVICT relies on full reservations so this never stalls anyone.
struct NeverPreempt {
  [[nodiscard]] Request* select(std::span<Request* const>, const Request&, const SchedulerView&) const { return nullptr; }
};

}  // namespace kvsched
