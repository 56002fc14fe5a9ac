// kvsched/serve/executor.hpp: what runs a scheduler's plan in the server: the emulated GPU
// (latency model, serve/emulated_executor.hpp) or a real model on the CPU backend
// (serve/model_executor.hpp). The serving loop (serve/serving_engine.hpp) is
//   scheduler.schedule() -> plan -> Executor::execute (swap_out, swap_in, copy, forward,
//   sample) -> StepResult -> scheduler.on_step_done().
#pragma once
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/core/types.hpp"
#include "kvsched/serve/sampler.hpp"

namespace kvsched::serve {

/// One request of an iteration, with what a forward pass needs.
///   token_ids: | computed (num_computed_before) | num_tokens computed now | (rest) |
struct SequenceStep {
  RequestId id = 0;
  std::span<const std::int32_t> token_ids;  // the whole sequence so far: prompt, then generated tokens
  std::int32_t num_computed_before = 0;     // tokens whose K/V are in the cache
  std::int32_t num_tokens = 0;              // tokens computed this step
  bool samples_token = false;               // sample one token from the last position's logits
  std::span<const BlockId> block_table;     // device blocks in token order (>= the step's tokens)
  Sampler* sampler = nullptr;               // the request's sampler (set when samples_token)
};

/// One iteration: the plan (its swap_out / swap_in / copy lists) and its batch, in plan order.
struct StepBatch {
  const SchedulePlan* plan = nullptr;
  std::int32_t block_size = 16;  // tokens per KV block
  std::vector<SequenceStep> seqs;
};

/// Runs iterations and owns the tokenizer of what it serves. Called from the engine thread
/// only (no locking needed inside).
class Executor {
 public:
  virtual ~Executor() = default;
  /// The id served at /v1/models.
  [[nodiscard]] virtual std::string model_name() const = 0;
  /// One line for the start banner (what runs, on what).
  [[nodiscard]] virtual std::string describe() const = 0;
  /// Context length (prompt + output tokens) the executor can run.
  [[nodiscard]] virtual std::int32_t max_model_len() const = 0;
  /// Tokens the model knows (ids are 0 .. vocab_size - 1).
  [[nodiscard]] virtual std::int32_t vocab_size() const = 0;
  /// Token ids of `text`.
  [[nodiscard]] virtual std::vector<std::int32_t> encode(std::string_view text) const = 0;
  /// Bytes of one token (may be part of a UTF-8 character).
  [[nodiscard]] virtual std::string decode(std::int32_t token) const = 0;
  /// The end-of-sequence token, if the model has one.
  [[nodiscard]] virtual std::optional<std::int32_t> eos_token() const = 0;
  /// Applies the plan's swap_out, swap_in and copy, runs the forward pass over batch.seqs and
  /// returns one sampled token per sequence with samples_token, in batch order.
  virtual std::vector<std::int32_t> execute(const StepBatch& batch) = 0;
};

}  // namespace kvsched::serve
