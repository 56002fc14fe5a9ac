// kvsched-sim throughput: the whole Azure conv trace (19,366 requests) under vllm_v1, 1x, 2x
// and 4x the trace (copies end to end), llama2-7b on h100-80g (the CLI default). Reported
// per run: simulate() time, and the metrics pass apart. Figures: bench/README.md.
#include <benchmark/benchmark.h>

#include "azure_conv_setup.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/data_dir.hpp"
#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"

namespace {

/// BM_SimAzureConv/vllm_v1/<copies>: simulate() of the conv trace repeated `copies` times.
void BM_SimAzureConv(benchmark::State& state) {
  const auto& s = kvsched::bench::azure_conv_setup();
  const auto reqs = kvsched::sim::repeat_requests(s.conv, static_cast<int>(state.range(0)));
  std::int64_t tokens = 0;
  for (auto _ : state) {
    auto sched = kvsched::make_scheduler("vllm_v1", s.engine, s.lm);
    const auto r = kvsched::sim::simulate(*sched, reqs, s.lm, kvsched::sim::sim_options(16));
    tokens = 0;
    for (const auto& o : r.outcomes) tokens += o.generated();
    benchmark::DoNotOptimize(r.outcomes.data());
  }
  state.counters["requests"] = static_cast<double>(reqs.specs.size());
  state.counters["tokens"] = static_cast<double>(tokens);
  state.counters["requests_per_s"] =
      benchmark::Counter(static_cast<double>(reqs.specs.size()), benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_SimAzureConv)->Name("BM_SimAzureConv/vllm_v1")->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

/// BM_SimMetrics/<copies>: compute_metrics() over the outcomes of one such run.
void BM_SimMetrics(benchmark::State& state) {
  const auto& s = kvsched::bench::azure_conv_setup();
  const auto reqs = kvsched::sim::repeat_requests(s.conv, static_cast<int>(state.range(0)));
  auto sched = kvsched::make_scheduler("vllm_v1", s.engine, s.lm);
  const auto r = kvsched::sim::simulate(*sched, reqs, s.lm, kvsched::sim::sim_options(16));
  for (auto _ : state) {
    const auto m = kvsched::sim::compute_metrics(r.outcomes);
    benchmark::DoNotOptimize(m.tbt_s.p99);
  }
}
BENCHMARK(BM_SimMetrics)->Arg(1)->Arg(2)->Arg(4)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
