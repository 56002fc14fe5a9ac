// kvsched/latency/latency_model.hpp: predicted iteration, prefill and swap times (docs/design.md
// section 4). Policies read it (AccelGen chunking, CacheOPT swap-vs-recompute, criticality);
// the simulator advances time with it. Coefficients come from a fit to measured GPU profiles
// (kvsched/latency/profile_fit.hpp) or from JSON.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kvsched/latency/batch_shape.hpp"

namespace kvsched {

/// Coefficients of the iteration-time model, all times in seconds, all layers summed.
///   t(batch) = cpu_overhead_s + cpu_overhead_s_per_seq * num_seqs
///            + linear(F)                                      F = total tokens in the forward
///            + prefill_attn_s_per_chunk * num_prefills + prefill_attn_s_per_token * prefill tokens
///            + prefill_attn_s_per_pair * sum_chunks c (p + (c+1)/2)
///            + prefill_attn_s_per_sq_token * sum_chunks c^2
///            + [num_decodes > 0] decode_attn_base_s
///            + decode_attn_s_per_seq * num_decodes + decode_attn_s_per_ctx_token * decode context
///   linear(F) = linear_base_s + linear_s_per_token * max(F, pivot_tokens)  (0 when F == 0):
///   flat up to the pivot size where the GPU saturates, then linear (AccelGen section 3.1).
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
    return cpu_s(b) + linear_s(static_cast<double>(b.total_tokens())) + prefill_attn_s(b) + decode_attn_s(b);
  }
  /// CPU overhead of an iteration with the given shape (s); 0 for an empty batch.
  [[nodiscard]] double cpu_s(const BatchShape& b) const {
    if (b.total_tokens() == 0) return 0.0;
    return c_.cpu_overhead_s + c_.cpu_overhead_s_per_seq * b.num_seqs();
  }
  /// Prefill attention time of the batch's prefill chunks (s).
  [[nodiscard]] double prefill_attn_s(const BatchShape& b) const {
    return c_.prefill_attn_s_per_chunk * b.num_prefills +
           c_.prefill_attn_s_per_token * static_cast<double>(b.prefill_tokens) +
           c_.prefill_attn_s_per_pair * b.prefill_attn_pairs + c_.prefill_attn_s_per_sq_token * b.prefill_sq_tokens;
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
