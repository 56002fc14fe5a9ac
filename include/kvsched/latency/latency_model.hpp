// kvsched/latency/latency_model.hpp: predicted iteration, prefill and swap times (design.md
// section 4). Policies read it (AccelGen chunking, CacheOPT swap-vs-recompute, criticality);
// the simulator advances time with it. Coefficients come from a fit to measured GPU profiles
// (kvsched/latency/profile_fit.hpp) or from JSON.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/latency/batch_shape.hpp"

namespace kvsched {

/// Coefficients of the iteration-time model, all times in seconds.
///   t(batch) = cpu_overhead_s
///            + linear(F)                                   F = total tokens in the forward
///            + prefill_attn_s_per_pair * sum_chunks c (p + (c+1)/2)
///            + decode_attn_s_per_seq * num_decodes + decode_attn_s_per_ctx_token * decode context
///   linear(F) = linear_base_s + linear_s_per_token * max(F, pivot_tokens)  (0 when F == 0):
///   flat up to the pivot size where the GPU saturates, then linear (AccelGen section 3.1).
struct LatencyCoeffs {
  double cpu_overhead_s = 0.0;               // per-iteration scheduling/launch overhead
  double linear_base_s = 0.0;                // linear-op time intercept (all layers)
  double linear_s_per_token = 0.0;           // linear-op time per token above the pivot
  double pivot_tokens = 0.0;                 // forward size where linear ops stop being flat (tokens)
  double prefill_attn_s_per_pair = 0.0;      // prefill attention per (query, key) pair, all layers
  double decode_attn_s_per_seq = 0.0;        // decode attention fixed cost per sequence
  double decode_attn_s_per_ctx_token = 0.0;  // decode attention per context token read
  double swap_latency_s = 0.0;               // fixed cost of one host<->device transfer call
  double swap_bytes_per_s = 1.0;             // host link bandwidth (bytes/s) for one direction
  std::int64_t kv_bytes_per_token = 0;       // 2 x layers x kv_heads x head_dim x dtype bytes
};

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
    return c_.linear_base_s + c_.linear_s_per_token * std::max(tokens, c_.pivot_tokens);
  }
  /// Predicted time of one iteration with the given shape (s). An empty batch costs 0.
  [[nodiscard]] double iteration_s(const BatchShape& b) const {
    if (b.total_tokens() == 0) return 0.0;
    return c_.cpu_overhead_s + linear_s(static_cast<double>(b.total_tokens())) +
           c_.prefill_attn_s_per_pair * b.prefill_attn_pairs +
           c_.decode_attn_s_per_seq * b.num_decodes +
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
