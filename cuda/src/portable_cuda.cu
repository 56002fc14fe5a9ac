// The portable Thrust path (kvsched/backend/portable/) compiled for the GPU: the same functors
// the CPU tests run under Thrust's CPP/OMP systems, here under thrust::cuda::par_nosync.
#include <thrust/execution_policy.h>
#include <thrust/system/cuda/execution_policy.h>
#include <thrust/system_error.h>

#include "kvsched/backend/portable/portable_ops.hpp"
#include "kvsched/cuda/cuda_element.cuh"
#include "kvsched/cuda/kernels.hpp"

namespace kvsched::cuda::portable_path {
namespace {

// Runs f(policy) and turns Thrust's exceptions into the CUDA error they carry.
template <class F>
cudaError_t run(cudaStream_t stream, F&& f) {
  try {
    f(thrust::cuda::par_nosync.on(stream));
  } catch (const thrust::system_error& e) {
    return static_cast<cudaError_t>(e.code().value());
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t copy_blocks(const KvLayout& layout, const void* src_pool, void* dst_pool, const BlockCopy* pairs,
                        std::int32_t num_pairs, cudaStream_t stream) {
  if (num_pairs < 0) return cudaErrorInvalidValue;
  return run(stream, [&](const auto& exec) { portable::copy_blocks(exec, layout, src_pool, dst_pool, pairs, num_pairs); });
}

cudaError_t write_kv(const KvLayout& layout, void* pool, std::int32_t layer, const void* key, const void* value,
                     const std::int64_t* slot_mapping, std::int32_t num_tokens, cudaStream_t stream) {
  if (num_tokens < 0 || layer < 0 || layer >= layout.num_layers) return cudaErrorInvalidValue;
  return visit_cuda_dtype(layout.dtype, [&]<class T>(std::type_identity<T>) {
    return run(stream, [&](const auto& exec) {
      portable::write_kv(exec, layout, static_cast<T*>(pool), layer, static_cast<const T*>(key), static_cast<const T*>(value),
                         slot_mapping, num_tokens);
    });
  });
}

cudaError_t paged_attention(const KvLayout& layout, const void* pool, std::int32_t layer, const AttentionBatch& batch,
                            std::int32_t num_q_tokens, const void* q, void* out, cudaStream_t stream) {
  if (layer < 0 || layer >= layout.num_layers || num_q_tokens < 0 || layout.head_dim > portable::kPortableMaxHeadDim ||
      batch.num_qo_heads <= 0 || batch.num_qo_heads % layout.num_kv_heads != 0)
    return cudaErrorInvalidValue;
  return visit_cuda_dtype(layout.dtype, [&]<class T>(std::type_identity<T>) {
    return run(stream, [&](const auto& exec) {
      portable::paged_attention(exec, layout, static_cast<const T*>(pool), layer, batch, num_q_tokens,
                                static_cast<const T*>(q), static_cast<T*>(out));
    });
  });
}

}  // namespace kvsched::cuda::portable_path
