// CPU backend benchmarks (issue 6): block swap bandwidth and paged-attention throughput.
//   BM_Swap/<shape>/<blocks>: swap_out of <blocks> blocks then swap_in back (one memcpy per
//     block, all layers); GB/s counts the bytes of both directions.
//   BM_PagedAttentionDecode/<dtype>/<batch>/<context>: one layer, Llama-3-8B heads (32 query,
//     8 KV, head_dim 128), block size 16; tokens/s = decode tokens, GB/s = KV bytes read.
//   BM_PagedAttentionPrefill/<dtype>/<chunk>/<context>: one chunk of <chunk> tokens after
//     <context> cached ones (causal); tokens/s = chunk tokens.
//   BM_WriteKv/<dtype>/<tokens>: one layer's K/V of <tokens> tokens into random slots.
#include <benchmark/benchmark.h>

#include <numeric>
#include <random>
#include <vector>

#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/backend/paged_kv_tables.hpp"

namespace {

using kvsched::KvDtype;
using kvsched::KvShape;

constexpr std::int32_t kQoHeads = 32;
constexpr KvShape kLlama3Layer{1, 8, 128, 16, KvDtype::kF16};  // one layer of Llama-3-8B

KvShape with_dtype(KvShape s, KvDtype d) {
  s.dtype = d;
  return s;
}

void BM_Swap(benchmark::State& state, KvShape shape) {
  const auto blocks = static_cast<std::int32_t>(state.range(0));
  kvsched::CpuBackend be(shape, 2 * blocks, blocks);
  std::vector<kvsched::BlockCopy> out, in;
  for (std::int32_t i = 0; i < blocks; ++i) {
    out.push_back({2 * i, i});      // every other device block out...
    in.push_back({i, 2 * i + 1});   // ...and back into its neighbour
  }
  for (auto _ : state) {
    be.swap_out(out);
    be.swap_in(in);
    benchmark::ClobberMemory();
  }
  const double bytes = 2.0 * blocks * static_cast<double>(be.layout().bytes_per_block());
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["block_MiB"] = static_cast<double>(be.layout().bytes_per_block()) / (1 << 20);
}

// A cache holding `batch` requests of `context` tokens each, blocks in shuffled order.
struct AttentionSetup {
  kvsched::CpuBackend be;
  kvsched::PagedKvTables tables;
  AttentionSetup(KvDtype dt, std::int32_t batch, std::int32_t context, std::int32_t qo_len)
      : be(with_dtype(kLlama3Layer, dt), batch * static_cast<std::int32_t>(kvsched::blocks_for_tokens(context, 16)), 0),
        tables(16) {
    std::vector<kvsched::BlockId> ids(static_cast<std::size_t>(be.device_pool().num_blocks()));
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), std::mt19937(1));
    kvsched::visit_cpu_dtype(dt, [&]<class T>(std::type_identity<T>) {
      std::mt19937 rng(2);
      std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
      for (T& x : be.device_pool().elements<T>()) x = kvsched::from_float<T>(uni(rng));
    });
    const std::size_t per = ids.size() / static_cast<std::size_t>(batch);
    for (std::int32_t b = 0; b < batch; ++b)
      tables.add(std::span<const kvsched::BlockId>(ids).subspan(static_cast<std::size_t>(b) * per, per), context, qo_len);
  }
};

void BM_PagedAttention(benchmark::State& state, KvDtype dt, bool decode) {
  const auto a = static_cast<std::int32_t>(state.range(0)), context = static_cast<std::int32_t>(state.range(1));
  const std::int32_t batch = decode ? a : 1, qo_len = decode ? 1 : a;
  AttentionSetup s(dt, batch, context, qo_len);
  const auto batch_view = decode ? kvsched::AttentionBatch{s.tables.kv_index(), nullptr, kQoHeads, 0.0f} : s.tables.batch(kQoHeads);
  kvsched::visit_cpu_dtype(dt, [&]<class T>(std::type_identity<T>) {
    std::vector<T> q(static_cast<std::size_t>(s.tables.num_q_tokens()) * kQoHeads * 128, T(0.1f)), out(q.size());
    for (auto _ : state) {
      s.be.paged_attention<T>(0, batch_view, q, out);
      benchmark::DoNotOptimize(out.data());
    }
  });
  const double tokens = static_cast<double>(s.tables.num_q_tokens());
  const double kv_bytes = static_cast<double>(batch) * context * static_cast<double>(with_dtype(kLlama3Layer, dt).bytes_per_token());
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["GB/s"] = benchmark::Counter(kv_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void BM_PagedAttentionDecode(benchmark::State& state, KvDtype dt) { BM_PagedAttention(state, dt, true); }
void BM_PagedAttentionPrefill(benchmark::State& state, KvDtype dt) { BM_PagedAttention(state, dt, false); }

void BM_WriteKv(benchmark::State& state, KvDtype dt) {
  const auto tokens = static_cast<std::int32_t>(state.range(0));
  kvsched::CpuBackend be(with_dtype(kLlama3Layer, dt), tokens / 16 + 1, 0);
  std::vector<std::int64_t> slots(static_cast<std::size_t>(tokens));
  std::iota(slots.begin(), slots.end(), 0);
  std::shuffle(slots.begin(), slots.end(), std::mt19937(3));
  kvsched::visit_cpu_dtype(dt, [&]<class T>(std::type_identity<T>) {
    std::vector<T> k(slots.size() * 8 * 128, T(0.5f)), v(k.size(), T(0.25f));
    for (auto _ : state) {
      be.write_kv<T>(0, k, v, slots);
      benchmark::ClobberMemory();
    }
  });
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

BENCHMARK_CAPTURE(BM_Swap, llama3_8b_fp16, KvShape{32, 8, 128, 16, KvDtype::kF16})->Arg(4)->Arg(32)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Swap, llama2_7b_fp16, KvShape{32, 32, 128, 16, KvDtype::kF16})->Arg(8)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PagedAttentionDecode, fp32, KvDtype::kF32)->Args({16, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PagedAttentionDecode, fp16, KvDtype::kF16)->Args({16, 1024})->Args({64, 256})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PagedAttentionDecode, bf16, KvDtype::kBF16)->Args({16, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PagedAttentionPrefill, fp16, KvDtype::kF16)->Args({512, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PagedAttentionPrefill, fp32, KvDtype::kF32)->Args({512, 1024})->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_WriteKv, fp16, KvDtype::kF16)->Arg(512)->Unit(benchmark::kMicrosecond);
