// kvsched/cuda/kernels.hpp: launchers of the CUDA backend's kernels (docs/design.md section 5).
// Host header: callable from code compiled by a host compiler, linking kvsched::cuda. Every
// launcher enqueues work on `stream` (last argument) and returns cudaError_t: cudaSuccess,
// cudaErrorInvalidValue for arguments it cannot take (named in the doc comment), or the launch
// error. Pointers are device pointers unless said otherwise; the host pool must be pinned
// (cudaHostAlloc / cudaMallocHost), which CUDA maps into the device's address space (UVA).
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/paged_kv.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched::cuda {

/// Copies whole blocks in one kernel launch for all pairs (16-byte words when both pools are
/// 16-byte aligned and bytes_per_block is a multiple of 16, bytes otherwise):
///   dst_pool[pairs[k].dst] = src_pool[pairs[k].src]  (layout.bytes_per_block() bytes, all layers)
/// Swap out: device pool -> pinned host pool; swap in: pinned host pool -> device pool (the
/// kernel reads or writes host memory over the host link); copy-on-write: device -> device.
/// `pairs` [num_pairs] must be device-accessible (device or pinned memory). Pairs run in any
/// order: no block may be both a src and a dst of one call (true of each plan list).
/// Ids are not checked (check them on the host, as CudaBackend::apply does).
cudaError_t copy_blocks(const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs,
                        std::int32_t num_pairs, cudaStream_t stream = nullptr);

/// Same copies as one cudaMemcpyBatchAsync call (CUDA 12.8+: the driver picks copy engines),
/// for comparison with copy_blocks. `pairs_host` [num_pairs] is in host memory and read
/// during the call. `stream` must not be the legacy default stream (cudaErrorInvalidValue).
cudaError_t copy_blocks_memcpy_batch(const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs_host,
                                     std::int32_t num_pairs, cudaStream_t stream);

/// Writes the K/V of num_tokens tokens into `layer` of `pool` at their slots (vLLM's
/// reshape_and_cache; a slot is block * block_size + offset, -1 = padding, skipped):
///   key, value: [num_tokens][num_kv_heads][head_dim] of the layout's dtype; slot_mapping: [num_tokens].
/// Dtype-agnostic (moves each token's heads as one row of bytes).
cudaError_t write_kv(const KvLayout& layout, void* pool, std::int32_t layer, const void* key, const void* value,
                     const std::int64_t* slot_mapping, std::int32_t num_tokens, cudaStream_t stream = nullptr);

/// Paged attention of `layer` for `batch` (decode: qo_indptr null; chunked prefill: causal mask
/// over each request's cached prefix and its chunk; GQA), fp32 arithmetic with an online
/// softmax, out rounded to the dtype once:
///   q, out: [num_q_tokens][num_qo_heads][head_dim] of the layout's dtype.
/// batch's arrays (indptr, indices, last_page_len, qo_indptr) are device pointers; batch_size,
/// num_qo_heads and `max_qo_len` (the largest qo_len in the batch, 1 for decode) are host values.
/// One thread block per (request, KV head, tile of 16 query rows), query rows = (token, head of
/// the GQA group); K/V are read in tiles of 32 tokens into shared memory.
/// cudaErrorInvalidValue: head_dim not 64 or 128, num_qo_heads not a multiple of num_kv_heads,
/// max_qo_len < 1, batch_size > 2^31 - 1 or more than 65535 query-row tiles.
cudaError_t paged_attention(const KvLayout& layout, const void* pool, std::int32_t layer, const AttentionBatch& batch,
                            std::int32_t max_qo_len, const void* q, void* out, cudaStream_t stream = nullptr);

/// The portable Thrust path (kvsched/backend/portable/) compiled for the GPU
/// (thrust::cuda::par_nosync.on(stream)): the same functors the CPU tests run. Slower than the
/// kernels above (one thread per element or per (query token, head)); used to cross-check them.
namespace portable_path {
/// See kvsched::portable::copy_blocks.
cudaError_t copy_blocks(const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs,
                        std::int32_t num_pairs, cudaStream_t stream = nullptr);
/// See kvsched::portable::write_kv.
cudaError_t write_kv(const KvLayout& layout, void* pool, std::int32_t layer, const void* key, const void* value,
                     const std::int64_t* slot_mapping, std::int32_t num_tokens, cudaStream_t stream = nullptr);
/// See kvsched::portable::paged_attention; `num_q_tokens` = batch.num_q_tokens() (host value);
/// head_dim <= 256, else cudaErrorInvalidValue.
cudaError_t paged_attention(const KvLayout& layout, const void* pool, std::int32_t layer, const AttentionBatch& batch,
                            std::int32_t num_q_tokens, const void* q, void* out, cudaStream_t stream = nullptr);
}  // namespace portable_path

}  // namespace kvsched::cuda
