// KV write by slot mapping (vLLM's reshape_and_cache) for the block-major layout.
#include <cstdint>

#include "kvsched/cuda/kernels.hpp"

namespace kvsched::cuda {
namespace {

constexpr int kWriteThreads = 128;

// blockIdx.x = token. The token's num_kv_heads x head_dim elements are one contiguous row in
// the input and in the block (layout [block_size][num_kv_heads][head_dim] per layer and K/V),
// so K and V are each one row copy of row_words words.
template <class Word>
__global__ void __launch_bounds__(kWriteThreads)
    write_kv_kernel(Word* __restrict__ pool, const Word* __restrict__ key, const Word* __restrict__ value,
                    const std::int64_t* __restrict__ slot_mapping, KvLayout layout, std::int32_t layer, std::int64_t row_words,
                    std::int64_t elems_per_word) {
  const std::int64_t t = blockIdx.x;
  const std::int64_t slot = slot_mapping[t];
  if (slot < 0) return;  // padding
  Word* k_dst = pool + layout.slot_offset(slot, layer, 0, 0) / elems_per_word;
  Word* v_dst = pool + layout.slot_offset(slot, layer, 1, 0) / elems_per_word;
  for (std::int64_t w = threadIdx.x; w < row_words; w += kWriteThreads) {
    k_dst[w] = key[t * row_words + w];
    v_dst[w] = value[t * row_words + w];
  }
}

}  // namespace

cudaError_t write_kv(const KvLayout& layout, void* pool, std::int32_t layer, const void* key, const void* value,
                     const std::int64_t* slot_mapping, std::int32_t num_tokens, cudaStream_t stream) {
  if (num_tokens < 0 || layer < 0 || layer >= layout.num_layers) return cudaErrorInvalidValue;
  if (num_tokens == 0) return cudaSuccess;
  const std::int64_t row_bytes = layout.token_stride * layout.elem_bytes;
  const auto align = reinterpret_cast<std::uintptr_t>(pool) | reinterpret_cast<std::uintptr_t>(key) |
                     reinterpret_cast<std::uintptr_t>(value);
  if (row_bytes % 16 == 0 && align % 16 == 0) {
    // Element offsets are multiples of token_stride, so offset / (16 / elem_bytes) is exact.
    write_kv_kernel<uint4><<<static_cast<unsigned>(num_tokens), kWriteThreads, 0, stream>>>(
        static_cast<uint4*>(pool), static_cast<const uint4*>(key), static_cast<const uint4*>(value), slot_mapping, layout, layer,
        row_bytes / 16, 16 / layout.elem_bytes);
  } else if (layout.elem_bytes == 4) {
    write_kv_kernel<std::uint32_t><<<static_cast<unsigned>(num_tokens), kWriteThreads, 0, stream>>>(
        static_cast<std::uint32_t*>(pool), static_cast<const std::uint32_t*>(key), static_cast<const std::uint32_t*>(value),
        slot_mapping, layout, layer, layout.token_stride, 1);
  } else {
    write_kv_kernel<std::uint16_t><<<static_cast<unsigned>(num_tokens), kWriteThreads, 0, stream>>>(
        static_cast<std::uint16_t*>(pool), static_cast<const std::uint16_t*>(key), static_cast<const std::uint16_t*>(value),
        slot_mapping, layout, layer, layout.token_stride, 1);
  }
  return cudaGetLastError();
}

}  // namespace kvsched::cuda
