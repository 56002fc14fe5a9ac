// kvsched/sim/capacity.hpp: capacity planning (kvsched-sim --find-replicas): the fewest
// replicas that sustain a trace with both SLO attainments >= 90% (design.md section 4's
// threshold), found by galloping then binary search.
#pragma once
#include <algorithm>
#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kvsched::sim {

/// One simulated cluster size.
struct CapacityProbe {
  std::size_t replicas = 0;
  double ttft_slo_attainment = 0.0;
  double tbt_slo_attainment = 0.0;
  double slo_attainment = 0.0;  // both SLOs
  double goodput_rps = 0.0;
};

/// Result of a search for one policy and router.
struct CapacityResult {
  std::string policy;
  std::string router;
  std::optional<std::size_t> replicas;  // fewest that sustain; nullopt if max_replicas does not
  std::vector<CapacityProbe> probes;    // every size simulated, by increasing replicas
};

/// Whether a probe sustains the trace: TTFT and TBT attainment both >= threshold.
[[nodiscard]] inline bool sustains(const CapacityProbe& p, double threshold = 0.9) {
  return p.ttft_slo_attainment >= threshold && p.tbt_slo_attainment >= threshold;
}

/// Fewest replicas in [1, max_replicas] at which probe(replicas) sustains: tries 1, 2, 4, ...
/// (capped at max_replicas) until one sustains, then bisects between the last failing size
/// and it. Assumes attainment does not fall as replicas are added (true of the routers here
/// up to simulation noise; a non-monotone case can make the answer larger than the true
/// minimum, never a size that fails). Each size is simulated at most once.
/// Throws std::invalid_argument when max_replicas < 1.
[[nodiscard]] inline std::optional<std::size_t> find_min_replicas(const std::function<CapacityProbe(std::size_t)>& probe,
                                                                  std::size_t max_replicas,
                                                                  std::vector<CapacityProbe>* probes = nullptr,
                                                                  double threshold = 0.9) {
  if (max_replicas < 1) throw std::invalid_argument("find_min_replicas: max_replicas must be >= 1");
  std::map<std::size_t, CapacityProbe> seen;
  const auto ok = [&](std::size_t r) {
    auto it = seen.find(r);
    if (it == seen.end()) {
      CapacityProbe p = probe(r);
      p.replicas = r;
      it = seen.emplace(r, p).first;
    }
    return sustains(it->second, threshold);
  };
  std::optional<std::size_t> found;
  std::size_t lo = 0;  // largest size known to fail (0: none)
  for (std::size_t r = 1;; r = std::min(max_replicas, r * 2)) {
    if (ok(r)) {
      found = r;
      break;
    }
    lo = r;
    if (r == max_replicas) break;
  }
  if (found) {
    std::size_t hi = *found;  // sustains
    while (hi - lo > 1) {
      const std::size_t mid = lo + (hi - lo) / 2;
      if (ok(mid)) {
        hi = mid;
      } else {
        lo = mid;
      }
    }
    found = hi;
  }
  if (probes) {
    probes->clear();
    for (const auto& [r, p] : seen) probes->push_back(p);
  }
  return found;
}

}  // namespace kvsched::sim
