// kvsched/policy/allocator/future_peak_allocator.hpp: admit a request when the future peak
// of total KV use still fits (docs/design.md section 3.2.3, ours: the generalisation of CacheOPT's
// embedding condition to all running requests at once).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include "kvsched/policy/allocator/future_kv_curve.hpp"
#include "kvsched/policy/common/global_reserve.hpp"
#include "kvsched/policy/common/slo_slack.hpp"
#include "kvsched/policy/concepts.hpp"

namespace kvsched {

/// Allocator that admits request c when, with every running request i holding len_i tokens now,
/// growing one token per iteration and finishing after r_i = x_tilde_i - generated_i more
/// (its padded estimate), and c doing the same, the predicted KV use never exceeds the pool
/// minus the global reserve:
///   max over t of  sum over alive i of (len_i + t) / block_size  <=  pool - G     (blocks)
/// (FutureKvCurve). Nothing is reserved: blocks are taken on demand (grant = blocks_now), and
/// a request that outlives its estimate grows into the reserve, then preempts. CacheOPT's
/// embedding condition is the special case of one host and one guest; with true lengths this
/// is the ceiling of any length-aware admission. A critical request (slo_slack.hpp) skips the
/// future check (it gets its current need, as CacheOPT's critical requests get prompt + B).
///
/// Cost: the curve of the running requests is built once per step, on the first admission
/// attempt (O(n log n)), updated in O(n) per admission; each test is O(log n). The x_tilde of
/// a running request is the one it was admitted with, re-estimated (SchedulerView::estimate)
/// once it is exceeded.
class FuturePeakAllocator {
 public:
  [[nodiscard]] std::optional<AdmissionGrant> admit(const Request& r, std::int32_t blocks_now, const LengthEstimate& est,
                                                    const SchedulerView& v) const {
    const AdmissionGrant grant{blocks_now, std::nullopt, 0};
    if (is_critical(r, v)) return grant;
    if (!curve_valid_) build(v);
    const double cap = static_cast<double>(v.blocks->num_device_blocks() - global_reserve_blocks(v));
    const std::int64_t rem = remaining(std::ceil(est.upper), r);
    if (v.running.empty()) {
      // Alone, the peak is exact: its last iteration holds num_tokens + rem - 1 tokens. The
      // curve's + 1/2 block (mean partial block) would reject a request that needs the
      // whole pool (prompt + output = max_model_len = the pool), which vLLM serves (ours).
      if (static_cast<double>(blocks_for_tokens(r.num_tokens() + rem - 1, v.blocks->block_size())) > cap) return std::nullopt;
      return grant;
    }
    if (curve_.peak_with(r.num_tokens(), rem) > cap) return std::nullopt;
    return grant;
  }

  void on_admit(const Request& r, const AdmissionGrant&, const LengthEstimate& est, const SchedulerView&) {
    const double upper = std::ceil(est.upper);
    upper_[r.id()] = upper;
    if (curve_valid_) curve_.insert(r.num_tokens(), remaining(upper, r));
  }
  void on_release(const Request& r, BlockManager&) {
    upper_.erase(r.id());
    curve_valid_ = false;
  }
  void begin_step(const SchedulerView&, BlockManager&, std::vector<Request*>&) { curve_valid_ = false; }

  /// Predicted peak KV use (blocks) of the running requests, as of the last admission test.
  [[nodiscard]] double running_peak(const SchedulerView& v) const {
    build(v);
    return curve_.peak();
  }

 private:
  /// Iterations until `r` finishes given a padded total output `upper` (>= 1).
  static std::int64_t remaining(double upper, const Request& r) {
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(upper) - r.num_generated);
  }
  void build(const SchedulerView& v) const {
    curve_.reset(v.blocks->block_size());
    for (const Request* r : v.running) {
      auto it = upper_.find(r->id());
      if (it == upper_.end() || it->second <= r->num_generated) {  // swapped back in, or outlived its estimate
        const double upper = std::ceil(v.estimate(*r).upper);
        it = upper_.insert_or_assign(r->id(), upper).first;
      }
      curve_.add(r->num_tokens(), remaining(it->second, *r));
    }
    curve_.build();
    curve_valid_ = true;
  }

  // Caches of admit() (a const query): the x_tilde of each running request and this step's curve.
  mutable std::unordered_map<RequestId, double> upper_;
  mutable FutureKvCurve curve_;
  mutable bool curve_valid_ = false;
};
static_assert(Allocator<FuturePeakAllocator> && AllocatorBeginStep<FuturePeakAllocator> && AllocatorOnAdmit<FuturePeakAllocator> &&
              AllocatorOnRelease<FuturePeakAllocator>);

}  // namespace kvsched
