// kvsched/policy/victim/slo_victim_selector.hpp: CacheOPT's victim order: long TBT SLO, long
// remaining output, short preemption time first (docs/design.md section 3.2.6).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <vector>

#include "kvsched/policy/common/preemption_cost.hpp"
#include "kvsched/policy/common/slo_slack.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

struct SloVictimConfig {
  double tbt_bucket_s = 0.05;                  // width of a TBT-SLO bucket (s) (ours)
  std::int32_t remaining_bucket_tokens = 128;  // width of a remaining-output bucket (tokens), paper default
  double preemption_bucket_s = 0.01;           // width of a preemption-time bucket (s) (ours)
  PreemptionCostConfig cost{};                 // preemption time = cheaper of swap and recompute
};

/// Sort key of one candidate victim; larger = preempt first.
struct SloVictimKey {
  std::int64_t tbt_bucket = 0;        // floor(TBT SLO / tbt_bucket_s); no SLO = loosest of all
  std::int64_t remaining_bucket = 0;  // floor(predicted remaining output / remaining_bucket_tokens)
  std::int64_t time_bucket = 0;       // floor(preemption time / preemption_bucket_s)

  /// Lexicographic: looser TBT SLO, then longer remaining output, then shorter preemption time.
  [[nodiscard]] bool preempt_before(const SloVictimKey& o) const {
    if (tbt_bucket != o.tbt_bucket) return tbt_bucket > o.tbt_bucket;
    if (remaining_bucket != o.remaining_bucket) return remaining_bucket > o.remaining_bucket;
    return time_bucket < o.time_bucket;
  }
  friend bool operator==(const SloVictimKey&, const SloVictimKey&) = default;
};

/// Victim selection of CacheOPT: among the candidates (running requests not yet scheduled this
/// step, the needy one included) that are not critical, the first in SloVictimKey order, ties
/// to the most recently admitted. Predicted remaining output = the bundle's point estimate
/// minus the tokens generated (SchedulerView::estimate); preemption time = the cheaper feasible
/// of swap and (cache-aware) recompute (preemption_cost.hpp). If every candidate is critical,
/// the same order over all of them. Called once per victim: O(candidates) per call, with the
/// estimate and the cost computed only for candidates still tied on the earlier keys.
class SloVictimSelector {
 public:
  SloVictimConfig config{};

  SloVictimSelector() = default;
  explicit SloVictimSelector(SloVictimConfig c) : config(c) {}

  [[nodiscard]] SloVictimKey key(const Request& r, const SchedulerView& v) const {
    return {tbt_bucket(r), remaining_bucket(r, v), time_bucket(r, v)};
  }

  [[nodiscard]] Request* select(std::span<Request* const> candidates, const Request&, const SchedulerView& v) const {
    if (Request* r = best(candidates, v, true)) return r;
    return best(candidates, v, false);
  }

 private:
  /// The first candidate in key order (ties: the later), computing the costly parts of the
  /// key only where they can still decide: TBT bucket for all, remaining output (an estimate)
  /// for those in the loosest TBT bucket, preemption time for those left.
  [[nodiscard]] Request* best(std::span<Request* const> candidates, const SchedulerView& v, bool skip_critical) const {
    scratch_.clear();
    std::int64_t top = std::numeric_limits<std::int64_t>::min();
    for (Request* c : candidates) {
      if (skip_critical && is_critical(*c, v)) continue;
      const std::int64_t b = tbt_bucket(*c);
      if (b < top) continue;
      if (b > top) scratch_.clear();
      top = b;
      scratch_.push_back(c);
    }
    if (scratch_.empty()) return nullptr;
    if (scratch_.size() == 1) return scratch_.front();
    std::size_t keep = 0;
    top = std::numeric_limits<std::int64_t>::min();
    for (Request* c : scratch_) {
      const std::int64_t b = remaining_bucket(*c, v);
      if (b < top) continue;
      if (b > top) keep = 0;
      top = b;
      scratch_[keep++] = c;
    }
    Request* best = nullptr;
    std::int64_t best_time = 0;
    for (std::size_t i = 0; i < keep; ++i) {
      const std::int64_t t = time_bucket(*scratch_[i], v);
      if (best == nullptr || t <= best_time) {  // ties go to the later candidate
        best = scratch_[i];
        best_time = t;
      }
    }
    return best;
  }

  [[nodiscard]] std::int64_t tbt_bucket(const Request& r) const {
    return r.spec.slo.tbt_s > 0 ? static_cast<std::int64_t>(std::floor(r.spec.slo.tbt_s / config.tbt_bucket_s))
                                : std::numeric_limits<std::int64_t>::max();
  }
  [[nodiscard]] std::int64_t remaining_bucket(const Request& r, const SchedulerView& v) const {
    const double remaining = std::max(0.0, v.estimate(r).point - r.num_generated);
    return static_cast<std::int64_t>(std::floor(remaining / std::max(1, config.remaining_bucket_tokens)));
  }
  [[nodiscard]] std::int64_t time_bucket(const Request& r, const SchedulerView& v) const {
    return static_cast<std::int64_t>(std::floor(preemption_cost(r, v, config.cost).best_s() / config.preemption_bucket_s));
  }

  mutable std::vector<Request*> scratch_;  // candidates still tied (a const query's scratch)
};

}  // namespace kvsched
