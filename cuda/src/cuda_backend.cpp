// CudaBackend: pools, staging of block pairs and the launches (see cuda_backend.hpp).
#include "kvsched/cuda/cuda_backend.hpp"

#include <algorithm>
#include <cstring>

#include "kvsched/backend/block_pairs.hpp"
#include "kvsched/cuda/check.hpp"
#include "kvsched/cuda/kernels.hpp"

namespace kvsched::cuda {

CudaBackend::CudaBackend(const KvShape& shape, std::int32_t num_device_blocks, std::int32_t num_host_blocks, cudaStream_t stream)
    : layout_(make_kv_layout(shape)), num_device_blocks_(num_device_blocks), num_host_blocks_(num_host_blocks), stream_(stream) {
  if (num_device_blocks < 0 || num_host_blocks < 0) throw std::invalid_argument("CudaBackend: negative block count");
  try {
    const auto bpb = static_cast<std::size_t>(layout_.bytes_per_block());
    if (!stream_) {
      KVSCHED_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
      own_stream_ = true;
    }
    KVSCHED_CUDA_CHECK(cudaEventCreateWithFlags(&pairs_staged_, cudaEventDisableTiming));
    if (num_device_blocks > 0) {
      KVSCHED_CUDA_CHECK(cudaMalloc(&device_pool_, bpb * static_cast<std::size_t>(num_device_blocks)));
      KVSCHED_CUDA_CHECK(cudaMemsetAsync(device_pool_, 0, bpb * static_cast<std::size_t>(num_device_blocks), stream_));
    }
    if (num_host_blocks > 0) {
      // Pinned and mapped (implied under UVA): the copy kernel reads and writes it directly.
      KVSCHED_CUDA_CHECK(cudaHostAlloc(&host_pool_, bpb * static_cast<std::size_t>(num_host_blocks), cudaHostAllocDefault));
      std::memset(host_pool_, 0, bpb * static_cast<std::size_t>(num_host_blocks));
    }
    reserve_pairs(256);
    KVSCHED_CUDA_CHECK(cudaStreamSynchronize(stream_));
  } catch (...) {
    release();
    throw;
  }
}

CudaBackend::~CudaBackend() { release(); }

void CudaBackend::release() noexcept {
  // Errors here cannot be reported; free what was allocated.
  if (stream_) (void)cudaStreamSynchronize(stream_);
  if (pairs_device_) (void)cudaFree(pairs_device_);
  if (pairs_host_) (void)cudaFreeHost(pairs_host_);
  if (device_pool_) (void)cudaFree(device_pool_);
  if (host_pool_) (void)cudaFreeHost(host_pool_);
  if (pairs_staged_) (void)cudaEventDestroy(pairs_staged_);
  if (own_stream_ && stream_) (void)cudaStreamDestroy(stream_);
  pairs_device_ = pairs_host_ = nullptr;
  device_pool_ = host_pool_ = nullptr;
  pairs_staged_ = nullptr;
  stream_ = nullptr;
}

void CudaBackend::reserve_pairs(std::size_t n) {
  if (n <= pairs_capacity_) return;
  n = std::max(n, 2 * pairs_capacity_);
  KVSCHED_CUDA_CHECK(cudaStreamSynchronize(stream_));  // kernels may still read the old buffers
  if (pairs_device_) KVSCHED_CUDA_CHECK(cudaFree(pairs_device_));
  if (pairs_host_) KVSCHED_CUDA_CHECK(cudaFreeHost(pairs_host_));
  pairs_device_ = pairs_host_ = nullptr;
  pairs_capacity_ = 0;
  KVSCHED_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&pairs_host_), n * sizeof(BlockCopy), cudaHostAllocDefault));
  KVSCHED_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&pairs_device_), n * sizeof(BlockCopy)));
  pairs_capacity_ = n;
}

void CudaBackend::enqueue(std::span<const BlockCopy> out, std::span<const BlockCopy> in, std::span<const BlockCopy> cow) {
  check_block_pairs(out, num_device_blocks_, num_host_blocks_, "swap_out");
  check_block_pairs(in, num_host_blocks_, num_device_blocks_, "swap_in");
  check_block_pairs(cow, num_device_blocks_, num_device_blocks_, "copy");
  const std::size_t n = out.size() + in.size() + cow.size();
  if (n == 0) return;
  reserve_pairs(n);
  KVSCHED_CUDA_CHECK(cudaEventSynchronize(pairs_staged_));  // the previous staging copy is done
  std::copy(out.begin(), out.end(), pairs_host_);
  std::copy(in.begin(), in.end(), pairs_host_ + out.size());
  std::copy(cow.begin(), cow.end(), pairs_host_ + out.size() + in.size());
  KVSCHED_CUDA_CHECK(cudaMemcpyAsync(pairs_device_, pairs_host_, n * sizeof(BlockCopy), cudaMemcpyHostToDevice, stream_));
  KVSCHED_CUDA_CHECK(cudaEventRecord(pairs_staged_, stream_));
  const BlockCopy* p = pairs_device_;
  KVSCHED_CUDA_CHECK(copy_blocks(layout_, device_pool_, host_pool_, p, static_cast<std::int32_t>(out.size()), stream_));
  p += out.size();
  KVSCHED_CUDA_CHECK(copy_blocks(layout_, host_pool_, device_pool_, p, static_cast<std::int32_t>(in.size()), stream_));
  p += in.size();
  KVSCHED_CUDA_CHECK(copy_blocks(layout_, device_pool_, device_pool_, p, static_cast<std::int32_t>(cow.size()), stream_));
}

void CudaBackend::write_kv(std::int32_t layer, const void* key, const void* value, const std::int64_t* slot_mapping,
                           std::int32_t num_tokens) {
  KVSCHED_CUDA_CHECK(kvsched::cuda::write_kv(layout_, device_pool_, layer, key, value, slot_mapping, num_tokens, stream_));
}

void CudaBackend::paged_attention(std::int32_t layer, const AttentionBatch& batch, std::int32_t max_qo_len, const void* q, void* out) {
  KVSCHED_CUDA_CHECK(kvsched::cuda::paged_attention(layout_, device_pool_, layer, batch, max_qo_len, q, out, stream_));
}

void CudaBackend::synchronize() { KVSCHED_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

}  // namespace kvsched::cuda
