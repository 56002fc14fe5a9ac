// kvsched/sim/router.hpp: the cluster's global router: which replica a new request goes to.
// Four rules, each after a public router (docs/cluster.md section 1 cites them):
//   round_robin   replicas in turn (Vidur's RoundRobinGlobalScheduler);
//   least_loaded  fewest outstanding requests (Vidur's LORGlobalScheduler,
//                 vidur/scheduler/global_scheduler/lor_global_scheduler.py, schedule():
//                 min over replicas of num_pending_requests, then += 1 for the pick);
//   kv_aware      most free KV blocks after the prompts already routed there but not yet admitted;
//   prefix_aware  SGLang's cache-aware router (sgl-router src/policies/cache_aware.rs,
//                 select_worker_with_headers): shortest queue when the loads are imbalanced
//                 (max - min > abs_threshold and max > rel_threshold x min), else the replica with
//                 the longest cached prefix when its match rate > cache_threshold, else the least
//                 loaded. The prefix is the replica's real cached prefix (block hashes probed in its
//                 block manager), as llm-d's precise prefix-cache scorer and Mooncake's Conductor
//                 (arXiv 2407.00079, KVCache-centric scheduling, Algorithm 1) read the engines'
//                 caches, not SGLang's approximate tree.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace kvsched::sim {

/// A routing rule (see the file comment).
enum class RouterKind : std::uint8_t { kRoundRobin, kLeastLoaded, kKvAware, kPrefixAware };

/// Name as the CLI spells it: round_robin, least_loaded, kv_aware, prefix_aware.
[[nodiscard]] constexpr std::string_view to_string(RouterKind k) {
  switch (k) {
    case RouterKind::kRoundRobin: return "round_robin";
    case RouterKind::kLeastLoaded: return "least_loaded";
    case RouterKind::kKvAware: return "kv_aware";
    case RouterKind::kPrefixAware: return "prefix_aware";
  }
  return "?";
}

/// Parses a router name; nullopt when unknown.
[[nodiscard]] inline std::optional<RouterKind> parse_router(std::string_view s) {
  for (auto k : {RouterKind::kRoundRobin, RouterKind::kLeastLoaded, RouterKind::kKvAware, RouterKind::kPrefixAware}) {
    if (s == to_string(k)) return k;
  }
  return std::nullopt;
}

/// Thresholds of prefix_aware; defaults are sgl-router's CacheAwareConfig::default().
struct RouterConfig {
  double cache_threshold = 0.5;         // route by prefix only when cached / prompt tokens > this
  std::size_t balance_abs_threshold = 32;  // imbalanced when max - min load > this (requests) ...
  double balance_rel_threshold = 1.0001;   // ... and max load > this x min load
};

/// What the router sees of one replica when a request arrives.
struct ReplicaState {
  std::size_t outstanding = 0;        // requests routed to it and not yet terminal
  std::int64_t kv_free_blocks = 0;    // available() KV blocks minus prompt blocks routed, not yet admitted (may be < 0)
  std::int32_t cached_prefix_tokens = 0;  // the request's leading tokens cached there (prefix_aware only)
};

/// Index of the least loaded replica (fewest outstanding; ties: lowest index). states non-empty.
[[nodiscard]] inline std::size_t least_loaded(std::span<const ReplicaState> states) {
  std::size_t best = 0;
  for (std::size_t i = 1; i < states.size(); ++i) {
    if (states[i].outstanding < states[best].outstanding) best = i;
  }
  return best;
}

/// Picks the replica for a request of prompt_tokens tokens. `rr_next` is the round-robin
/// cursor (advanced by round_robin only). Ties go to fewer outstanding, then the lowest index,
/// so decisions are deterministic. states must be non-empty.
[[nodiscard]] inline std::size_t choose_replica(RouterKind kind, const RouterConfig& cfg, std::int32_t prompt_tokens,
                                                std::span<const ReplicaState> states, std::size_t& rr_next) {
  const std::size_t n = states.size();
  switch (kind) {
    case RouterKind::kRoundRobin: {
      const std::size_t r = rr_next % n;
      rr_next = r + 1;
      return r;
    }
    case RouterKind::kLeastLoaded: return least_loaded(states);
    case RouterKind::kKvAware: {
      std::size_t best = 0;
      for (std::size_t i = 1; i < n; ++i) {
        const auto& a = states[i];
        const auto& b = states[best];
        if (a.kv_free_blocks > b.kv_free_blocks || (a.kv_free_blocks == b.kv_free_blocks && a.outstanding < b.outstanding)) {
          best = i;
        }
      }
      return best;
    }
    case RouterKind::kPrefixAware: {
      const std::size_t lo = least_loaded(states);
      std::size_t max_load = 0;
      for (const auto& s : states) max_load = std::max(max_load, s.outstanding);
      const std::size_t min_load = states[lo].outstanding;
      const bool imbalanced = max_load - min_load > cfg.balance_abs_threshold &&
                              static_cast<double>(max_load) > static_cast<double>(min_load) * cfg.balance_rel_threshold;
      if (imbalanced) return lo;
      std::size_t best = 0;
      for (std::size_t i = 1; i < n; ++i) {
        const auto& a = states[i];
        const auto& b = states[best];
        if (a.cached_prefix_tokens > b.cached_prefix_tokens ||
            (a.cached_prefix_tokens == b.cached_prefix_tokens && a.outstanding < b.outstanding)) {
          best = i;
        }
      }
      const double rate = prompt_tokens > 0 ? static_cast<double>(states[best].cached_prefix_tokens) / prompt_tokens : 0.0;
      return rate > cfg.cache_threshold ? best : lo;
    }
  }
  return 0;
}

}  // namespace kvsched::sim
