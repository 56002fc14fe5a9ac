// Cluster simulation throughput: the Azure conv trace (19,366 requests) replayed k x faster on
// R replicas behind least_loaded, vllm_v1 on each, llama2-7b on h100-80g (the CLI default),
// the replicas advanced on T threads (ClusterOptions::threads).
// BM_ClusterAzureConv/<replicas>/<rate x>/<copies>/<threads>. Figures: bench/README.md.
#include <benchmark/benchmark.h>

#include "azure_conv_setup.hpp"
#include "kvsched/presets/registry.hpp"
#include "kvsched/sim/cluster.hpp"
#include "kvsched/sim/data_dir.hpp"
#include "kvsched/sim/request_builder.hpp"

namespace {

/// The conv trace `copies` times end to end, its arrivals `speedup` times faster.
kvsched::sim::SimRequests conv_at(int copies, double speedup) {
  auto r = kvsched::sim::repeat_requests(kvsched::bench::azure_conv_setup().conv, copies);
  for (auto& s : r.specs) s.arrival_s /= speedup;
  r.first_arrival_s /= speedup;
  r.last_arrival_s /= speedup;
  return r;
}

void BM_ClusterAzureConv(benchmark::State& state) {
  const auto& s = kvsched::bench::azure_conv_setup();
  const auto replicas = static_cast<std::size_t>(state.range(0));
  const auto reqs = conv_at(static_cast<int>(state.range(2)), static_cast<double>(state.range(1)));
  kvsched::sim::ClusterOptions c;
  c.replicas = replicas;
  c.router = kvsched::sim::RouterKind::kLeastLoaded;
  c.threads = static_cast<std::size_t>(state.range(3));
  const kvsched::sim::ReplicaFactory make = [&] { return kvsched::make_scheduler("vllm_v1", s.engine, s.lm); };
  std::int64_t iterations = 0;
  for (auto _ : state) {
    const auto r = kvsched::sim::simulate_cluster(make, reqs, s.lm, c, kvsched::sim::sim_options(16));
    iterations = r.merged.iterations;
    benchmark::DoNotOptimize(r.merged.outcomes.data());
  }
  state.counters["requests"] = static_cast<double>(reqs.specs.size());
  state.counters["iterations"] = static_cast<double>(iterations);
  state.counters["requests_per_s"] =
      benchmark::Counter(static_cast<double>(reqs.specs.size()), benchmark::Counter::kIsIterationInvariantRate);
}
// The target (64 replicas, 16x) on one thread and on two, then constant load per replica (rate
// x = replicas / 4) with the trace growing with the cluster (16, 64, 256 replicas), then a
// longer trace on 64 replicas, each on one thread and on two.
BENCHMARK(BM_ClusterAzureConv)
    ->ArgNames({"replicas", "rate", "copies", "threads"})
    ->Args({1, 1, 1, 1})
    ->Args({64, 16, 1, 1})
    ->Args({64, 16, 1, 2})
    ->Args({16, 4, 1, 1})
    ->Args({16, 4, 1, 2})
    ->Args({64, 16, 4, 1})
    ->Args({64, 16, 4, 2})
    ->Args({256, 64, 16, 1})
    ->Args({256, 64, 16, 2})
    ->Args({64, 16, 2, 1})
    ->Args({64, 16, 2, 2})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
