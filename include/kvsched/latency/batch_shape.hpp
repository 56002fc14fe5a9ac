// kvsched/latency/batch_shape.hpp: the shape of one iteration, as the latency model reads it.
#pragma once
#include <cstdint>

namespace kvsched {

/// Aggregate shape of one forward pass (design.md section 4).
struct BatchShape {
  std::int64_t prefill_tokens = 0;       // sum of prefill chunk sizes (tokens)
  std::int32_t num_prefills = 0;         // prefill chunks in the batch
  double prefill_attn_pairs = 0.0;       // sum over chunks of c * (p + (c + 1) / 2): causal (query, key) pairs
  std::int32_t num_decodes = 0;          // decode requests (1 token each)
  std::int64_t decode_context_tokens = 0;// sum of decode requests' context lengths (tokens)

  /// Tokens in the forward pass: prefill chunk tokens + one per decode.
  [[nodiscard]] std::int64_t total_tokens() const { return prefill_tokens + num_decodes; }
  /// Adds a prefill chunk of `chunk` tokens after `context` already-cached tokens.
  void add_prefill(std::int64_t chunk, std::int64_t context) {
    prefill_tokens += chunk;
    num_prefills += 1;
    prefill_attn_pairs += static_cast<double>(chunk) * (static_cast<double>(context) + (static_cast<double>(chunk) + 1.0) / 2.0);
  }
  /// Adds a decode over `context` cached tokens.
  void add_decode(std::int64_t context) {
    num_decodes += 1;
    decode_context_tokens += context;
  }
};

}  // namespace kvsched
