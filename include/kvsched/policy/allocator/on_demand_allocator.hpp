// kvsched/policy/allocator/on_demand_allocator.hpp: blocks only for this step's tokens.
#pragma once
#include <optional>

#include "kvsched/policy/concepts.hpp"

namespace kvsched {

/// Promises nothing beyond the blocks this step materialises; a request grows one block at a
/// time as tokens arrive. vLLM v0/v1, Sarathi-Serve and SGLang allocate this way
/// (vllm/v1/core/kv_cache_manager.py allocate_slots).
struct OnDemandAllocator {
  [[nodiscard]] std::optional<AdmissionGrant> admit(const Request&, std::int32_t blocks_now, const LengthEstimate&,
                                                    const SchedulerView&) const {
    return AdmissionGrant{blocks_now, std::nullopt, 0};
  }
};

}  // namespace kvsched
