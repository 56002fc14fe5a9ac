// Block swap / copy-on-write kernel: all pairs in one launch (docs/design.md section 5).
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kvsched/cuda/kernels.hpp"

namespace kvsched::cuda {
namespace {

constexpr int kCopyThreads = 256;        // threads per thread block
constexpr int kCopyWordsPerThread = 8;   // words each thread moves per pass (memory-level parallelism)

// blockIdx.x = pair, blockIdx.y = chunk of the block; grid-stride over the block's words.
template <class Word>
__global__ void __launch_bounds__(kCopyThreads)
    copy_blocks_kernel(const Word* __restrict__ src, Word* __restrict__ dst, const BlockCopy* __restrict__ pairs,
                       std::int64_t words_per_block) {
  const BlockCopy p = pairs[blockIdx.x];
  const Word* s = src + std::int64_t{p.src} * words_per_block;
  Word* d = dst + std::int64_t{p.dst} * words_per_block;
  const std::int64_t stride = std::int64_t{gridDim.y} * kCopyThreads;
  std::int64_t w = std::int64_t{blockIdx.y} * kCopyThreads + threadIdx.x;
  // Several independent loads in flight per thread before the stores (host link latency).
  for (; w + (kCopyWordsPerThread - 1) * stride < words_per_block; w += kCopyWordsPerThread * stride) {
    Word v[kCopyWordsPerThread];
#pragma unroll
    for (int i = 0; i < kCopyWordsPerThread; ++i) v[i] = s[w + i * stride];
#pragma unroll
    for (int i = 0; i < kCopyWordsPerThread; ++i) d[w + i * stride] = v[i];
  }
  for (; w < words_per_block; w += stride) d[w] = s[w];
}

template <class Word>
cudaError_t launch_copy(const void* src, void* dst, const BlockCopy* pairs, std::int32_t num_pairs, std::int64_t bytes,
                        cudaStream_t stream) {
  const std::int64_t words = bytes / static_cast<std::int64_t>(sizeof(Word));
  const std::int64_t per_cta = std::int64_t{kCopyThreads} * kCopyWordsPerThread;
  const auto chunks = static_cast<unsigned>(std::min<std::int64_t>((words + per_cta - 1) / per_cta, 65535));
  copy_blocks_kernel<Word><<<dim3(static_cast<unsigned>(num_pairs), chunks), kCopyThreads, 0, stream>>>(
      static_cast<const Word*>(src), static_cast<Word*>(dst), pairs, words);
  return cudaGetLastError();
}

}  // namespace

cudaError_t copy_blocks(const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs,
                        std::int32_t num_pairs, cudaStream_t stream) {
  if (num_pairs < 0) return cudaErrorInvalidValue;
  if (num_pairs == 0) return cudaSuccess;
  const std::int64_t bytes = layout.bytes_per_block();
  const auto align = reinterpret_cast<std::uintptr_t>(src_pool) | reinterpret_cast<std::uintptr_t>(dst_pool);
  if (bytes % 16 == 0 && align % 16 == 0) return launch_copy<uint4>(src_pool, dst_pool, pairs, num_pairs, bytes, stream);
  return launch_copy<unsigned char>(src_pool, dst_pool, pairs, num_pairs, bytes, stream);
}

cudaError_t copy_blocks_memcpy_batch(const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs_host,
                                     std::int32_t num_pairs, cudaStream_t stream) {
  if (num_pairs < 0 || stream == nullptr) return cudaErrorInvalidValue;
  if (num_pairs == 0) return cudaSuccess;
  const auto bytes = static_cast<std::size_t>(layout.bytes_per_block());
  const auto n = static_cast<std::size_t>(num_pairs);
  std::vector<void*> dsts(n);
  std::vector<const void*> srcs(n);
  std::vector<std::size_t> sizes(n, bytes);
  for (std::size_t i = 0; i < n; ++i) {
    srcs[i] = static_cast<const char*>(src_pool) + static_cast<std::size_t>(pairs_host[i].src) * bytes;
    dsts[i] = static_cast<char*>(dst_pool) + static_cast<std::size_t>(pairs_host[i].dst) * bytes;
  }
  cudaMemcpyAttributes attr{};
  attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
  std::size_t attr_idx = 0;
  return cudaMemcpyBatchAsync(dsts.data(), srcs.data(), sizes.data(), n, &attr, &attr_idx, 1, stream);
}

}  // namespace kvsched::cuda
