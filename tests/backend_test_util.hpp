// tests/backend_test_util.hpp: random paged-KV fixtures and a dense (contiguous, fp64)
// attention reference shared by the backend tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <vector>

#include "kvsched/backend/cpu_backend.hpp"
#include "kvsched/backend/paged_kv_tables.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/latency/latency_model.hpp"

namespace kvsched::test {

/// The engine of the KV-integrity tests under the scheduler (tests/test_backend_kv_integrity.cpp,
/// cuda/tests/test_cuda_kv_integrity.cpp): 40 device blocks of `block_size` tokens (640 tokens at
/// 16: prompts up to 200 plus outputs up to 100 force preemptions), `host_blocks` host blocks,
/// max_model_len 512, 256 batched tokens, 32 sequences.
inline EngineConfig kv_integrity_engine(std::int32_t block_size, std::int32_t host_blocks) {
  EngineConfig e;
  e.block_size = block_size;
  e.num_device_blocks = 40;
  e.num_host_blocks = host_blocks;
  e.max_model_len = 512;
  e.max_num_batched_tokens = 256;
  e.max_num_seqs = 32;
  return e;
}

/// Their latency model: 5 ms of CPU and 10 us per token an iteration, swaps at 1 GB/s of
/// `bytes_per_token` bytes of KV per token (so that swap and recompute both get chosen).
inline LatencyModel kv_integrity_latency(std::int64_t bytes_per_token) {
  return LatencyModel(LatencyCoeffs{.cpu_overhead_s = 0.005, .linear_s_per_token = 1e-5, .swap_bytes_per_s = 1e9,
                                    .kv_bytes_per_token = bytes_per_token});
}

/// One attention scenario: the cache shape, query heads and per-request KV / query lengths.
struct AttnCase {
  KvShape shape;
  std::int32_t num_qo_heads = 0;
  std::vector<std::int32_t> kv_lens;  // tokens in the cache per request
  std::vector<std::int32_t> qo_lens;  // queries per request (1 = decode)
  std::int32_t layer = 0;             // layer attended (others get different values)
  std::uint32_t seed = 1;
};

/// A CpuBackend filled for an AttnCase: blocks assigned in random order, K/V of every layer
/// written through write_kv (layer `layer` holds the values in k/v), queries in q.
template <class T>
struct AttnFixture {
  CpuBackend backend;
  PagedKvTables tables;
  std::vector<T> q;                          // [num_q_tokens][num_qo_heads][head_dim]
  std::vector<std::vector<float>> k, v;      // per request [kv_len][num_kv_heads][head_dim], as stored (rounded)

  static std::int32_t pages_needed(const AttnCase& c) {
    std::int32_t n = 0;
    for (auto len : c.kv_lens) n += static_cast<std::int32_t>(blocks_for_tokens(len, c.shape.block_size));
    return n;
  }

