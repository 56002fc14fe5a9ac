// CacheOPT decision costs (docs/design.md section 3.2) and whole iterations under KV pressure.
//
// BM_CacheoptIteration/<preset>/256/4096: one engine iteration (schedule + on_step_done, EOS at
//   each request's true length, finished requests replaced by new arrivals) with about 256
//   running and 4,096 waiting requests, in a KV pool sized so that the running requests fill it:
//   every step tries to admit the head of the queue, finds the free blocks short and searches
//   for an embedding host. (BM_Schedule/<preset> in bench_scheduler.cpp is the same loop with
//   max_num_seqs = 256 and ample KV.)
//   Counters p50_us / p99_us: median and 99th percentile of the single-iteration times.
// BM_Cacheopt{Estimate,HostIndexBuild,BestFitSearch,VictimSelect,ModeChoice}: one decision, on
//   the state reached by that loop (history estimator trained by 2,000 warm-up iterations).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <kvsched/kvsched.hpp>
#include <kvsched/presets/cacheopt.hpp>

namespace {

using kvsched::Request;
using kvsched::RequestSpec;

kvsched::LatencyModel bench_latency() {
  // Llama-2-7B-like round numbers (A100): only the shape matters here.
  return kvsched::LatencyModel({.cpu_overhead_s = 0.004, .linear_base_s = 0.01, .linear_s_per_token = 5e-5, .pivot_tokens = 256,
                                .prefill_attn_s_per_pair = 1e-10, .decode_attn_s_per_ctx_token = 1e-8, .swap_latency_s = 1e-4,
                                .swap_bytes_per_s = 25e9, .kv_bytes_per_token = 524288});
}

/// A KV-limited engine loop over Scheduler<P>.
template <class P>
struct Loop {
  std::unique_ptr<kvsched::Scheduler<P>> s;
  std::mt19937_64 rng{42};
  kvsched::RequestId next_id = 1;
  double t = 0.0;
  kvsched::StepResult res;

