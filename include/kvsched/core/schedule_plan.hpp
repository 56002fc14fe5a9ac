// kvsched/core/schedule_plan.hpp: what Scheduler::schedule() returns for one iteration and
// what the engine reports back (docs/design.md section 2).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "kvsched/core/types.hpp"

namespace kvsched {

/// One request in this iteration's batch.
///   | computed (num_computed_before) | num_tokens scheduled now | rest |
/// A decode has num_tokens == 1 and is_prefill == false.
struct ScheduledRequest {
  RequestId id = 0;
  std::int32_t num_tokens = 0;           // tokens computed this step (chunk, or 1 for a decode)
  std::int32_t num_computed_before = 0;  // context already in the KV cache (tokens)
  bool is_prefill = false;               // prefill chunk (or recompute) vs decode
  bool samples_token = false;            // this step completes the sequence: an output token follows
};

/// A request preempted this iteration.
struct Preemption {
  RequestId id = 0;
  PreemptionMode mode = PreemptionMode::kRecompute;
  std::int32_t context_tokens = 0;  // KV tokens dropped (recompute) or moved (swap)
};

/// A request that leaves the scheduler without finishing normally.
struct Rejection {
  RequestId id = 0;
  std::string reason;
};

/// The scheduler's decision for one iteration. The engine applies swap_out, then swap_in,
/// then copy, then runs the forward pass over `scheduled` (block tables from the scheduler's
/// BlockManager), then calls on_step_done(). Lists are in application order.
struct SchedulePlan {
  double now_s = 0.0;
  std::vector<ScheduledRequest> scheduled;   // the batch (prefill chunks and decodes)
  std::vector<BlockCopy> swap_out;           // (device block, host block) pairs
  std::vector<BlockCopy> swap_in;            // (host block, device block) pairs
  std::vector<BlockCopy> copy;               // (device src, device dst) copy-on-write pairs
  std::vector<Preemption> preempted;         // preempted this iteration, in order
  std::vector<Rejection> rejected;           // rejected this iteration (can never fit, ...)
  std::vector<RequestId> finished;           // finished by the previous step's results

  [[nodiscard]] bool empty() const { return scheduled.empty(); }
  /// Empties every list and resets the time, keeping the lists' capacity (a scheduler reuses
  /// one plan from step to step instead of allocating its lists again).
  void clear() {
    now_s = 0.0;
    scheduled.clear();
    swap_out.clear();
    swap_in.clear();
    copy.clear();
    preempted.clear();
    rejected.clear();
    finished.clear();
  }
  /// Tokens in the forward pass (sum of num_tokens).
  [[nodiscard]] std::int64_t num_batched_tokens() const {
    std::int64_t n = 0;
    for (const auto& s : scheduled) n += s.num_tokens;
    return n;
  }
};

/// Per-request outcome of one executed iteration, reported by the engine.
struct StepOutput {
  RequestId id = 0;
  bool eos = false;  // the sampled token ended the sequence (stop token); max_tokens is the scheduler's
};

/// A block whose contents the engine could not write: the destination of a swap_out,
/// swap_in or copy pair that failed (a copy error, an unreachable host buffer).
struct LostBlock {
  Pool pool = Pool::kDevice;  // kHost for a failed swap_out's destination
  BlockId block = kNoBlock;
  friend bool operator==(const LostBlock&, const LostBlock&) = default;
};

/// What the engine reports after running a plan. Outputs are needed only for requests that
/// finished by a stop token: every scheduled request with samples_token gets one token.
/// lost_blocks: destinations of the plan's block moves that failed; every request holding
/// one falls back to recompute (its KV is dropped, it waits again at the front of the queue,
/// and its output token of this step, if any, is not counted), and no prefix-cache lookup
/// finds the lost device blocks again. Nothing else is lost.
struct StepResult {
  double now_s = 0.0;               // time the step completed (s); output tokens are stamped with it
  std::vector<StepOutput> outputs;  // EOS signals (others may be omitted)
  std::vector<LostBlock> lost_blocks{};  // failed block moves of the plan (fault handling)
};

}  // namespace kvsched
