// placeholder
#include <benchmark/benchmark.h>
static void BM_Noop(benchmark::State& st) { for (auto _ : st) benchmark::DoNotOptimize(0); }
BENCHMARK(BM_Noop);
