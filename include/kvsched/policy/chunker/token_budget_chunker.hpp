// kvsched/policy/chunker/token_budget_chunker.hpp: a fixed token budget per iteration.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Token budget = `budget` (0: the engine's max_num_batched_tokens). With chunked prefill a
/// prefill takes min(uncomputed, budget left) (vLLM v1, Sarathi-Serve with budget 512);
/// without it a prompt runs whole or not at all, and the budget is raised to max_model_len
/// so every prompt fits (vLLM v0 requires max_num_batched_tokens >= max_model_len then).
struct TokenBudgetChunker {
  std::int32_t budget = 0;     // tokens per iteration; 0 = EngineConfig.max_num_batched_tokens
  bool chunked_prefill = true;

  [[nodiscard]] std::int32_t token_budget(const SchedulerView& v) const {
    const std::int32_t b = budget > 0 ? budget : v.engine->max_num_batched_tokens;
    return chunked_prefill ? b : std::max(b, v.engine->max_model_len);
  }
  [[nodiscard]] std::int32_t chunk(const Request&, std::int32_t uncomputed, const SchedulerView& v) const {
    if (chunked_prefill) return std::min(uncomputed, v.token_budget_left);
    return uncomputed <= v.token_budget_left ? uncomputed : 0;
  }
};

}  // namespace kvsched
