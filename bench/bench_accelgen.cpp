// bench/bench_accelgen.cpp: AccelGen policy costs (docs/design.md section 3.3): the token budget,
// a chunk, the multi-resource batch selection, the SLO queue, and whole scheduler iterations
// with 256 running and 4,096 waiting requests. Target: a whole accelgen iteration under 50 us
// median on a 2-core machine. Results and the command: bench/README.md.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/policy/batch/multi_resource_batch.hpp"
#include "kvsched/policy/chunker/slo_dynamic_chunker.hpp"
#include "kvsched/policy/queue/slo_slack_queue.hpp"
#include "kvsched/presets/accelgen.hpp"
#include "kvsched/presets/baselines.hpp"
#include "kvsched/scheduler/scheduler.hpp"

namespace {

using namespace kvsched;

/// A plausible 7B-on-A100-like model (hand-set, not fitted: only the cost of the policies is
/// measured here, not their outcome).
LatencyCoeffs bench_coeffs() {
  return {.cpu_overhead_s = 0.003, .linear_base_s = 0.010, .linear_s_per_token = 6e-5, .pivot_tokens = 384,
          .prefill_attn_s_per_pair = 3e-10, .decode_attn_s_per_seq = 2e-5, .decode_attn_s_per_ctx_token = 1.5e-8,
          .kv_bytes_per_token = 524288};
}

EngineConfig bench_engine() {
  EngineConfig e;
  e.block_size = 16;
  e.num_device_blocks = 1 << 16;  // 1M tokens: 256 requests of up to 5k tokens fit, so 256 run
  e.max_num_seqs = 256;
  e.max_num_batched_tokens = 8192;
  e.max_model_len = 8192;
  return e;
}

/// Three SLO classes: chat (tightest), summarisation (long prompt), translation (long output).
/// TBT SLOs loose enough for 256 requests to run at once in steady state (bench_coeffs()).
RequestSpec random_spec(std::mt19937_64& rng, RequestId id, double arrival) {
  RequestSpec s;
  s.id = id;
  s.arrival_s = arrival;
  switch (rng() % 3) {
    case 0: s.prompt_tokens = 50 + static_cast<std::int32_t>(rng() % 1000), s.max_tokens = 20 + static_cast<std::int32_t>(rng() % 400), s.slo = {1.0, 0.25}; break;
    case 1: s.prompt_tokens = 1500 + static_cast<std::int32_t>(rng() % 2500), s.max_tokens = 10 + static_cast<std::int32_t>(rng() % 300), s.slo = {15.0, 0.4}; break;
    default: s.prompt_tokens = 300 + static_cast<std::int32_t>(rng() % 1200), s.max_tokens = 200 + static_cast<std::int32_t>(rng() % 800), s.slo = {5.0, 0.5}; break;
  }
  s.oracle_output_tokens = s.max_tokens;
  return s;
}

/// Hand-built state: `running` decodes and `waiting` queued requests, with a view over them.
struct State {
  EngineConfig eng = bench_engine();
  BlockManager blocks{eng.block_size, eng.num_device_blocks, 0, false};
  LatencyModel lm{bench_coeffs()};
  std::deque<Request> store;
  std::vector<Request*> running, waiting, cands;
  SloSlackQueue queue;

  State(std::size_t n_running, std::size_t n_waiting) {
    std::mt19937_64 rng(42);
    for (std::size_t i = 0; i < n_running + n_waiting; ++i) {
      Request r;
      r.spec = random_spec(rng, i, 0.001 * static_cast<double>(i));
      store.push_back(r);
      Request& q = store.back();
      if (i < n_running) {
        q.state = RequestState::kRunning;
        q.num_generated = 1 + static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(q.spec.max_tokens));
        q.num_computed_tokens = q.num_tokens() - 1;
        q.last_token_s = 1.0;
        if (!blocks.allocate_slots(q.id(), q.num_computed_tokens)) throw std::runtime_error("bench pool too small");
        running.push_back(&q);
      } else {
        waiting.push_back(&q);
        queue.on_enqueue(q, view(0));
      }
    }
    queue.candidates(cands, view(0));
  }
  [[nodiscard]] SchedulerView view(std::int32_t budget_left) const {
    return make_view(2.0, eng, blocks, lm, {.running = running, .waiting = waiting, .candidates = cands}, budget_left);
  }
};

/// begin_step() + token_budget(): the per-step SLO, pending decodes and budget search.
void BM_AccelgenBudget(benchmark::State& st) {
  State s(static_cast<std::size_t>(st.range(0)), static_cast<std::size_t>(st.range(1)));
  SloDynamicChunker ch;
  std::int32_t budget = 0;
  for (auto _ : st) {
    ch.begin_step(s.view(0));
    budget = ch.token_budget(s.view(0));
    benchmark::DoNotOptimize(budget);
  }
  st.counters["budget_tokens"] = budget;
}
BENCHMARK(BM_AccelgenBudget)->Args({256, 4096});

/// chunk() of a long prompt: the short-prompt reserve and the SLO binary search.
void BM_AccelgenChunk(benchmark::State& st) {
  State s(static_cast<std::size_t>(st.range(0)), static_cast<std::size_t>(st.range(1)));
  SloDynamicChunker ch;
  ch.begin_step(s.view(0));
  const std::int32_t budget = ch.token_budget(s.view(0));
  Request lng;
  // More urgent than every short candidate (no short-prompt reserve): the SLO binary search runs.
  lng.spec = RequestSpec{.id = 1u << 30, .arrival_s = 0.0, .prompt_tokens = 6000, .max_tokens = 100, .slo = {0.5, 0.4}};
  std::int32_t c = 0;
  for (auto _ : st) {
    c = ch.chunk(lng, 6000, s.view(budget));
    benchmark::DoNotOptimize(c);
  }
  st.counters["chunk_tokens"] = c;
  st.counters["budget_tokens"] = budget;
}
BENCHMARK(BM_AccelgenChunk)->Args({256, 4096});