  RequestSpec spec() {
    std::uniform_int_distribution<std::int32_t> prompt(64, 1024), out(16, 512), cls(0, 1);
    RequestSpec r;
    r.id = next_id++;
    r.arrival_s = t;
    r.prompt_tokens = prompt(rng);
    r.max_tokens = 512;
    r.oracle_output_tokens = out(rng);
    r.class_id = static_cast<std::uint16_t>(cls(rng));
    r.slo = r.class_id == 0 ? kvsched::Slo{2.0, 0.1} : kvsched::Slo{5.0, 0.25};
    return r;
  }
  void step() {
    const kvsched::SchedulePlan& plan = s->schedule(t);
    t += 0.02;
    res.now_s = t;
    res.outputs.clear();
    for (const auto& sr : plan.scheduled) {
      if (!sr.samples_token) continue;
      const Request* r = s->find(sr.id);
      if (r->num_generated + 1 >= *r->spec.oracle_output_tokens) res.outputs.push_back({sr.id, true});
    }
    s->on_step_done(res);
    const std::size_t done = s->take_terminal().size();
    for (std::size_t i = 0; i < done; ++i) s->add_request(spec());
  }
};

template <class P>
Loop<P> make_loop(std::int32_t running, std::int32_t waiting) {
  kvsched::EngineConfig e;
  e.block_size = 16;
  e.num_device_blocks = running * 56;  // about the padded demand of `running` requests
  e.num_host_blocks = running * 16;
  e.max_num_seqs = running * 4;        // KV, not max_num_seqs, limits admission
  e.max_num_batched_tokens = 2048;
  e.max_model_len = 2048;
  Loop<P> f;
  f.s = std::make_unique<kvsched::Scheduler<P>>(e, bench_latency());
  for (std::int32_t i = 0; i < running + waiting; ++i) f.s->add_request(f.spec());
  for (int i = 0; i < 2000; ++i) f.step();
  return f;
}

template <class P>
void BM_CacheoptIteration(benchmark::State& state) {
  Loop<P> f = make_loop<P>(static_cast<std::int32_t>(state.range(0)), static_cast<std::int32_t>(state.range(1)));
  std::vector<double> us;  // each iteration's own time, for its median and tail
  us.reserve(1 << 16);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    f.step();
    if (us.size() < us.capacity()) us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  if (!us.empty()) {
    state.counters["p50_us"] = us[us.size() / 2];
    state.counters["p99_us"] = us[us.size() * 99 / 100];
  }
  state.counters["running"] = static_cast<double>(f.s->running().size());
  state.counters["waiting"] = static_cast<double>(f.s->waiting().size());
  state.counters["preempt"] = static_cast<double>(f.s->stats().preemptions_recompute + f.s->stats().preemptions_swap);
  if constexpr (requires { f.s->policies().allocator.num_guests(); })
    state.counters["guests"] = static_cast<double>(f.s->policies().allocator.num_guests());
}

// The decision benchmarks share one warmed-up cacheopt loop.
Loop<kvsched::presets::cacheopt>& warm() {
  static Loop<kvsched::presets::cacheopt> f = make_loop<kvsched::presets::cacheopt>(256, 4096);
  return f;
}

void BM_CacheoptEstimate(benchmark::State& state) {
  auto& f = warm();
  const kvsched::SchedulerView v = f.s->view();
  const auto& est = f.s->policies().estimator;
  std::size_t i = 0;
  for (auto _ : state) {
    const Request& r = *v.waiting[i++ % v.waiting.size()];
    benchmark::DoNotOptimize(est.estimate(r, v));
  }
  state.counters["history"] = static_cast<double>(est.base.num_samples());
  state.counters["R"] = est.padding.range();
}

void BM_CacheoptHostIndexBuild(benchmark::State& state) {
  auto& f = warm();
  const kvsched::SchedulerView v = f.s->view();
  kvsched::EmbeddingHostIndex idx;
  for (auto _ : state) {
    idx.build(v.running, *v.blocks, 2, [](const Request&) { return true; });
    benchmark::DoNotOptimize(idx.size());
  }
  state.counters["running"] = static_cast<double>(v.running.size());
  state.counters["hosts"] = static_cast<double>(idx.size());
}

void BM_CacheoptBestFitSearch(benchmark::State& state) {
  auto& f = warm();
  const kvsched::SchedulerView v = f.s->view();
  const auto& alloc = f.s->policies().allocator;
  const auto& est = f.s->policies().estimator;
  std::size_t i = 0, found = 0;
  for (auto _ : state) {  // the index is built by the first call of the step, then searched
    const Request& r = *v.waiting[i++ % 64];
    const kvsched::LengthEstimate e = est.estimate(r, v);
    const auto lent = static_cast<std::int32_t>(kvsched::blocks_for_tokens(r.spec.prompt_tokens + static_cast<std::int64_t>(e.upper), 16));
    found += alloc.find_host(r, lent, e, v) != nullptr;
  }
  state.counters["found"] = benchmark::Counter(static_cast<double>(found), benchmark::Counter::kAvgIterations);
}

void BM_CacheoptVictimSelect(benchmark::State& state) {
  auto& f = warm();
  const kvsched::SchedulerView v = f.s->view();
  const auto& victim = f.s->policies().victim;
  for (auto _ : state) benchmark::DoNotOptimize(victim.select(v.running, *v.running.front(), v));
  state.counters["candidates"] = static_cast<double>(v.running.size());
}

void BM_CacheoptModeChoice(benchmark::State& state) {
  auto& f = warm();
  const kvsched::SchedulerView v = f.s->view();
  const auto& mode = f.s->policies().mode;
  std::size_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(mode.choose(*v.running[i++ % v.running.size()], v));
}

}  // namespace

BENCHMARK(BM_CacheoptIteration<kvsched::presets::cacheopt>)->Name("BM_CacheoptIteration/cacheopt")->Args({256, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CacheoptIteration<kvsched::presets::cacheopt_peak>)->Name("BM_CacheoptIteration/cacheopt_peak")->Args({256, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CacheoptIteration<kvsched::presets::oracle>)->Name("BM_CacheoptIteration/oracle")->Args({256, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CacheoptIteration<kvsched::presets::vllm_v1>)->Name("BM_CacheoptIteration/vllm_v1")->Args({256, 4096})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CacheoptEstimate);
BENCHMARK(BM_CacheoptHostIndexBuild);
BENCHMARK(BM_CacheoptBestFitSearch);
BENCHMARK(BM_CacheoptVictimSelect)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CacheoptModeChoice);
