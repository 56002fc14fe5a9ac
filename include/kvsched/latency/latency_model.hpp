// kvsched/latency/latency_model.hpp: predicted iteration, prefill and swap times (docs/design.md
// section 4). Policies read it (AccelGen chunking, CacheOPT swap-vs-recompute, criticality);
// the simulator advances time with it. Coefficients come from a fit to measured GPU profiles
// (kvsched/latency/profile_fit.hpp) or from JSON.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kvsched/latency/batch_shape.hpp"

namespace kvsched {

/// How the CPU work of an iteration (scheduling, input preparation, sampling, output
/// processing) adds to its GPU time.
enum class CpuOverheadMode : std::uint8_t {
  kSerial,  // cpu + gpu: vLLM V0's synchronous loop (Vidur's cpu_overheads.csv profile)
  kAsync,   // max(cpu, gpu) = gpu + max(0, cpu - gpu): vLLM v1's async scheduling prepares step
            // n+1 while step n runs (vllm/v1/engine/core.py step_with_batch_queue), so the CPU
            // work shows only where it exceeds the forward pass
  kOff,     // gpu only: no CPU cost at all (Vidur's default, skip_cpu_overhead_modeling)
};

/// One measured row of the linear-op profile: a forward of `tokens` tokens takes `time_s`.
struct LinearPoint {
  double tokens = 0;  // forward size (tokens)
  double time_s = 0;  // linear-op time, all layers (s)
};

/// Coefficients of the iteration-time model, all times in seconds, all layers summed.
///   t(batch) = cpu(batch) combined with gpu(batch) per cpu_mode (CpuOverheadMode)
///   cpu      = cpu_overhead_s + cpu_overhead_s_per_seq * num_seqs
///   gpu      = linear(F)                                      F = total tokens in the forward
///            + prefill_attn_s_per_chunk * num_prefills + prefill_attn_s_per_token * prefill tokens
///            + prefill_attn_s_per_pair * sum_chunks c (p + (c+1)/2)
///            + prefill_attn_s_per_kv_token * sum_chunks (p + c)
///            + prefill_attn_s_per_sq_token * sum_chunks c^2
///            + [num_decodes > 0] decode_attn_base_s
///            + decode_attn_s_per_seq * num_decodes + decode_attn_s_per_ctx_token * decode context
///   linear(F) = the measured table linear_table, interpolated (linear_table_s()), when it is
///   not empty; else linear_base_s + linear_s_per_token * max(F, pivot_tokens): flat up to the
///   pivot size where the GPU saturates, then linear (AccelGen section 3.1). 0 when F == 0.
/// Terms added to the first interface because the measured profiles need them
/// (latency/profile_fit.hpp, docs/latency_model.md); all default to 0, so a JSON file or a
/// caller that sets only the original fields gets the original model:
///  - cpu_overhead_s_per_seq: Vidur's cpu_overheads.csv grows linearly with batch size
///    (1.2 ms at 8 requests, 6.2 ms at 128 for Llama-2-7B on A100).
///  - prefill_attn_s_per_chunk / _per_token / _per_sq_token: in the Vidur attention profile a
///    chunk's own causal c x c block costs about as much per pair as its context pairs (the
///    kernel gains little from causal masking), and short chunks have a fixed cost; a fit on
///    [1, pairs] leaves 19% held-out error, one on [1, c, pairs, c^2] 5.8%.
///  - decode_attn_base_s: a decode attention kernel costs ~13 us per layer even for one short
///    sequence (launch bound), paid once per iteration that has decodes.
///  - linear_table: the profile's own rows, so that GEMM tile steps (e.g. +28% from 512 to 520
///    tokens on H100) stay in the model; pivot_tokens and the flat fit remain for AccelGen's S_p.
///  - prefill_attn_s_per_kv_token: a chunk reads its whole KV (context + chunk) once per query
///    tile; short chunks are bound by that read, not by pairs (memory-bound, scales with HBM).
///  - cpu_mode: CpuOverheadMode (default kSerial, the first interface's sum).
struct LatencyCoeffs {
  double cpu_overhead_s = 0.0;               // per-iteration scheduling/launch/sampling overhead
  double linear_base_s = 0.0;                // linear-op time intercept (all layers)
  double linear_s_per_token = 0.0;           // linear-op time per token above the pivot
  double pivot_tokens = 0.0;                 // forward size where linear ops stop being flat (tokens)
  double prefill_attn_s_per_pair = 0.0;      // prefill attention per causal (query, key) pair
  double decode_attn_s_per_seq = 0.0;        // decode attention cost per sequence
  double decode_attn_s_per_ctx_token = 0.0;  // decode attention per context token read
  double swap_latency_s = 0.0;               // fixed cost of one host<->device transfer call
  double swap_bytes_per_s = 1.0;             // host link bandwidth (bytes/s) for one direction
  std::int64_t kv_bytes_per_token = 0;       // 2 x layers x kv_heads x head_dim x dtype bytes
  double cpu_overhead_s_per_seq = 0.0;       // CPU overhead per request in the batch
  double prefill_attn_s_per_chunk = 0.0;     // prefill attention fixed cost per chunk
  double prefill_attn_s_per_token = 0.0;     // prefill attention per chunk token
  double prefill_attn_s_per_sq_token = 0.0;  // prefill attention per c^2 of each chunk (added to per-pair)
  double decode_attn_base_s = 0.0;           // decode attention fixed cost per iteration with decodes
  double prefill_attn_s_per_kv_token = 0.0;  // prefill attention per KV token read (context + chunk)
  CpuOverheadMode cpu_mode = CpuOverheadMode::kSerial;  // how CPU time combines with GPU time
  std::vector<LinearPoint> linear_table{};   // measured linear-op rows, tokens ascending, distinct
};

/// Forward sizes where a GEMM tile boundary may lie (tokens): cuBLAS/CUTLASS tile the token
/// dimension in multiples of 64 (NVIDIA "Matrix Multiplication Background" guide, tile
/// quantization), so time is flat between boundaries and jumps just after one.
inline constexpr double kGemmTileTokens = 64.0;
/// Relative jump between two adjacent profile rows above which linear_table_s() treats the gap
/// as a tile step instead of a slope (ours: the profiles' noise between neighbours is < 3%).
inline constexpr double kGemmStepJump = 0.05;

/// Linear-op time of `tokens` tokens from a measured table (s), sorted by tokens:
///  - at a row: the row; below the first row: the first row (the GPU is flat there);
///  - between rows a < b: linear, except where t(b) and t(a) differ by more than kGemmStepJump
///    and a multiple of kGemmTileTokens m lies in [a, b): then t(a) up to m and t(b) past it
///    (the step is put at the tile boundary; ours, see docs/latency_model.md);
///  - past the last row: linear, with the slope of the last quarter of the table (at least
///    the last two rows), never below the last row.
/// Empty table: 0.
[[nodiscard]] inline double linear_table_s(const std::vector<LinearPoint>& t, double tokens) {
  if (t.empty()) return 0.0;
  if (tokens <= t.front().tokens) return t.front().time_s;
  const auto n = t.size();
  if (tokens >= t.back().tokens) {
    if (n < 2) return t.back().time_s;
    const std::size_t k = std::min(n - 2, n - 1 - std::max<std::size_t>(1, n / 4));
    const double slope = (t.back().time_s - t[k].time_s) / (t.back().tokens - t[k].tokens);
    return t.back().time_s + std::max(0.0, slope) * (tokens - t.back().tokens);
  }
  const auto it = std::lower_bound(t.begin(), t.end(), tokens,
                                   [](const LinearPoint& p, double x) { return p.tokens < x; });
  const LinearPoint& b = *it;
  if (b.tokens == tokens) return b.time_s;
  const LinearPoint& a = *(it - 1);
  const double jump = std::abs(b.time_s - a.time_s) / std::min(a.time_s, b.time_s);
  if (jump > kGemmStepJump) {
    const double m = std::floor((b.tokens - 1.0) / kGemmTileTokens) * kGemmTileTokens;
    if (m >= a.tokens) return tokens <= m ? a.time_s : b.time_s;
  }
  return a.time_s + (b.time_s - a.time_s) * (tokens - a.tokens) / (b.tokens - a.tokens);
}

/// Iteration-time predictor over LatencyCoeffs. Cheap (a handful of flops): policies may call
/// it many times per iteration.
class LatencyModel {
 public:
  LatencyModel() = default;
  explicit LatencyModel(const LatencyCoeffs& c) : c_(c) {}

