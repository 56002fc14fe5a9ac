// kvsched/policy/allocator/estimated_demand_allocator.hpp: reserve the padded estimated
// demand at admission (CacheOPT, docs/design.md section 3.2.2).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>

#include "kvsched/policy/common/slo_slack.hpp"
#include "kvsched/policy/concepts.hpp"

namespace kvsched {

/// Blocks promised to `r` at admission, from its padded estimate x_tilde = est.upper:
///   | prompt (+ generated, after a recompute) | x_tilde - generated output tokens |
///   reserve = ceil((prompt + x_tilde - 1) / block_size)   (the last sampled token is never
///   written to the KV cache, as in FullLengthAllocator)
/// A critical request (see slo_slack.hpp) gets only its current length plus B tokens, so it
/// can start at once (CacheOPT section 3.2.5): min(reserve, ceil((len + B) / block_size)).
/// Never less than the blocks of its current length.
[[nodiscard]] inline std::int32_t estimated_demand_blocks(const Request& r, const LengthEstimate& est, const SchedulerView& v,
                                                          const CriticalConfig& critical) {
  const std::int32_t bs = v.blocks->block_size();
  const std::int64_t len = r.num_tokens();
  const auto upper = static_cast<std::int64_t>(std::ceil(est.upper));
  std::int64_t tokens = std::max(len, static_cast<std::int64_t>(r.spec.prompt_tokens) + upper - 1);
  if (is_critical(r, v, critical)) tokens = std::min(tokens, len + critical.boost(bs));
  return static_cast<std::int32_t>(blocks_for_tokens(tokens, bs));
}

/// Allocator that promises each admitted request its padded estimated demand
/// (estimated_demand_blocks) and lends nothing: CacheOPT's allocation without reuse
/// (ablation "no reuse" uses EmbeddingAllocator with reuse off, which behaves the same).
struct EstimatedDemandAllocator {
  [[nodiscard]] std::optional<AdmissionGrant> admit(const Request& r, std::int32_t blocks_now, const LengthEstimate& est,
                                                    const SchedulerView& v) const {
    return AdmissionGrant{std::max(blocks_now, estimated_demand_blocks(r, est, v, v.rules().critical)), std::nullopt, 0};
  }
};

}  // namespace kvsched
