// kvsched/latency/batch_shape.hpp: the shape of one iteration, as the latency model reads it.
#pragma once
#include <cstdint>

namespace kvsched {

/// Aggregate shape of one forward pass (docs/design.md section 4). Build it with add_prefill() and
/// add_decode(): the latency model reads every field.
struct BatchShape {
  std::int64_t prefill_tokens = 0;       // sum of prefill chunk sizes (tokens)
  std::int32_t num_prefills = 0;         // prefill chunks in the batch
  double prefill_attn_pairs = 0.0;       // sum over chunks of c * (p + (c + 1) / 2): causal (query, key) pairs
  std::int32_t num_decodes = 0;          // decode requests (1 token each)
  std::int64_t decode_context_tokens = 0;// sum of decode requests' context lengths (tokens)
  double prefill_sq_tokens = 0.0;        // sum over chunks of c * c (tokens^2): the chunk's own causal block
  std::int64_t prefill_kv_tokens = 0;    // sum over chunks of p + c: KV tokens each chunk's attention reads

  /// Tokens in the forward pass: prefill chunk tokens + one per decode.
  [[nodiscard]] std::int64_t total_tokens() const { return prefill_tokens + num_decodes; }
  /// Requests in the forward pass (prefill chunks + decodes).
  [[nodiscard]] std::int32_t num_seqs() const { return num_prefills + num_decodes; }
  /// Adds a prefill chunk of `chunk` tokens after `context` already-cached tokens:
  ///   | context (cached, read by attention) | chunk (computed now) |
  void add_prefill(std::int64_t chunk, std::int64_t context) {
    const double c = static_cast<double>(chunk);
    prefill_tokens += chunk;
    num_prefills += 1;
    prefill_attn_pairs += c * (static_cast<double>(context) + (c + 1.0) / 2.0);
    prefill_sq_tokens += c * c;
    prefill_kv_tokens += context + chunk;
  }
  /// Adds a decode over `context` cached tokens.
  void add_decode(std::int64_t context) {
    num_decodes += 1;
    decode_context_tokens += context;
  }
};

}  // namespace kvsched
