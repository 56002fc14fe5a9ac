// kvsched/policy/reserver/proactive_reserver.hpp: CacheOPT's proactive top-up of a running
// request's reservation and the global reserve (docs/design.md section 3.2.4).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/policy/common/global_reserve.hpp"
#include "kvsched/policy/common/slo_slack.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

struct ProactiveReserverConfig {
  bool top_up = true;                 // false: no proactive top-up (ablation)
  std::int32_t headroom_tokens = 0;   // h: top up when reserved - used <= h tokens; 0 = one block (ours)
};

/// Reserver of CacheOPT.
///
/// Global reserve: a new admission may take blocks from available() only while G blocks stay
/// available after it (can_admit); running requests may use them (growth_floor = 0, top-ups).
///
/// Proactive top-up, after a running request r is scheduled this step (top_up hook):
///   | used (len tokens) | headroom = reserved x block_size - len |
///   when headroom <= h: re-estimate r's output given what it has generated (the bundle's
///   estimator through SchedulerView::estimate, padded again) and raise its reservation to
///   ceil((prompt + x_tilde - 1) / block_size) (critical: len + B tokens at most), and to at
///   least len + h tokens (ours: a request that is still running when its estimate says it
///   should be done gets h more tokens), taking free unreserved blocks first, then the global
///   reserve, as far as they go (a partial top-up is better than none).
struct ProactiveReserver {
  ProactiveReserverConfig config{};

  [[nodiscard]] bool can_admit(const Request&, std::int32_t new_blocks, const SchedulerView& v) const {
    return new_blocks <= 0 || v.blocks->available() - new_blocks >= global_reserve_blocks(v);
  }
  [[nodiscard]] std::int32_t growth_floor(const SchedulerView&) const { return 0; }

  /// h in tokens.
  [[nodiscard]] std::int32_t headroom_trigger(std::int32_t block_size) const {
    return config.headroom_tokens > 0 ? config.headroom_tokens : block_size;
  }

  /// Reservation total (blocks) that a top-up of `r` aims at, from its current estimate.
  [[nodiscard]] std::int32_t top_up_target(const Request& r, const SchedulerView& v) const {
    const std::int32_t bs = v.blocks->block_size();
    const LengthEstimate est = v.estimate(r);
    const std::int64_t len = r.num_tokens();
    std::int64_t tokens = std::max(len, static_cast<std::int64_t>(r.spec.prompt_tokens) +
                                            static_cast<std::int64_t>(std::ceil(est.upper)) - 1);
    if (is_critical(r, v)) tokens = std::min(tokens, len + v.rules().critical.boost(bs));
    tokens = std::max(tokens, len + headroom_trigger(bs));  // never leave <= h tokens of headroom
    return static_cast<std::int32_t>(blocks_for_tokens(tokens, bs));
  }

  void top_up(const Request& r, const SchedulerView& v, BlockManager& bm) const {
    if (!config.top_up) return;
    const std::int32_t bs = bm.block_size();
    const std::int32_t held = bm.num_held(r.id());
    const std::int32_t have = std::max(bm.reservation(r.id()), held);
    const std::int64_t headroom = static_cast<std::int64_t>(have) * bs - r.num_tokens();
    if (headroom > headroom_trigger(bs)) return;
    const std::int32_t target = top_up_target(r, v);
    if (target <= have) return;
    const std::int32_t grant = std::min(target - have, std::max(0, bm.available()));
    if (grant > 0 && !bm.set_reservation(r.id(), have + grant)) throw std::logic_error("ProactiveReserver: top-up does not fit");
  }
};
static_assert(Reserver<ProactiveReserver> && ReserverTopUp<ProactiveReserver>);

}  // namespace kvsched
