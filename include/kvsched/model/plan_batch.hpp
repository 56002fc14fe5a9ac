// kvsched/model/plan_batch.hpp: turns a SchedulePlan into the model's batched forward and runs
// one engine iteration on the CPU backend (apply the plan's data movement, then forward).
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/model/llama_model.hpp"

namespace kvsched::model {

/// The forward batch of `plan`: for each ScheduledRequest (in plan order), tokens
/// [num_computed_before, num_computed_before + num_tokens) of its sequence (prompt then
/// generated tokens, from tokens_of(id) -> std::span<const std::int32_t>), its device block
/// table from `bm`. The spans point into the caller's sequences and bm's tables: use the batch
/// before either changes. Throws std::logic_error naming the request when its sequence is
/// shorter than the plan says (an output token not appended yet).
template <class TokensOf>
[[nodiscard]] std::vector<SequenceStep> batch_from_plan(const SchedulePlan& plan, const BlockManager& bm, TokensOf&& tokens_of) {
  std::vector<SequenceStep> batch;
  batch.reserve(plan.scheduled.size());
  for (const ScheduledRequest& sr : plan.scheduled) {
    const std::span<const std::int32_t> seq = tokens_of(sr.id);
    const std::int64_t end = std::int64_t{sr.num_computed_before} + sr.num_tokens;
    if (sr.num_tokens < 1 || sr.num_computed_before < 0 || end > static_cast<std::int64_t>(seq.size()))
      throw std::logic_error("batch_from_plan: request " + std::to_string(sr.id) + " scheduled tokens [" +
                             std::to_string(sr.num_computed_before) + ", " + std::to_string(end) + ") of a sequence of " +
                             std::to_string(seq.size()) + " tokens");
    batch.push_back({sr.id, seq.subspan(static_cast<std::size_t>(sr.num_computed_before), static_cast<std::size_t>(sr.num_tokens)),
                     sr.num_computed_before, bm.block_table(sr.id)});
  }
  return batch;
}

/// One engine iteration: backend.apply(plan) (swap_out, swap_in, copy), then the forward pass
/// over batch_from_plan(). Row b of last_logits belongs to plan.scheduled[b]; only rows with
/// samples_token are next-token scores of a complete sequence.
template <class TokensOf>
[[nodiscard]] ForwardOutput run_plan(const LlamaModel& model, CpuBackend& backend, const SchedulePlan& plan, const BlockManager& bm,
                                     TokensOf&& tokens_of, bool all_logits = false) {
  backend.apply(plan);
  const auto batch = batch_from_plan(plan, bm, tokens_of);
  return model.forward(batch, backend, all_logits);
}

/// Index of the largest logit of `row` (lowest index on ties): greedy sampling.
template <class Row>
[[nodiscard]] std::int32_t argmax(const Row& row) {
  Eigen::Index i = 0;
  row.maxCoeff(&i);
  return static_cast<std::int32_t>(i);
}

}  // namespace kvsched::model
