// kvsched/policy/scheduler_view.hpp: the read-only state every policy call receives, and
// make_view(), the one place that assembles it (Scheduler::view(), test fixtures, benches).
#pragma once
#include <cstdint>
#include <span>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"

namespace kvsched {

/// Output-length estimate of one request (CacheOPT section 3.2.1), in output tokens.
struct LengthEstimate {
  double point = 0.0;  // x_hat: expected total output tokens
  double upper = 0.0;  // x_tilde: bound that holds with the estimator's target probability, <= max_tokens
};

/// Snapshot handed to policies during schedule() and on_step_done(). Spans stay valid for
/// the duration of one policy call only.
struct SchedulerView {
  double now_s = 0.0;                         // current time (s)
  const EngineConfig* engine = nullptr;       // limits
  const BlockManager* blocks = nullptr;       // pools, tables, reservations
  const LatencyModel* latency = nullptr;      // iteration / prefill / swap time predictor
  std::span<Request* const> running;         // running requests, admission order
  std::span<Request* const> waiting;         // waiting (new and recompute-preempted), queue order
  std::span<Request* const> swapped;         // swapped out, swap order
  double arrival_rate_rps = 0.0;              // sliding-window arrival rate (requests/s)
  double max_iteration_s = 0.0;               // largest iteration time observed so far (s)
  std::int32_t token_budget_left = 0;         // tokens still free in this iteration's forward
  std::int32_t seqs_left = 0;                 // requests that may still join this iteration's batch (max_num_seqs)
  /// The bundle's estimator, type-erased so that any policy can ask for a request's current
  /// estimate (CacheOPT's top-up re-estimates, its victim order reads remaining output). Set
  /// by bind_estimator() (Scheduler::view() binds the bundle's); null in hand-built views
  /// (then estimate() falls back to max_tokens).
  const void* estimator_ctx = nullptr;
  LengthEstimate (*estimator_fn)(const void* ctx, const Request& r, const SchedulerView& v) = nullptr;
  /// The bundle's shared rules (critical requests, global reserve); null = kDefaultBundleRules.
  const BundleRules* bundle_rules = nullptr;

  /// Output-length estimate of `r` (total output tokens, given r.num_generated so far) by the
  /// bundle's estimator; {max_tokens, max_tokens} when none is bound.
  [[nodiscard]] LengthEstimate estimate(const Request& r) const {
    if (estimator_fn == nullptr) return {static_cast<double>(r.spec.max_tokens), static_cast<double>(r.spec.max_tokens)};
    return estimator_fn(estimator_ctx, r, *this);
  }
  /// Binds `est` (any Estimator, which must outlive the view) as the view's estimator.
  template <class E>
  void bind_estimator(const E& est) {
    estimator_ctx = &est;
    estimator_fn = [](const void* e, const Request& r, const SchedulerView& sv) { return static_cast<const E*>(e)->estimate(r, sv); };
  }
  /// The rules every slot of the bundle reads (bundle_rules.hpp).
  [[nodiscard]] const BundleRules& rules() const { return bundle_rules != nullptr ? *bundle_rules : kDefaultBundleRules; }
  /// This step's admission candidates, in queue order, when the queue policy keeps them
  /// incrementally (the optional `candidates` hook, e.g. SloSlackQueue); empty otherwise.
  /// Produced at the start of the step, before the token budget is computed.
  std::span<Request* const> candidates;
};

/// The request queues a view shows, in the orders SchedulerView documents.
struct ViewQueues {
  std::span<Request* const> running{};
  std::span<Request* const> waiting{};
  std::span<Request* const> swapped{};
  std::span<Request* const> candidates{};
};

/// Assembles a view at `now_s` (s) over an engine's limits, block manager and latency model,
/// with `token_budget_left` tokens and `seqs_left` batch slots still free. The referenced
/// objects must outlive the view. Estimator, rules, arrival rate and largest iteration time
/// stay unset (the caller binds what it has).
[[nodiscard]] inline SchedulerView make_view(double now_s, const EngineConfig& engine, const BlockManager& blocks,
                                             const LatencyModel& latency, const ViewQueues& queues,
                                             std::int32_t token_budget_left = 0, std::int32_t seqs_left = 0) {
  SchedulerView v;
  v.now_s = now_s;
  v.engine = &engine;
  v.blocks = &blocks;
  v.latency = &latency;
  v.running = queues.running;
  v.waiting = queues.waiting;
  v.swapped = queues.swapped;
  v.candidates = queues.candidates;
  v.token_budget_left = token_budget_left;
  v.seqs_left = seqs_left;
  return v;
}

}  // namespace kvsched
