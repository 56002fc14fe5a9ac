// examples/kvsched_sim/cluster_table.hpp: the tables kvsched-sim prints for clusters: each
// replica's share of a run (--replicas) and the replicas each policy needs (--find-replicas).
#pragma once
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvsched/sim/capacity.hpp"
#include "report_table.hpp"

namespace kvsched::sim_cli {

/// One row per replica of each cluster run (runs with "per_replica"): requests routed there,
/// finished, preemptions, TTFT p99, stall p99, attainments, prefix-cache hits. Empty when no
/// run is a cluster; only the first `max_runs` cluster runs (the JSON has them all).
[[nodiscard]] inline std::string per_replica_table(const std::vector<nlohmann::json>& runs, std::size_t max_runs = 4) {
  using detail::num;
  using detail::pct;
  std::string out;
  std::size_t shown = 0, clusters = 0;
  for (const auto& r : runs) {
    if (!r.contains("per_replica")) continue;
    ++clusters;
    if (shown == max_runs) continue;
    ++shown;
    out += fmt::format("{} on {} replicas, router {}:\n", r.at("policy").get<std::string>(), r.at("replicas").get<std::size_t>(),
                       r.at("router").get<std::string>());
    out += fmt::format("{:>8} {:>6} {:>6} {:>8} {:>7} {:>8} {:>7} {:>7} {:>10}\n", "replica", "reqs", "done", "preempt",
                       "TTFT99", "stall99", "TTFTok", "TBTok", "cached tok");
    for (const auto& p : r.at("per_replica")) {
      const auto& m = p.at("metrics");
      out += fmt::format("{:>8} {:>6} {:>6} {:>8} {:>7} {:>8} {:>7} {:>7} {:>10}\n", p.at("replica").get<std::size_t>(),
                         m.at("num_requests").get<std::size_t>(), m.at("num_finished").get<std::size_t>(),
                         m.at("preemptions_recompute").get<std::int64_t>() + m.at("preemptions_swap").get<std::int64_t>(),
                         num(m.at("ttft_p99_s"), 1, 3), num(m.at("tbt_max_p99_s"), 1e3, 1), pct(m.at("ttft_slo_attainment")),
                         pct(m.at("tbt_slo_attainment")), m.at("prefix_cache_hit_tokens").get<std::int64_t>());
    }
  }
  if (clusters > shown) out += fmt::format("({} more cluster runs: per-replica metrics in --json)\n", clusters - shown);
  return out;
}

/// Replicas needed: one row per policy, one column per router; "> N" where even the largest
/// size tried misses the SLOs.
[[nodiscard]] inline std::string capacity_table(const std::vector<sim::CapacityResult>& results) {
  std::string out;
  if (results.empty()) return out;
  std::vector<std::string> policies, routers;
  std::map<std::pair<std::string, std::string>, std::string> cell;
  for (const auto& r : results) {
    if (std::find(policies.begin(), policies.end(), r.policy) == policies.end()) policies.push_back(r.policy);
    if (std::find(routers.begin(), routers.end(), r.router) == routers.end()) routers.push_back(r.router);
    std::size_t largest = 0;
    for (const auto& p : r.probes) largest = std::max(largest, p.replicas);
    cell[{r.policy, r.router}] = r.replicas ? std::to_string(*r.replicas) : fmt::format("> {}", largest);
  }
  out += fmt::format("{:<27}", "replicas needed");
  for (const auto& rt : routers) out += fmt::format(" {:>13}", rt);
  out += "\n";
  for (const auto& p : policies) {
    out += fmt::format("{:<27}", p);
    for (const auto& rt : routers) out += fmt::format(" {:>13}", cell[{p, rt}]);
    out += "\n";
  }
  out += "(fewest replicas with TTFT and TBT SLO attainment both >= 90%)\n";
  return out;
}

}  // namespace kvsched::sim_cli
