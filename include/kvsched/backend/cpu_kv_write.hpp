// kvsched/backend/cpu_kv_write.hpp: CPU reference of the KV write (vLLM's reshape_and_cache):
// new K/V of this step's tokens go to their slots in one layer of the pool.
#pragma once
#include <algorithm>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>

#include "kvsched/backend/kv_pool.hpp"

namespace kvsched {

/// Writes the K/V of num_tokens = slot_mapping.size() tokens into layer `layer` of `pool`.
///   key, value:   [num_tokens][num_kv_heads][head_dim] elements of type T (the pool's dtype)
///   slot_mapping: [num_tokens] slot = block * block_size + offset in block; -1 = padding
///                 (the token is skipped, as in vLLM).
/// Throws (before writing anything) std::invalid_argument for a bad layer or sizes, and
/// std::out_of_range naming the token whose slot is outside the pool.
template <class T>
void write_kv_cpu(KvPool& pool, std::int32_t layer, std::span<const T> key, std::span<const T> value,
                  std::span<const std::int64_t> slot_mapping) {
  const KvLayout& L = pool.layout();
  const std::size_t row = static_cast<std::size_t>(L.token_stride);  // elements per token and layer, K or V
  if (layer < 0 || layer >= L.num_layers)
    throw std::invalid_argument("write_kv: layer " + std::to_string(layer) + " outside 0.." + std::to_string(L.num_layers - 1));
  if (key.size() != slot_mapping.size() * row || value.size() != key.size())
    throw std::invalid_argument("write_kv: key/value hold " + std::to_string(key.size()) + "/" + std::to_string(value.size()) +
                                " elements, expected " + std::to_string(slot_mapping.size() * row) + " (" +
                                std::to_string(slot_mapping.size()) + " tokens x " + std::to_string(row) + ")");
  const std::int64_t num_slots = std::int64_t{pool.num_blocks()} * L.block_size;
  for (std::size_t t = 0; t < slot_mapping.size(); ++t) {
    const std::int64_t s = slot_mapping[t];
    if (s < -1 || s >= num_slots)
      throw std::out_of_range("write_kv: slot_mapping[" + std::to_string(t) + "] = " + std::to_string(s) + " outside -1.." +
                              std::to_string(num_slots - 1));
  }
  std::span<T> dst = pool.elements<T>();
  for (std::size_t t = 0; t < slot_mapping.size(); ++t) {
    const std::int64_t s = slot_mapping[t];
    if (s < 0) continue;
    // The num_kv_heads heads of one token are contiguous in the block-major layout.
    std::copy_n(key.data() + t * row, row, dst.data() + L.slot_offset(s, layer, 0, 0));
    std::copy_n(value.data() + t * row, row, dst.data() + L.slot_offset(s, layer, 1, 0));
  }
}

}  // namespace kvsched
