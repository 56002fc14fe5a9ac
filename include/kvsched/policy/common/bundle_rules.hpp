// kvsched/policy/common/bundle_rules.hpp: the rules that several policy slots of one bundle
// read (CacheOPT's critical-request rule and global reserve), held once per bundle so that
// the slots cannot disagree.
#pragma once
#include <cstdint>

namespace kvsched {

/// When a request counts as critical and what it gets (CacheOPT section 3.2.5). Read by the
/// allocators (a critical request is granted its current length + B), the proactive reserver
/// (a critical request is topped up by B) and the SLO victim selector (critical requests are
/// spared while others remain).
struct CriticalConfig {
  bool enabled = true;             // false: no request is ever critical (ablation)
  double kappa = 1.0;              // critical when slack <= kappa x largest iteration time seen
  std::int32_t boost_tokens = 0;   // B: KV tokens a critical request is granted beyond its
                                   // current length; 0 = one block (ours)

  /// B in tokens for a pool of `block_size`-token blocks.
  [[nodiscard]] constexpr std::int32_t boost(std::int32_t block_size) const {
    return boost_tokens > 0 ? boost_tokens : block_size;
  }
};

/// How the global reserve G is sized (CacheOPT section 3.2.4).
enum class GlobalReserveRule : std::uint8_t {
  kPoolFraction,       // G = ceil(fraction x device pool blocks) (ours, default 5%)
  kExpectedOvershoot,  // G = ceil(overshoot_probability x sum over running requests of the blocks
                       //     between their reservation and prompt + max_tokens) (ours)
};

/// Configuration of the global reserve G (global_reserve.hpp): the blocks that new admissions
/// may not take. Read by the proactive reserver (admission must leave G) and by the embedding
/// and future-peak allocators (they need G to know when free blocks are short).
struct GlobalReserveConfig {
  bool enabled = true;                 // false: G = 0 (ablation "no reserve")
  GlobalReserveRule rule = GlobalReserveRule::kPoolFraction;
  double fraction = 0.05;              // of the device pool (kPoolFraction)
  double overshoot_probability = 0.1;  // chance a running request outgrows its reservation (kExpectedOvershoot)
};

/// Rules shared by the slots of one bundle. A bundle holds one as its member `rules`
/// (policy/concepts.hpp, HasBundleRules); the scheduler hands it to every policy call through
/// SchedulerView::rules(). Bundles without one get the defaults.
struct BundleRules {
  CriticalConfig critical{};
  GlobalReserveConfig reserve{};
};

/// The rules of a bundle that declares none (and of a hand-built view).
inline constexpr BundleRules kDefaultBundleRules{};

}  // namespace kvsched
