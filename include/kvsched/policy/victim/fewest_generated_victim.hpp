// kvsched/policy/victim/fewest_generated_victim.hpp: SGLang's retraction order.
#pragma once
#include <span>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Victim = the request with the fewest generated tokens, ties to the longest prompt, then
/// the latest admitted. SGLang ScheduleBatch.retract_decode sorts by (len(output_ids),
/// -len(origin_input_ids)) and retracts from the end.
struct FewestGeneratedVictim {
  [[nodiscard]] Request* select(std::span<Request* const> candidates, const Request&, const SchedulerView&) const {
    Request* best = nullptr;
    for (Request* r : candidates) {
      if (!best || r->num_generated < best->num_generated ||
          (r->num_generated == best->num_generated && r->spec.prompt_tokens >= best->spec.prompt_tokens))
        best = r;
    }
    return best;
  }
};

}  // namespace kvsched
