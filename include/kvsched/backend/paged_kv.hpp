// kvsched/backend/paged_kv.hpp: block tables of a batch in CSR form and the ragged query batch
// of one paged-attention call; plain views usable on the host and in CUDA kernels.
#pragma once
#include <cmath>
#include <cstdint>

#include "kvsched/core/block_table_csr.hpp"
#include "kvsched/core/host_device.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched {

/// Block tables of a batch in CSR form, as FlashInfer's paged_kv_t takes them (docs/design.md
/// section 2, BlockManager CSR export). Request b owns blocks indices[indptr[b] .. indptr[b+1])
/// in token order; its last block holds last_page_len[b] tokens (1..block_size), so
///   kv_len(b) = (num_pages(b) - 1) * block_size + last_page_len[b].
/// The pointers must be readable where the view is used (host memory for the CPU backend,
/// device memory for CUDA kernels).
struct PagedKvIndex {
  std::int32_t batch_size = 0;                   // requests
  std::int32_t block_size = 0;                   // tokens per block
  const std::int32_t* indptr = nullptr;          // [batch_size + 1] offsets into indices
  const BlockId* indices = nullptr;              // [indptr[batch_size]] device block ids
  const std::int32_t* last_page_len = nullptr;   // [batch_size] tokens in the last block

  /// Blocks of request b.
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t num_pages(std::int32_t b) const { return indptr[b + 1] - indptr[b]; }
  /// Tokens of request b with K/V in the cache (0 when it has no block).
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t kv_len(std::int32_t b) const {
    return csr_kv_len(num_pages(b), block_size, last_page_len[b]);
  }
  /// Block holding token `pos` of request b (pos < kv_len(b)).
  [[nodiscard]] KVSCHED_HOST_DEVICE BlockId block_of(std::int32_t b, std::int32_t pos) const {
    return indices[indptr[b] + pos / block_size];
  }
  /// Slot (block * block_size + offset) of token `pos` of request b.
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int64_t slot_of(std::int32_t b, std::int32_t pos) const {
    return std::int64_t{block_of(b, pos)} * block_size + pos % block_size;
  }
};

/// The batch of one paged-attention call (one layer). Request b's queries are the last
/// qo_len(b) of its kv_len(b) tokens, whose K/V are already written (write_kv first):
///   | kv_len - qo_len cached tokens | qo_len tokens of this step |
/// Query j sits at position kv_len - qo_len + j and attends keys 0..that position (causal
/// mask). Decode: qo_len = 1, the query attends the whole context. Chunked prefill: qo_len =
/// the chunk. Queries and outputs are [num_q_tokens][num_qo_heads][head_dim], request-major;
/// query head h reads KV head h / (num_qo_heads / num_kv_heads) (GQA).
struct AttentionBatch {
  PagedKvIndex kv;                          // block tables and KV lengths
  const std::int32_t* qo_indptr = nullptr;  // [batch_size + 1] query rows per request; nullptr = decode (1 each)
  std::int32_t num_qo_heads = 0;            // query heads, a multiple of the layout's num_kv_heads
  float sm_scale = 0.0f;                    // softmax scale; <= 0 means 1 / sqrt(head_dim)

  /// The softmax scale to apply: sm_scale, or 1 / sqrt(head_dim) when sm_scale <= 0.
  [[nodiscard]] KVSCHED_HOST_DEVICE float scale(std::int32_t head_dim) const {
    return sm_scale > 0.0f ? sm_scale : 1.0f / sqrtf(static_cast<float>(head_dim));
  }

  /// First query token of request b.
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t q_begin(std::int32_t b) const { return qo_indptr ? qo_indptr[b] : b; }
  /// Query tokens of request b.
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t qo_len(std::int32_t b) const {
    return qo_indptr ? qo_indptr[b + 1] - qo_indptr[b] : 1;
  }
  /// Query tokens of the whole batch.
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t num_q_tokens() const { return q_begin(kv.batch_size); }
  /// Position (token index in its sequence) of query j of request b.
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t q_pos(std::int32_t b, std::int32_t j) const {
    return kv.kv_len(b) - qo_len(b) + j;
  }
  /// Request owning query token `t` (binary search in qo_indptr).
  [[nodiscard]] KVSCHED_HOST_DEVICE std::int32_t request_of(std::int32_t t) const {
    if (!qo_indptr) return t;
    std::int32_t lo = 0, hi = kv.batch_size;  // invariant: qo_indptr[lo] <= t < qo_indptr[hi]
    while (hi - lo > 1) {
      const std::int32_t mid = lo + (hi - lo) / 2;
      if (qo_indptr[mid] <= t) lo = mid; else hi = mid;
    }
    return lo;
  }
};

}  // namespace kvsched
