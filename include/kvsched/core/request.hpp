// kvsched/core/request.hpp: a request and its progress (docs/design.md section 2).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvsched/core/types.hpp"

namespace kvsched {

/// Lifecycle of a request inside the scheduler.
///   waiting --admit--> running --finish--> finished
///      ^  \                |  \--swap--> swapped --swap in--> running
///      |   \--reject       \--recompute--> preempted (waits again, re-prefills)
///   abort from any live state -> aborted
enum class RequestState : std::uint8_t {
  kWaiting, kRunning, kSwapped, kPreempted, kFinished, kAborted, kRejected,
};

[[nodiscard]] constexpr const char* to_string(RequestState s) {
  switch (s) {
    case RequestState::kWaiting: return "waiting";
    case RequestState::kRunning: return "running";
    case RequestState::kSwapped: return "swapped";
    case RequestState::kPreempted: return "preempted";
    case RequestState::kFinished: return "finished";
    case RequestState::kAborted: return "aborted";
    case RequestState::kRejected: return "rejected";
  }
  return "?";
}

[[nodiscard]] constexpr bool is_terminal(RequestState s) {
  return s == RequestState::kFinished || s == RequestState::kAborted || s == RequestState::kRejected;
}

/// What the caller knows of a request when it arrives (docs/design.md section 2).
struct RequestSpec {
  RequestId id = 0;
  double arrival_s = 0.0;           // arrival time (s), same clock as schedule(now)
  std::int32_t prompt_tokens = 0;   // prompt length (tokens), >= 1
  std::int32_t max_tokens = 0;      // output cap (tokens), >= 1
  Slo slo{};                        // TTFT and TBT targets (s)
  std::uint16_t class_id = 0;       // workload class tag (index into the caller's class list)
  /// Output length predicted by an external model (tokens); read by the `external` estimator.
  std::optional<std::int32_t> predicted_output_tokens{};
  /// True output length (tokens), known only to a simulator; read by the `oracle` estimators.
  /// The scheduler never uses it to finish a request: the engine reports EOS in StepResult.
  std::optional<std::int32_t> oracle_output_tokens{};
  /// Prefix-content ids, one per `content_block_tokens` prompt tokens (e.g. Mooncake's
  /// hash_ids, 512 tokens each). Equal leading ids = shareable prefix KV. Empty = the prompt
  /// is unique to this request (it can still re-hit its own cached blocks after preemption).
  std::vector<std::uint64_t> content_ids{};
  std::int32_t content_block_tokens = 512;  // tokens per content id
};

/// A request with its progress; owned by the scheduler, read by policies and callers.
struct Request {
  // Layout (ours): the fields a step reads first, then the spec (whose first 42 bytes, id ..
  // class_id, are read every step), then the rest, so that a pass over the running requests
  // touches two cache lines per request rather than four or five.
  RequestState state = RequestState::kWaiting;
  std::int32_t num_computed_tokens = 0;  // tokens whose KV is in the cache (prefill progress)
  std::int32_t num_generated = 0;        // output tokens produced so far
  std::uint64_t sched_mark = 0;          // scheduler bookkeeping: step in which it was last scheduled
  double last_token_s = -1.0;            // time of the latest output token (s)
  double max_token_gap_s = 0.0;          // largest gap between two consecutive output tokens so far (s)
  std::vector<double> token_times_s{};   // [num_generated] time of each output token (s)
  RequestSpec spec;
  std::int32_t num_preemptions = 0;      // times preempted (either mode)
  std::int32_t num_cached_prompt_tokens = 0;  // tokens served by prefix-cache hits (all admissions)
  double admitted_s = -1.0;              // time of the latest admission (s), -1 = never
  std::string reject_reason{};           // why, when state == kRejected

  [[nodiscard]] RequestId id() const { return spec.id; }
  /// Total tokens of the sequence so far (prompt + generated). As in vLLM v1, a step that
  /// brings num_computed_tokens up to num_tokens() samples one new output token:
  ///   | computed KV | uncomputed (prefill chunk, or the 1 decode token) | -> next token
  [[nodiscard]] std::int32_t num_tokens() const { return spec.prompt_tokens + num_generated; }
  /// Tokens still to compute before the next output token (>= 1 for a live request).
  [[nodiscard]] std::int32_t num_uncomputed() const { return num_tokens() - num_computed_tokens; }
  /// True while the next step is a prefill (first admission, or re-prefill after recompute),
  /// false when it is a single decode token.
  [[nodiscard]] bool is_prefilling() const { return num_generated == 0 || num_uncomputed() > 1; }
  /// Output tokens still allowed by max_tokens.
  [[nodiscard]] std::int32_t remaining_max_tokens() const { return spec.max_tokens - num_generated; }
};

}  // namespace kvsched
