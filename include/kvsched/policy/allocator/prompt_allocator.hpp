// kvsched/policy/allocator/prompt_allocator.hpp: reserve the whole prompt at admission.
#pragma once
#include <algorithm>
#include <optional>

#include "kvsched/policy/concepts.hpp"

namespace kvsched {

/// Promises the blocks of the request's whole sequence so far (its prompt; prompt + outputs
/// for a recomputed request, whose outputs are prefilled again) at admission, however small
/// its first chunk; output tokens then grow on demand, one block at a time. Sarathi-Serve
/// allocates this way (`sarathi/core/block_space_manager/base_block_space_manager.py`
/// `can_allocate` / `allocate`: every logical block of the prompt), as does Vidur's Sarathi
/// scheduler (`vidur/scheduler/replica_scheduler/sarathi_replica_scheduler.py`
/// `_can_allocate_request` / `_allocate_request`: ceil(num_prefill_tokens / block_size), with
/// restarted requests' prefill covering their decoded tokens).
struct PromptAllocator {
  [[nodiscard]] std::optional<AdmissionGrant> admit(const Request& r, std::int32_t blocks_now, const LengthEstimate&,
                                                    const SchedulerView& v) const {
    const auto prompt = static_cast<std::int32_t>(blocks_for_tokens(r.num_tokens(), v.blocks->block_size()));
    return AdmissionGrant{std::max(prompt, blocks_now), std::nullopt, 0};
  }
};

}  // namespace kvsched
