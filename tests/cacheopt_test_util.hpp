// tests/cacheopt_test_util.hpp: helpers for the CacheOPT policy tests: hand-built scheduler
// views over a BlockManager, and a fake engine loop that drives a Scheduler<P> to completion.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/scheduler/scheduler.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched::test {

/// A request in state running with `computed` tokens in the KV cache (prompt fully computed,
/// `generated` output tokens) and an oracle length, for hand-built views.
inline Request running_request(RequestId id, std::int32_t prompt, std::int32_t generated, std::int32_t oracle,
                               std::int32_t max_tokens = 4000) {
  return {.state = RequestState::kRunning,
          .num_computed_tokens = prompt + generated - (generated > 0 ? 1 : 0),
          .num_generated = generated,
          .spec = {.id = id, .prompt_tokens = prompt, .max_tokens = max_tokens, .oracle_output_tokens = oracle}};
}

/// A view over `bm` with `running` and `waiting` requests, the whole token budget and every
/// batch slot free.
inline SchedulerView make_view(const BlockManager& bm, const EngineConfig& engine, const LatencyModel& lm,
                               std::span<Request* const> running, std::span<Request* const> waiting = {}, double now = 0.0) {
  return kvsched::make_view(now, engine, bm, lm, {.running = running, .waiting = waiting}, engine.max_num_batched_tokens, engine.max_num_seqs);
}

/// A latency model with round numbers: prefill and decode cost `per_token_s` per token (no
/// pivot, no attention term), swap moves `kv_bytes_per_token` bytes per token at
/// `bytes_per_s` with `swap_latency_s` per transfer.
inline LatencyModel simple_latency(double per_token_s = 1e-4, double swap_latency_s = 0.01, double bytes_per_s = 1e8,
                                   std::int64_t kv_bytes_per_token = 1000) {
  return LatencyModel({.linear_s_per_token = per_token_s, .swap_latency_s = swap_latency_s, .swap_bytes_per_s = bytes_per_s,
                       .kv_bytes_per_token = kv_bytes_per_token});
}

/// A 100-block pool of 16-token blocks (no host pool, no prefix caching) with running requests
/// placed by hand, and views over it that bind the fixture's estimator (true lengths, no
/// padding) and bundle rules (critical requests off unless a test turns them on).
struct PoolFixture {
  EngineConfig engine = EngineConfig{.num_device_blocks = 100}.resolved();  // 256 seqs, 2048 tokens
  LatencyModel lm = simple_latency();
  BlockManager bm{16, 100, 0, false};
  std::vector<Request*> running;
  PaddedEstimator<OracleEstimator> est{{}, HoeffdingPadding({.enabled = false})};
  BundleRules rules{.critical = {.enabled = false}};

  [[nodiscard]] SchedulerView view(double now = 0.0) const {
    SchedulerView v = make_view(bm, engine, lm, running, {}, now);
    v.bind_estimator(est);
    v.bundle_rules = &rules;
    return v;
  }
};

/// Outcome of a fake-engine run.
struct RunResult {
  std::map<RequestId, Request> finished;  // every terminal request, by id
  std::int64_t steps = 0;
  double end_s = 0.0;
};

/// Drives `s` like an engine: adds requests at their arrival, schedules, advances the clock by
/// `step_s` per iteration, reports EOS when a request's sampled token is its
/// oracle_output_tokens-th, and calls `after_step` (e.g. BlockManager::check_invariants) after
/// every on_step_done. Throws std::runtime_error if the scheduler stops making progress or
/// exceeds `max_steps`.
template <class P>
RunResult run_fake_engine(Scheduler<P>& s, std::vector<RequestSpec> specs, double step_s, std::int64_t max_steps,
                          const std::function<void(const Scheduler<P>&, const SchedulePlan&)>& after_step = {}) {
  std::sort(specs.begin(), specs.end(), [](const RequestSpec& a, const RequestSpec& b) { return a.arrival_s < b.arrival_s; });
  RunResult out;
  std::size_t next = 0;
  double now = 0.0;
  while (next < specs.size() || s.num_unfinished() > 0) {
    while (next < specs.size() && specs[next].arrival_s <= now) s.add_request(specs[next++]);
    const SchedulePlan& plan = s.schedule(now);
    if (plan.scheduled.empty() && plan.swap_out.empty() && plan.swap_in.empty()) {
      for (Request& r : s.take_terminal()) out.finished.emplace(r.id(), std::move(r));
      if (next < specs.size()) {
        now = std::max(now, specs[next].arrival_s);
        continue;
      }
      if (s.num_unfinished() > 0) throw std::runtime_error("scheduler stuck at t=" + std::to_string(now));
      break;
    }
    StepResult res;
    now += step_s;
    res.now_s = now;
    for (const ScheduledRequest& sr : plan.scheduled) {
      if (!sr.samples_token) continue;
      const Request* r = s.find(sr.id);
      if (r != nullptr && r->spec.oracle_output_tokens && r->num_generated + 1 >= *r->spec.oracle_output_tokens)
        res.outputs.push_back({sr.id, true});
    }
    s.on_step_done(res);
    if (after_step) after_step(s, plan);
    for (Request& r : s.take_terminal()) out.finished.emplace(r.id(), std::move(r));
    if (++out.steps > max_steps) throw std::runtime_error("fake engine: more than " + std::to_string(max_steps) + " steps");
  }
  out.end_s = now;
  return out;
}

}  // namespace kvsched::test
