// Llama forward on the CPU backend (kvsched/model/): decode and prefill throughput.
//   BM_ModelDecode/<model>/<batch>/<context>: one decode step of <batch> sequences, each with
//     <context> tokens already in the paged cache (block size 16, fp32 KV); tokens/s = batch.
//   BM_ModelPrefill/<model>/<tokens>: one prompt of <tokens> tokens into an empty cache;
//     tokens/s = prompt tokens.
// Models: random_tiny (LlamaConfig::random_tiny(): 4 layers, hidden 256, 4 heads, 2 KV heads,
// vocab 512) and fixture (the shape of tests/fixtures/llama_tiny: 2 layers, hidden 64, 2 heads
// of 32, 1 KV head, vocab 1000), both with seeded random weights (speed depends on the shape only).
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>
#include <vector>

#include "kvsched/model/llama_model.hpp"

namespace {

using namespace kvsched;
using namespace kvsched::model;

LlamaConfig fixture_shape() {
  return {.hidden_size = 64, .intermediate_size = 128, .num_hidden_layers = 2, .num_attention_heads = 2,
          .num_key_value_heads = 1, .head_dim = 32, .vocab_size = 1000, .rms_norm_eps = 1e-5, .max_position_embeddings = 512};
}

const LlamaModel& model_of(int which) {
  static const LlamaModel tiny(LlamaConfig::random_tiny(), random_weights(LlamaConfig::random_tiny(), 1));
  static const LlamaModel fix(fixture_shape(), random_weights(fixture_shape(), 1));
  return which == 0 ? tiny : fix;
}

std::vector<std::int32_t> tokens(std::size_t n, std::int32_t vocab, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int32_t> u(0, vocab - 1);
  std::vector<std::int32_t> t(n);
  for (auto& x : t) x = u(rng);
  return t;
}

void BM_ModelDecode(benchmark::State& state, int which) {
  const LlamaModel& m = model_of(which);
  const auto batch = static_cast<std::int32_t>(state.range(0)), ctx = static_cast<std::int32_t>(state.range(1));
  constexpr std::int32_t kBs = 16;
  const auto per_seq = static_cast<std::int32_t>(blocks_for_tokens(ctx + 1, kBs));
  CpuBackend backend(m.kv_shape(kBs), batch * per_seq, 0);
  std::vector<std::vector<std::int32_t>> seqs;
  std::vector<std::vector<BlockId>> tables;
  std::vector<SequenceStep> prefill, decode;
  for (std::int32_t b = 0; b < batch; ++b) {
    seqs.push_back(tokens(static_cast<std::size_t>(ctx) + 1, m.config().vocab_size, static_cast<std::uint64_t>(b)));
    tables.emplace_back(static_cast<std::size_t>(per_seq));
    std::iota(tables.back().begin(), tables.back().end(), b * per_seq);
  }
  for (std::int32_t b = 0; b < batch; ++b) {
    const auto i = static_cast<std::size_t>(b);
    prefill.push_back({i, std::span(seqs[i]).first(static_cast<std::size_t>(ctx)), 0, tables[i]});
    decode.push_back({i, std::span(seqs[i]).subspan(static_cast<std::size_t>(ctx), 1), ctx, tables[i]});
  }
  benchmark::DoNotOptimize(m.forward(prefill, backend));
  for (auto _ : state) benchmark::DoNotOptimize(m.forward(decode, backend));  // rewrites the same slot each time
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(batch), benchmark::Counter::kIsIterationInvariantRate);
}

void BM_ModelPrefill(benchmark::State& state, int which) {
  const LlamaModel& m = model_of(which);
  const auto n = static_cast<std::int32_t>(state.range(0));
  constexpr std::int32_t kBs = 16;
  const auto blocks = static_cast<std::int32_t>(blocks_for_tokens(n, kBs));
  CpuBackend backend(m.kv_shape(kBs), blocks, 0);
  const auto seq = tokens(static_cast<std::size_t>(n), m.config().vocab_size, 7);
  std::vector<BlockId> table(static_cast<std::size_t>(blocks));
  std::iota(table.begin(), table.end(), 0);
  const SequenceStep s{0, seq, 0, table};
  for (auto _ : state) benchmark::DoNotOptimize(m.forward(std::span(&s, 1), backend));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(n), benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_ModelDecode, random_tiny, 0)->ArgsProduct({{1, 32}, {16, 128}})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelDecode, fixture, 1)->ArgsProduct({{1, 32}, {16, 128}})->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelPrefill, random_tiny, 0)->Arg(512)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ModelPrefill, fixture, 1)->Arg(512)->Unit(benchmark::kMillisecond);
