// tests/accelgen_test_util.hpp: fixtures shared by the AccelGen tests: a hand-set latency
// model, hand-built scheduler views, and a minimal engine loop (a simulator in miniature).
#pragma once
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <random>
#include <stdexcept>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/scheduler/scheduler.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched::testing {

/// t(F) = 2 ms + 8 ms + 20 us x max(F, 256) (+ the optional attention terms). Linear ops only
/// by default, so that budgets and chunks are easy to compute by hand.
inline LatencyCoeffs linear_coeffs() {
  return {.cpu_overhead_s = 0.002, .linear_base_s = 0.008, .linear_s_per_token = 2e-5, .pivot_tokens = 256, .kv_bytes_per_token = 1024};
}
/// The same with attention terms, as a fitted profile would have them.
inline LatencyCoeffs attention_coeffs() {
  LatencyCoeffs c = linear_coeffs();
  c.prefill_attn_s_per_pair = 2e-9;
  c.decode_attn_s_per_seq = 5e-5;
  c.decode_attn_s_per_ctx_token = 3e-8;
  c.kv_bytes_per_token = 131072;  // Llama-3-8B
  c.swap_latency_s = 1e-5;
  c.swap_bytes_per_s = 25e9;      // PCIe 4 x16
  return c;
}

inline EngineConfig engine(std::int32_t blocks = 4096, std::int32_t budget = 8192, std::int32_t block_size = 16) {
  EngineConfig e;
  e.block_size = block_size;
  e.num_device_blocks = blocks;
  e.max_num_batched_tokens = budget;
  e.max_model_len = 8192;
  e.max_num_seqs = 256;
  return e;
}

inline RequestSpec spec(RequestId id, std::int32_t prompt, std::int32_t out, double ttft, double tbt, double arrival = 0.0) {
  return {.id = id, .arrival_s = arrival, .prompt_tokens = prompt, .max_tokens = out, .slo = {ttft, tbt}, .oracle_output_tokens = out};
}

/// Ids of `rs`, in order.
inline std::vector<RequestId> ids(const std::vector<Request*>& rs) {
  std::vector<RequestId> out;
  for (const Request* r : rs) out.push_back(r->id());
  return out;
}

/// Ids of the waiting requests queue `q` offers this step (IncrementalQueue::candidates), in order.
template <class Queue>
std::vector<RequestId> candidates(Queue& q, const SchedulerView& v) {
  std::vector<Request*> out;
  q.candidates(out, v);
  return ids(out);
}

/// Requests and a view over them, built by hand.
struct ViewFixture {
  EngineConfig eng;
  BlockManager blocks;
  LatencyModel lm;
  std::deque<Request> store;
  std::vector<Request*> running, waiting, swapped, cands;

  explicit ViewFixture(const EngineConfig& e = engine(), const LatencyCoeffs& c = linear_coeffs())
      : eng(e), blocks(e.block_size, e.num_device_blocks, e.num_host_blocks, false), lm(c) {}

  /// A request with `computed` tokens in the KV cache and `generated` output tokens.
  Request& add(const RequestSpec& s, RequestState state, std::int32_t computed = 0, std::int32_t generated = 0,
               double last_token_s = -1.0) {
    Request* p = &store.emplace_back(Request{.state = state, .num_computed_tokens = computed, .num_generated = generated,
                                             .last_token_s = last_token_s, .spec = s});
    if (state == RequestState::kRunning) running.push_back(p);
    else if (state == RequestState::kSwapped) swapped.push_back(p);
    else waiting.push_back(p);
    return *p;
  }
  [[nodiscard]] SchedulerView view(double now = 0.0, std::int32_t budget_left = 0) const {
    return make_view(now, eng, blocks, lm, {running, waiting, swapped, cands}, budget_left);
  }
};

/// Result of drive().
struct DriveResult {
  std::size_t finished = 0;
  std::size_t steps = 0;
  double end_s = 0.0;
};

/// Replays `specs` (sorted by arrival) through `s` until every request has ended: a
/// simulator in miniature. Each step takes lm.iteration_s() of its batch; a request ends at its
/// oracle_output_tokens. `on_plan(plan)` sees every plan before it runs; the block manager's
/// invariants are checked after every step. Throws std::runtime_error when the scheduler
/// stops making progress or takes more than max_steps steps.
template <class S>
DriveResult drive(S& s, const std::vector<RequestSpec>& specs, const LatencyModel& lm,
                  const std::function<void(const SchedulePlan&)>& on_plan = {}, std::size_t max_steps = 200000) {
  DriveResult res;
  double now = 0.0;
  std::size_t next = 0;
  while (next < specs.size() || s.num_unfinished() > 0) {
    while (next < specs.size() && specs[next].arrival_s <= now) s.add_request(specs[next++]);
    const SchedulePlan& plan = s.schedule(now);
    if (plan.empty()) {
      if (next < specs.size()) {
        now = std::max(now, specs[next].arrival_s);
        continue;
      }
      if (s.num_unfinished() > 0) throw std::runtime_error("scheduler is stuck: nothing scheduled, nothing to arrive");
      break;
    }
    if (on_plan) on_plan(plan);
    StepResult result;
    for (const auto& sr : plan.scheduled) {
      if (!sr.samples_token) continue;
      const Request* r = s.find(sr.id);
      if (r->num_generated + 1 >= r->spec.oracle_output_tokens.value_or(r->spec.max_tokens)) result.outputs.push_back({sr.id, true});
    }
    now += lm.iteration_s(batch_shape_of(plan));
    result.now_s = now;
    s.on_step_done(result);
    s.block_manager().check_invariants();
    for (const Request& r : s.take_terminal()) res.finished += r.state == RequestState::kFinished;
    if (++res.steps > max_steps) throw std::runtime_error("too many steps");
  }
  res.end_s = now;
  return res;
}

}  // namespace kvsched::testing