/// MultiResourceBatch::select over the queue's candidates (64), with the KV growth of the
/// running requests.
void BM_MultiResourceSelect(benchmark::State& st) {
  State s(static_cast<std::size_t>(st.range(0)), static_cast<std::size_t>(st.range(1)));
  MultiResourceBatch b;
  std::vector<Request*> c;
  for (auto _ : st) {
    c = s.cands;
    b.select(c, s.view(2048));
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["candidates"] = static_cast<double>(s.cands.size());
  st.counters["selected"] = static_cast<double>(c.size());
}
BENCHMARK(BM_MultiResourceSelect)->Args({256, 4096});

/// SloSlackQueue::candidates with 4,096 waiting requests in three SLO classes.
void BM_SloQueueCandidates(benchmark::State& st) {
  State s(0, static_cast<std::size_t>(st.range(0)));
  std::vector<Request*> out;
  for (auto _ : st) {
    s.queue.candidates(out, s.view(0));
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_SloQueueCandidates)->Arg(4096);

/// One dequeue and one enqueue (an admission and an arrival) with 4,096 waiting.
void BM_SloQueueEnqueueDequeue(benchmark::State& st) {
  State s(0, static_cast<std::size_t>(st.range(0)));
  std::size_t i = 0;
  for (auto _ : st) {
    Request& r = *s.waiting[i++ % s.waiting.size()];
    s.queue.on_dequeue(r);
    s.queue.on_enqueue(r, s.view(0));
  }
}
BENCHMARK(BM_SloQueueEnqueueDequeue)->Arg(4096);

/// Whole scheduler iterations in steady state: schedule() + on_step_done() + the arrivals
/// (add_request) that keep `waiting` requests queued and take_terminal(), with up to `running`
/// running (max_num_seqs); third argument: prefix caching on (1, as the accelgen and vllm_v1
/// presets run) or off (0: without the core's prefix-cache hash map, the policies' share
/// shows). The engine's part (EOS, the clock) is not timed. Reports the median and p99 of the
/// per-iteration time.
template <class P>
void BM_Iteration(benchmark::State& st) {
  const auto n_running = static_cast<std::int32_t>(st.range(0));
  const auto n_waiting = static_cast<std::size_t>(st.range(1));
  EngineConfig e = bench_engine();
  e.max_num_seqs = n_running;
  e.enable_prefix_caching = st.range(2) != 0;
  const LatencyModel lm(bench_coeffs());
  Scheduler<P> s(e, lm);
  std::mt19937_64 rng(7);
  RequestId next = 0;
  double now = 0.0;
  const auto refill = [&] {
    while (s.waiting().size() < n_waiting) s.add_request(random_spec(rng, next++, now));
  };
  StepResult result;
  const auto run_step = [&](bool timed, std::vector<double>* times) {
    const auto t0 = std::chrono::steady_clock::now();
    const SchedulePlan& plan = s.schedule(now);
    const auto t1 = std::chrono::steady_clock::now();
    // Engine side (not timed): EOS at the true length, the clock.
    result.outputs.clear();
    for (const auto& sr : plan.scheduled) {
      if (!sr.samples_token) continue;
      const Request* r = s.find(sr.id);
      if (r->num_generated + 1 >= *r->spec.oracle_output_tokens) result.outputs.push_back({sr.id, true});
    }
    now += std::max(1e-4, lm.iteration_s(batch_shape_of(plan)));
    result.now_s = now;
    const auto t2 = std::chrono::steady_clock::now();
    s.on_step_done(result);
    (void)s.take_terminal();
    refill();
    const auto t3 = std::chrono::steady_clock::now();
    const double dt = std::chrono::duration<double>((t1 - t0) + (t3 - t2)).count();
    if (timed) times->push_back(dt);
    return dt;
  };
  refill();
  // Warm up until the batch is full.
  for (int i = 0; i < 20000 && static_cast<std::int32_t>(s.running().size()) < n_running; ++i) run_step(false, nullptr);
  for (int i = 0; i < 200; ++i) run_step(false, nullptr);
  std::vector<double> times;
  times.reserve(1 << 16);
  for (auto _ : st) st.SetIterationTime(run_step(true, &times));
  std::sort(times.begin(), times.end());
  if (!times.empty()) {
    st.counters["p50_us"] = times[times.size() / 2] * 1e6;
    st.counters["p99_us"] = times[times.size() * 99 / 100] * 1e6;
  }
  st.counters["running"] = static_cast<double>(s.running().size());
  st.counters["waiting"] = static_cast<double>(s.waiting().size());
}
BENCHMARK(BM_Iteration<presets::accelgen>)->Name("BM_Iteration/accelgen")->Args({256, 4096, 1})->Args({256, 4096, 0})->UseManualTime()->MinTime(2.0);
BENCHMARK(BM_Iteration<presets::accelgen_oracle>)->Name("BM_Iteration/accelgen_oracle")->Args({256, 4096, 1})->UseManualTime()->MinTime(2.0);
BENCHMARK(BM_Iteration<presets::vllm_v1>)->Name("BM_Iteration/vllm_v1")->Args({256, 4096, 1})->Args({256, 4096, 0})->UseManualTime()->MinTime(2.0);
BENCHMARK(BM_Iteration<presets::sarathi>)->Name("BM_Iteration/sarathi")->Args({256, 4096, 0})->UseManualTime()->MinTime(2.0);

}  // namespace