  explicit AttnFixture(const AttnCase& c)
      : backend(c.shape, pages_needed(c) + 3, 0), tables(c.shape.block_size) {
    const KvLayout& L = backend.layout();
    std::mt19937 rng(c.seed);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    backend.device_pool().fill(std::byte{0xFF});  // NaN everywhere no token was written
    std::vector<BlockId> perm(static_cast<std::size_t>(backend.device_pool().num_blocks()));
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    std::size_t next = 0;
    const std::size_t row = static_cast<std::size_t>(L.token_stride);
    for (std::size_t b = 0; b < c.kv_lens.size(); ++b) {
      const std::int32_t n = c.kv_lens[b];
      std::vector<BlockId> table;
      for (std::int64_t p = 0; p < blocks_for_tokens(n, L.block_size); ++p) table.push_back(perm[next++]);
      tables.add(table, n, c.qo_lens[b]);
      std::vector<std::int64_t> slots(static_cast<std::size_t>(n));
      for (std::int32_t t = 0; t < n; ++t) slots[static_cast<std::size_t>(t)] = std::int64_t{table[static_cast<std::size_t>(t / L.block_size)]} * L.block_size + t % L.block_size;
      for (std::int32_t layer = 0; layer < L.num_layers; ++layer) {
        std::vector<T> kt(slots.size() * row), vt(slots.size() * row);
        for (auto& x : kt) x = from_float<T>(uni(rng));
        for (auto& x : vt) x = from_float<T>(uni(rng));
        backend.write_kv<T>(layer, kt, vt, slots);
        if (layer == c.layer) {
          k.emplace_back(kt.size());
          v.emplace_back(vt.size());
          std::transform(kt.begin(), kt.end(), k.back().begin(), [](T x) { return to_float(x); });
          std::transform(vt.begin(), vt.end(), v.back().begin(), [](T x) { return to_float(x); });
        }
      }
    }
    q.resize(static_cast<std::size_t>(tables.num_q_tokens()) * static_cast<std::size_t>(c.num_qo_heads) * row / static_cast<std::size_t>(L.num_kv_heads));
    for (auto& x : q) x = from_float<T>(2.0f * uni(rng));  // |q| up to 2: peakier softmax
  }
};

/// Dense causal attention in fp64 over contiguous K/V: the reference paged attention must match.
/// Returns [num_q_tokens][num_qo_heads][head_dim].
template <class T>
std::vector<double> dense_attention(const AttnCase& c, const AttnFixture<T>& f) {
  const std::int32_t D = c.shape.head_dim, Hk = c.shape.num_kv_heads, Hq = c.num_qo_heads, G = Hq / Hk;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  std::vector<double> out(f.q.size());
  std::int32_t qt = 0;
  for (std::size_t b = 0; b < c.kv_lens.size(); ++b) {
    const std::int32_t n = c.kv_lens[b], m = c.qo_lens[b];
    for (std::int32_t j = 0; j < m; ++j, ++qt) {
      const std::int32_t pos = n - m + j;
      for (std::int32_t hq = 0; hq < Hq; ++hq) {
        const std::int32_t hk = hq / G;
        const auto qoff = (static_cast<std::size_t>(qt) * Hq + hq) * D;
        std::vector<double> s(static_cast<std::size_t>(pos + 1));
        for (std::int32_t t = 0; t <= pos; ++t) {
          double dot = 0;
          for (std::int32_t d = 0; d < D; ++d)
            dot += static_cast<double>(to_float(f.q[qoff + d])) * f.k[b][(static_cast<std::size_t>(t) * Hk + hk) * D + d];
          s[static_cast<std::size_t>(t)] = dot * scale;
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (auto& x : s) sum += (x = std::exp(x - mx));
        for (std::int32_t d = 0; d < D; ++d) {
          double acc = 0;
          for (std::int32_t t = 0; t <= pos; ++t) acc += s[static_cast<std::size_t>(t)] * f.v[b][(static_cast<std::size_t>(t) * Hk + hk) * D + d];
          out[qoff + d] = acc / sum;
        }
      }
    }
  }
  return out;
}

/// Largest relative error over (query token, head) rows: max_d |out - ref| / max_d |ref|.
/// NaN anywhere in `out` (an unwritten, poisoned element) returns +infinity.
template <class T>
double max_row_rel_error(const std::vector<T>& out, const std::vector<double>& ref, std::int32_t head_dim) {
  double worst = 0;
  for (std::size_t r0 = 0; r0 < ref.size(); r0 += static_cast<std::size_t>(head_dim)) {
    double num = 0, den = 0;
    for (std::size_t i = r0; i < r0 + static_cast<std::size_t>(head_dim); ++i) {
      const double o = to_float(out[i]);
      if (std::isnan(o)) return std::numeric_limits<double>::infinity();
      num = std::max(num, std::abs(o - ref[i]));
      den = std::max(den, std::abs(ref[i]));
    }
    worst = std::max(worst, num / std::max(den, 1e-30));
  }
  return worst;
}

/// A vector of n NaN elements (poisoned output).
template <class T>
std::vector<T> nan_vector(std::size_t n) {
  return std::vector<T>(n, from_float<T>(std::numeric_limits<float>::quiet_NaN()));
}

}  // namespace kvsched::test
