// kvsched/policy/mode/fixed_mode.hpp: one preemption mode for every victim.
#pragma once
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Always the configured mode. vLLM v1, Sarathi-Serve and SGLang recompute. vLLM v0 recomputes
/// single-sequence groups and swaps multi-sequence ones (beam search, n > 1); kvsched requests
/// are single sequences, so vLLM v0 recomputes unless `preemption_mode=swap` is forced, as
/// the engine allows. The scheduler recomputes anyway when the host pool is full.
struct FixedModeChooser {
  PreemptionMode mode = PreemptionMode::kRecompute;
  [[nodiscard]] PreemptionMode choose(const Request&, const SchedulerView&) const { return mode; }
};

}  // namespace kvsched
