// kvsched/backend/portable/portable_ops.hpp: the portable backend path, Thrust functors run by
// thrust::for_each under any execution policy: thrust::cpp::par / thrust::omp::par (host, in
// tests) or thrust::cuda::par.on(stream) (GPU). Same results as the CPU reference; no checks,
// since the arrays may live in device memory (validate on the host first, e.g. with
// check_attention_call()). Include with THRUST_DEVICE_SYSTEM set to CPP or OMP in a host-only
// build, or from a .cu file.
#pragma once
#include <cstdint>

#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>

#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/paged_kv.hpp"
#include "kvsched/backend/portable/block_copy_functor.hpp"
#include "kvsched/backend/portable/kv_write_functor.hpp"
#include "kvsched/backend/portable/paged_attention_functor.hpp"
#include "kvsched/core/types.hpp"

namespace kvsched::portable {

/// Runs f(i) for i in [0, n) under `exec`.
template <class ExecPolicy, class F>
void for_each_index(const ExecPolicy& exec, std::int64_t n, F f) {
  if (n <= 0) return;
  thrust::for_each(exec, thrust::counting_iterator<std::int64_t>(0), thrust::counting_iterator<std::int64_t>(n), f);
}

/// Copies whole blocks, pair by pair: block pairs[k].src of src_pool -> block pairs[k].dst of
/// dst_pool (bytes_per_block bytes each). Swap out: device -> host pool; swap in: host ->
/// device; copy-on-write: device -> device. `pairs` and both pools must be accessible to
/// `exec` (for the CUDA system: device or pinned, mapped host memory).
template <class ExecPolicy>
void copy_blocks(const ExecPolicy& exec, const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs,
                 std::int32_t num_pairs) {
  const std::int64_t bytes = layout.bytes_per_block();
  auto run = [&]<class Word>(Word*) {
    const std::int64_t words = bytes / static_cast<std::int64_t>(sizeof(Word));
    for_each_index(exec, words * num_pairs,
                   BlockCopyFunctor<Word>{static_cast<const Word*>(src_pool), static_cast<Word*>(dst_pool), pairs, words});
  };
  if (bytes % 8 == 0) run(static_cast<std::uint64_t*>(nullptr));
  else if (bytes % 4 == 0) run(static_cast<std::uint32_t*>(nullptr));
  else run(static_cast<unsigned char*>(nullptr));
}

/// Writes K/V of num_tokens tokens into `layer` of `pool` at their slots (-1 = skipped).
///   key, value: [num_tokens][num_kv_heads][head_dim]; slot_mapping: [num_tokens].
template <class T, class ExecPolicy>
void write_kv(const ExecPolicy& exec, const KvLayout& layout, T* pool, std::int32_t layer, const T* key, const T* value,
              const std::int64_t* slot_mapping, std::int32_t num_tokens) {
  for_each_index(exec, std::int64_t{num_tokens} * layout.token_stride,
                 KvWriteFunctor<T>{layout, pool, layer, key, value, slot_mapping});
}

/// Paged attention of `layer` for `batch` (decode or chunked prefill, GQA, causal):
///   q, out: [num_q_tokens][num_qo_heads][head_dim]; num_q_tokens = batch.num_q_tokens(),
///   passed by the caller because the offsets may be in device memory.
/// head_dim <= kPortableMaxHeadDim.
template <class T, class ExecPolicy>
void paged_attention(const ExecPolicy& exec, const KvLayout& layout, const T* pool, std::int32_t layer,
                     const AttentionBatch& batch, std::int32_t num_q_tokens, const T* q, T* out) {
  for_each_index(exec, std::int64_t{num_q_tokens} * batch.num_qo_heads,
                 PagedAttentionFunctor<T>{layout, pool, layer, batch, q, out});
}

}  // namespace kvsched::portable
