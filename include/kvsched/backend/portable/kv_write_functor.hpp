// kvsched/backend/portable/kv_write_functor.hpp: Thrust functor of the KV write by slot mapping.
#pragma once
#include <cstdint>

#include "kvsched/core/host_device.hpp"
#include "kvsched/backend/kv_layout.hpp"

namespace kvsched::portable {

/// Call i writes element e = i % token_stride (head e / head_dim, dim e % head_dim) of token
/// t = i / token_stride, K and V, over i in [0, num_tokens * token_stride):
///   pool[slot_mapping[t], layer, K|V, head, dim] = key|value[t][head][dim]
/// Tokens with slot -1 (padding) are skipped. Same contract as write_kv_cpu() without the checks.
template <class T>
struct KvWriteFunctor {
  KvLayout layout;
  T* pool;                            // [num_blocks][block_stride]
  std::int32_t layer;                 // layer written
  const T* key;                       // [num_tokens][num_kv_heads][head_dim]
  const T* value;                     // [num_tokens][num_kv_heads][head_dim]
  const std::int64_t* slot_mapping;   // [num_tokens], -1 = padding

  KVSCHED_HOST_DEVICE void operator()(std::int64_t i) const {
    const std::int64_t t = i / layout.token_stride;
    const std::int64_t e = i % layout.token_stride;
    const std::int64_t slot = slot_mapping[t];
    if (slot < 0) return;
    const std::int64_t base = layout.slot_offset(slot, layer, 0, 0) + e;
    pool[base] = key[i];
    pool[base + layout.kv_stride] = value[i];
  }
};

}  // namespace kvsched::portable
