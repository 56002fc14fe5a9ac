// kvsched/cuda/cuda_backend.hpp: the CUDA backend, same interface as kvsched::CpuBackend over
// device pointers: a device pool (cudaMalloc) and a pinned host swap pool (cudaHostAlloc) of
// KV blocks, the data movement of a SchedulePlan, the KV write and paged attention.
#pragma once
#include <cstdint>
#include <span>

#include <cuda_runtime_api.h>

#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/paged_kv.hpp"
#include "kvsched/core/schedule_plan.hpp"

namespace kvsched::cuda {

/// CUDA backend. All work is enqueued on one stream, in call order; nothing waits for the
/// GPU except synchronize() and the reuse of the pinned staging buffer of block pairs (the
/// next apply() waits until the previous one's pairs reached the device). CUDA failures throw
/// std::runtime_error naming the call site (KVSCHED_CUDA_CHECK); bad block ids throw
/// std::out_of_range before anything is enqueued, with the same message as CpuBackend.
class CudaBackend {
 public:
  /// Allocates num_device_blocks blocks on the current device and num_host_blocks pinned host
  /// blocks of `shape`, both zeroed. `stream` = nullptr: the backend creates its own stream
  /// (non-blocking) and destroys it; otherwise it uses the caller's.
  CudaBackend(const KvShape& shape, std::int32_t num_device_blocks, std::int32_t num_host_blocks, cudaStream_t stream = nullptr);
  ~CudaBackend();
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  [[nodiscard]] const KvLayout& layout() const { return layout_; }
  [[nodiscard]] std::int32_t num_device_blocks() const { return num_device_blocks_; }
  [[nodiscard]] std::int32_t num_host_blocks() const { return num_host_blocks_; }
  /// Device pool, [num_device_blocks][bytes_per_block] bytes.
  [[nodiscard]] void* device_pool() const { return device_pool_; }
  /// Pinned host pool, [num_host_blocks][bytes_per_block] bytes; readable by the CPU after synchronize().
  [[nodiscard]] void* host_pool() const { return host_pool_; }
  [[nodiscard]] cudaStream_t stream() const { return stream_; }

  /// Enqueues the plan's swap_out (device -> host), swap_in (host -> device) and copy (device
  /// -> device) lists, in that order, one copy_blocks() launch per non-empty list.
  void apply(const SchedulePlan& plan) { enqueue(plan.swap_out, plan.swap_in, plan.copy); }
  void swap_out(std::span<const BlockCopy> pairs) { enqueue(pairs, {}, {}); }
  void swap_in(std::span<const BlockCopy> pairs) { enqueue({}, pairs, {}); }
  void copy(std::span<const BlockCopy> pairs) { enqueue({}, {}, pairs); }

  /// kvsched::cuda::write_kv() on the device pool; key, value, slot_mapping are device pointers.
  void write_kv(std::int32_t layer, const void* key, const void* value, const std::int64_t* slot_mapping, std::int32_t num_tokens);
  /// kvsched::cuda::paged_attention() on the device pool; batch arrays, q and out on the device.
  void paged_attention(std::int32_t layer, const AttentionBatch& batch, std::int32_t max_qo_len, const void* q, void* out);
  /// Waits until everything enqueued so far has finished.
  void synchronize();

 private:
  void enqueue(std::span<const BlockCopy> out, std::span<const BlockCopy> in, std::span<const BlockCopy> cow);
  void reserve_pairs(std::size_t n);
  void release() noexcept;

  KvLayout layout_;
  std::int32_t num_device_blocks_;
  std::int32_t num_host_blocks_;
  void* device_pool_ = nullptr;
  void* host_pool_ = nullptr;
  cudaStream_t stream_ = nullptr;
  bool own_stream_ = false;
  BlockCopy* pairs_host_ = nullptr;    // pinned staging buffer of block pairs
  BlockCopy* pairs_device_ = nullptr;  // device copy the kernels read
  std::size_t pairs_capacity_ = 0;
  cudaEvent_t pairs_staged_ = nullptr;  // recorded after the staging copy: the buffer is free again
};

}  // namespace kvsched::cuda
