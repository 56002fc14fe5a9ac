// kvsched/policy/allocator/full_length_allocator.hpp: reserve prompt + max_tokens up front.
#pragma once
#include <algorithm>
#include <optional>

#include "kvsched/policy/concepts.hpp"

namespace kvsched {

/// Promises the blocks of the whole sequence, prompt + max_tokens, at admission, so a running
/// request can always grow to completion. TensorRT-LLM's GUARANTEED_NO_EVICT capacity
/// scheduler (cpp/tensorrt_llm/batch_manager/capacityScheduler.cpp) admits this way.
struct FullLengthAllocator {
  [[nodiscard]] std::optional<AdmissionGrant> admit(const Request& r, std::int32_t blocks_now, const LengthEstimate&,
                                                    const SchedulerView& v) const {
    // The last output token is sampled, never written to the KV cache.
    const std::int64_t tokens = static_cast<std::int64_t>(r.spec.prompt_tokens) + r.spec.max_tokens - 1;
    const auto full = static_cast<std::int32_t>(blocks_for_tokens(tokens, v.blocks->block_size()));
    return AdmissionGrant{std::max(full, blocks_now), std::nullopt, 0};
  }
};

}  // namespace kvsched