  [[nodiscard]] const LatencyCoeffs& coeffs() const { return c_; }

  /// Linear-op (GEMM, norm, activation) time of a forward of `tokens` tokens (s).
  [[nodiscard]] double linear_s(double tokens) const {
    if (tokens <= 0) return 0.0;
    if (!c_.linear_table.empty()) return linear_table_s(c_.linear_table, tokens);
    return c_.linear_base_s + c_.linear_s_per_token * std::max(tokens, c_.pivot_tokens);
  }
  /// Predicted time of one iteration with the given shape (s): GPU time combined with the CPU
  /// time per LatencyCoeffs::cpu_mode. An empty batch costs 0.
  [[nodiscard]] double iteration_s(const BatchShape& b) const {
    if (b.total_tokens() == 0) return 0.0;
    return combine_cpu(cpu_s(b), gpu_s(b));
  }
  /// GPU time of an iteration (linear ops + attention), no CPU overhead (s).
  [[nodiscard]] double gpu_s(const BatchShape& b) const {
    if (b.total_tokens() == 0) return 0.0;
    return linear_s(static_cast<double>(b.total_tokens())) + prefill_attn_s(b) + decode_attn_s(b);
  }
  /// Iteration time from its CPU and GPU parts per cpu_mode (s): serial cpu + gpu, async
  /// max(cpu, gpu), off gpu.
  [[nodiscard]] double combine_cpu(double cpu, double gpu) const {
    switch (c_.cpu_mode) {
      case CpuOverheadMode::kAsync: return std::max(cpu, gpu);
      case CpuOverheadMode::kOff: return gpu;
      case CpuOverheadMode::kSerial: break;
    }
    return cpu + gpu;
  }
  /// CPU work of an iteration with the given shape (s), before cpu_mode; 0 for an empty batch.
  [[nodiscard]] double cpu_s(const BatchShape& b) const {
    if (b.total_tokens() == 0) return 0.0;
    return c_.cpu_overhead_s + c_.cpu_overhead_s_per_seq * b.num_seqs();
  }
  /// Prefill attention time of the batch's prefill chunks (s).
  [[nodiscard]] double prefill_attn_s(const BatchShape& b) const {
    return c_.prefill_attn_s_per_chunk * b.num_prefills +
           c_.prefill_attn_s_per_token * static_cast<double>(b.prefill_tokens) +
           c_.prefill_attn_s_per_pair * b.prefill_attn_pairs + c_.prefill_attn_s_per_sq_token * b.prefill_sq_tokens +
           c_.prefill_attn_s_per_kv_token * b.prefill_kv_tokens;
  }
  /// Decode attention time of the batch's decodes (s).
  [[nodiscard]] double decode_attn_s(const BatchShape& b) const {
    if (b.num_decodes == 0) return 0.0;
    return c_.decode_attn_base_s + c_.decode_attn_s_per_seq * b.num_decodes +
           c_.decode_attn_s_per_ctx_token * static_cast<double>(b.decode_context_tokens);
  }
  /// Time to prefill `tokens` tokens after `context` cached ones, alone in one iteration (s).
  [[nodiscard]] double prefill_s(std::int64_t tokens, std::int64_t context = 0) const {
    BatchShape b;
    b.add_prefill(tokens, context);
    return iteration_s(b);
  }
  /// Time of `transfers` host<->device copies moving `bytes` in total, one direction (s).
  [[nodiscard]] double swap_s(std::int64_t bytes, std::int64_t transfers = 1) const {
    if (bytes <= 0) return 0.0;
    return c_.swap_latency_s * static_cast<double>(transfers) + static_cast<double>(bytes) / c_.swap_bytes_per_s;
  }
  /// Round-trip swap time of a context of `tokens` tokens: out now, in later (s).
  [[nodiscard]] double swap_round_trip_s(std::int64_t tokens) const {
    return 2.0 * swap_s(tokens * c_.kv_bytes_per_token);
  }
  /// Forward size where linear ops stop being flat (tokens); AccelGen's pivot S_p.
  [[nodiscard]] double pivot_tokens() const { return c_.pivot_tokens; }
  [[nodiscard]] std::int64_t kv_bytes_per_token() const { return c_.kv_bytes_per_token; }

 private:
  LatencyCoeffs c_{};
};

}  // namespace kvsched
