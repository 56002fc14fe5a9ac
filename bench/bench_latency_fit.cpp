// Benchmarks of the latency model: the start-up fit (target < 0.3 s, the simulator fits once
// at start-up) and one iteration-time prediction (policies call it many times per step).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "kvsched/hardware/hardware.hpp"
#include "kvsched/latency/profile_fit.hpp"

namespace {

std::filesystem::path bench_data_dir() {
  if (const char* env = std::getenv("KVSCHED_SOURCE_DIR"); env != nullptr && *env != '\0')
    return std::filesystem::path(env) / "data";
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "data";
}

void BM_FitLatency(benchmark::State& state, const std::string& model, const std::string& gpu) {
  const auto data = bench_data_dir();
  const auto m = kvsched::model_preset(model);
  const auto g = kvsched::gpu_preset(gpu);
  for (auto _ : state) benchmark::DoNotOptimize(kvsched::fit_latency_coeffs(data, m, g));
  state.SetLabel(model + " on " + gpu);
}
BENCHMARK_CAPTURE(BM_FitLatency, llama2_7b_a100_80g, std::string("llama2-7b"), std::string("a100-80g"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitLatency, llama2_7b_h100_80g, std::string("llama2-7b"), std::string("h100-80g"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_FitLatency, llama3_8b_h100_80g, std::string("llama3-8b"), std::string("h100-80g"))
    ->Unit(benchmark::kMillisecond);

void BM_IterationTime(benchmark::State& state) {
  const kvsched::LatencyModel m(kvsched::fit_latency_coeffs(bench_data_dir(), kvsched::model_preset("llama2-7b"),
                                                            kvsched::gpu_preset("a100-80g")));
  kvsched::BatchShape b;
  b.add_prefill(512, 1024);
  for (int i = 0; i < state.range(0); ++i) b.add_decode(1000 + i);
  for (auto _ : state) benchmark::DoNotOptimize(m.iteration_s(b));
  state.counters["predictions/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IterationTime)->Arg(1)->Arg(256);

}  // namespace
