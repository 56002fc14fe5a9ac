// kvsched/backend/attention_checks.hpp: host-side validation of a paged-attention call (used by
// the CPU backend and by the Thrust path when its inputs are in host memory).
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/paged_kv.hpp"

namespace kvsched {

/// Checks a paged-attention call whose index arrays are in host memory: layer in range,
/// num_qo_heads a positive multiple of num_kv_heads, block_size equal to the layout's, every
/// request with 1 <= last_page_len <= block_size, 1 <= qo_len <= kv_len, block ids inside a pool
/// of `num_blocks` blocks, and q / out holding num_q_tokens x num_qo_heads x head_dim elements.
/// Throws std::invalid_argument (std::out_of_range for a block id) naming the request and field.
inline void check_attention_call(const KvLayout& L, std::int32_t num_blocks, std::int32_t layer, const AttentionBatch& a,
                                 std::size_t q_size, std::size_t out_size) {
  auto bad = [](const std::string& what) { throw std::invalid_argument("paged_attention: " + what); };
  if (layer < 0 || layer >= L.num_layers) bad("layer " + std::to_string(layer) + " outside 0.." + std::to_string(L.num_layers - 1));
  if (a.num_qo_heads <= 0 || a.num_qo_heads % L.num_kv_heads != 0)
    bad("num_qo_heads " + std::to_string(a.num_qo_heads) + " is not a positive multiple of num_kv_heads " + std::to_string(L.num_kv_heads));
  if (a.kv.block_size != L.block_size)
    bad("block tables use block_size " + std::to_string(a.kv.block_size) + ", the cache " + std::to_string(L.block_size));
  if (a.kv.batch_size < 0) bad("batch_size " + std::to_string(a.kv.batch_size) + " < 0");
  if (a.kv.batch_size > 0 && (!a.kv.indptr || !a.kv.indices || !a.kv.last_page_len)) bad("null block-table pointer");
  for (std::int32_t b = 0; b < a.kv.batch_size; ++b) {
    const std::string req = "request " + std::to_string(b) + ": ";
    if (a.kv.num_pages(b) < 1) bad(req + "no block");
    if (a.kv.last_page_len[b] < 1 || a.kv.last_page_len[b] > L.block_size)
      bad(req + "last_page_len " + std::to_string(a.kv.last_page_len[b]) + " outside 1.." + std::to_string(L.block_size));
    if (a.qo_len(b) < 1 || a.qo_len(b) > a.kv.kv_len(b))
      bad(req + "qo_len " + std::to_string(a.qo_len(b)) + " outside 1..kv_len " + std::to_string(a.kv.kv_len(b)));
    for (std::int32_t i = a.kv.indptr[b]; i < a.kv.indptr[b + 1]; ++i)
      if (a.kv.indices[i] < 0 || a.kv.indices[i] >= num_blocks)
        throw std::out_of_range("paged_attention: " + req + "block " + std::to_string(a.kv.indices[i]) + " (indices[" +
                                std::to_string(i) + "]) outside a pool of " + std::to_string(num_blocks) + " blocks");
  }
  const std::size_t need = static_cast<std::size_t>(a.num_q_tokens()) * static_cast<std::size_t>(a.num_qo_heads) *
                           static_cast<std::size_t>(L.head_dim);
  if (q_size != need || out_size != need)
    bad("q/out hold " + std::to_string(q_size) + "/" + std::to_string(out_size) + " elements, expected " + std::to_string(need) +
        " (num_q_tokens " + std::to_string(a.num_q_tokens()) + " x num_qo_heads " + std::to_string(a.num_qo_heads) +
        " x head_dim " + std::to_string(L.head_dim) + ")");
}

}  // namespace kvsched
