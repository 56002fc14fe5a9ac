// kvsched/backend/cpu_backend.hpp: the CPU backend, the reference every test runs (docs/design.md
// sections 2 and 5): a device pool and a host (swap) pool of KV blocks, the data movement of a
// SchedulePlan, the KV write and paged attention.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>
#include <span>
#include <stdexcept>
#include <string>

#include "kvsched/backend/cpu_block_ops.hpp"
#include "kvsched/backend/cpu_element.hpp"
#include "kvsched/backend/cpu_kv_write.hpp"
#include "kvsched/backend/cpu_paged_attention.hpp"
#include "kvsched/backend/kv_layout.hpp"
#include "kvsched/backend/kv_pool.hpp"
#include "kvsched/core/schedule_plan.hpp"

namespace kvsched {

/// CPU backend. Its "device" pool stands for GPU memory (block ids of the scheduler's device
/// pool), its host pool for the pinned swap space (ids of the host pool). Per iteration an
/// engine calls apply(plan), then per layer write_kv() for the step's tokens and
/// paged_attention() for its queries. The CUDA backend (kvsched::cuda::CudaBackend) has the
/// same methods over device pointers. Element type T of the templates must be the CPU type
/// of the shape's dtype (float, Eigen::half, Eigen::bfloat16); a mismatch throws
/// std::invalid_argument.
class CpuBackend {
 public:
  /// Allocates num_device_blocks and num_host_blocks zeroed blocks of `shape`.
  /// Throws std::invalid_argument for a bad shape or a negative block count.
  CpuBackend(const KvShape& shape, std::int32_t num_device_blocks, std::int32_t num_host_blocks)
      : layout_(make_kv_layout(shape)), device_(layout_, num_device_blocks), host_(layout_, num_host_blocks) {}

  [[nodiscard]] const KvLayout& layout() const { return layout_; }
  [[nodiscard]] KvPool& device_pool() { return device_; }
  [[nodiscard]] const KvPool& device_pool() const { return device_; }
  [[nodiscard]] KvPool& host_pool() { return host_; }
  [[nodiscard]] const KvPool& host_pool() const { return host_; }

  /// Fault injection for tests: called as fault(list, index) before each pair of a plan's
  /// lists ("swap_out", "swap_in", "copy"); true makes that pair fail (nothing is copied, the
  /// destination keeps whatever it held), as a copy error or an unreachable host buffer would.
  using FaultInjector = std::function<bool(const char* list, std::size_t index)>;
  void set_fault_injector(FaultInjector f) { fault_ = std::move(f); }

  /// Applies a plan's data movement in the plan's order: swap_out (device -> host), then
  /// swap_in (host -> device), then copy (device -> device, copy-on-write). Each list is checked
  /// before it is applied; a bad block id throws std::out_of_range naming the list and index
  /// ("swap_in[2].dst = 40 outside a pool of 32 blocks"). Returns the destinations of the
  /// pairs that failed (only with a fault injector), for StepResult::lost_blocks.
  std::vector<LostBlock> apply(const SchedulePlan& plan) {
    std::vector<LostBlock> lost;
    if (!fault_) {
      swap_out(plan.swap_out);
      swap_in(plan.swap_in);
      copy(plan.copy);
      return lost;
    }
    auto run = [&](const std::vector<BlockCopy>& pairs, const char* list, Pool dst_pool, auto&& op) {
      std::vector<BlockCopy> ok;
      ok.reserve(pairs.size());
      for (std::size_t i = 0; i < pairs.size(); ++i) {
        if (fault_(list, i)) lost.push_back({dst_pool, pairs[i].dst});
        else ok.push_back(pairs[i]);
      }
      op(ok);
    };
    run(plan.swap_out, "swap_out", Pool::kHost, [&](const auto& v) { swap_out(v); });
    run(plan.swap_in, "swap_in", Pool::kDevice, [&](const auto& v) { swap_in(v); });
    run(plan.copy, "copy", Pool::kDevice, [&](const auto& v) { copy(v); });
    return lost;
  }
  /// Device block src -> host block dst, per pair.
  void swap_out(std::span<const BlockCopy> pairs) { copy_blocks_cpu(device_, host_, pairs, "swap_out"); }
  /// Host block src -> device block dst, per pair.
  void swap_in(std::span<const BlockCopy> pairs) { copy_blocks_cpu(host_, device_, pairs, "swap_in"); }
  /// Device block src -> device block dst, per pair (copy-on-write; the source is left intact).
  void copy(std::span<const BlockCopy> pairs) { copy_blocks_cpu(device_, device_, pairs, "copy"); }

  /// Writes K/V of slot_mapping.size() tokens into `layer` of the device pool; see write_kv_cpu().
  template <class T>
  void write_kv(std::int32_t layer, std::span<const T> key, std::span<const T> value, std::span<const std::int64_t> slot_mapping) {
    check_type<T>();
    write_kv_cpu<T>(device_, layer, key, value, slot_mapping);
  }
  /// Paged attention over the device pool's `layer`; see paged_attention_cpu().
  template <class T>
  void paged_attention(std::int32_t layer, const AttentionBatch& batch, std::span<const T> q, std::span<T> out) const {
    check_type<T>();
    paged_attention_cpu<T>(device_, layer, batch, q, out);
  }

 private:
  template <class T>
  void check_type() const {
    if (KvDtypeOf<T>::value != layout_.dtype)
      throw std::invalid_argument(std::string("CpuBackend: element type of ") + to_string(KvDtypeOf<T>::value) +
                                  " for a " + to_string(layout_.dtype) + " cache");
  }

  KvLayout layout_;
  KvPool device_;
  KvPool host_;
  FaultInjector fault_;
};

}  // namespace kvsched
