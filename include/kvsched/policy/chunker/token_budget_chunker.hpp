// kvsched/policy/chunker/token_budget_chunker.hpp: a fixed token budget per iteration.
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Token budget = `budget` (0: the engine's max_num_batched_tokens, which the preset's
/// EngineDefaults fill when the caller leaves it unset). With chunked prefill a prefill takes
/// min(uncomputed, budget left) (vLLM v1, Sarathi-Serve); without it a prompt runs whole or
/// not at all, and prompts longer than the budget are rejected (prompt_limit: vLLM v0
/// `vllm/core/scheduler.py` `Scheduler._get_prompt_limit` = min(max_model_len,
/// max_num_batched_tokens); vLLM v0's default budget is max(max_model_len, 2048) then).
struct TokenBudgetChunker {
  std::int32_t budget = 0;     // tokens per iteration; 0 = EngineConfig.max_num_batched_tokens
  bool chunked_prefill = true;

  [[nodiscard]] std::int32_t token_budget(const SchedulerView& v) const {
    return budget > 0 ? budget : v.engine->max_num_batched_tokens;
  }
  [[nodiscard]] std::int32_t chunk(const Request&, std::int32_t uncomputed, const SchedulerView& v) const {
    if (chunked_prefill) return std::min(uncomputed, v.token_budget_left);
    return uncomputed <= v.token_budget_left ? uncomputed : 0;
  }
  /// Longest prompt this chunker can ever schedule (tokens).
  [[nodiscard]] std::int32_t prompt_limit(const SchedulerView& v) const {
    return chunked_prefill ? std::numeric_limits<std::int32_t>::max() : token_budget(v);
  }
};

}  // namespace kvsched
