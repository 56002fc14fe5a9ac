// kvsched/policy/victim/last_admitted_victim.hpp: preempt the most recently admitted request.
#pragma once
#include <span>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Victim = the tail of the running queue (the most recently admitted request not yet
/// scheduled this step), possibly the needy request itself. vLLM v1 `self.running.pop()`
/// and vLLM v0 `running_queue.pop()`.
struct LastAdmittedVictim {
  [[nodiscard]] Request* select(std::span<Request* const> candidates, const Request&, const SchedulerView&) const {
    return candidates.empty() ? nullptr : candidates.back();
  }
};

}  // namespace kvsched
