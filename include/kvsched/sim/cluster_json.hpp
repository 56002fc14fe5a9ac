// kvsched/sim/cluster_json.hpp: JSON of cluster runs and capacity searches (kvsched-sim
// --replicas, --find-replicas). Same flat keys as report_json.hpp.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvsched/sim/capacity.hpp"
#include "kvsched/sim/cluster.hpp"
#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/report_json.hpp"

namespace kvsched::sim {

/// Outcomes of one replica's requests (copies, in arrival order).
[[nodiscard]] inline std::vector<RequestOutcome> replica_outcomes(const ClusterResult& c, std::size_t replica) {
  std::vector<RequestOutcome> out;
  const auto& ids = c.replicas.at(replica).request_ids;
  out.reserve(ids.size());
  for (const RequestId id : ids) out.push_back(c.merged.outcomes.at(id));
  return out;
}

/// One entry of "per_replica": {"replica", "metrics": {metrics_to_json of its requests +
/// scheduler counters, iterations, sim_end_time_s, KV usage summary (no timeline)}}.
[[nodiscard]] inline nlohmann::json replica_to_json(const ClusterResult& c, std::size_t replica) {
  const ReplicaResult& rr = c.replicas.at(replica);
  const auto outcomes = replica_outcomes(c, replica);
  nlohmann::json m = metrics_to_json(compute_metrics(outcomes));
  add_run_counters(m, rr);
  SimResult kv;
  kv.kv_timeline = rr.kv_timeline;
  kv.num_device_blocks = rr.num_device_blocks;
  nlohmann::json scratch;
  add_kv_usage(m, scratch, kv, 1);
  return {{"replica", replica}, {"metrics", std::move(m)}};
}

/// A run entry (report_json.hpp's run_to_json of the merged result); with more than one
/// replica also "router", "replicas" and "per_replica" (replica_to_json each).
[[nodiscard]] inline nlohmann::json cluster_run_to_json(const ClusterResult& c, const SimRequests& reqs,
                                                        bool with_wall_time = true) {
  nlohmann::json j = run_to_json(c.merged, reqs, with_wall_time);
  if (c.replicas.size() > 1) {
    j["router"] = std::string(to_string(c.router));
    j["replicas"] = c.replicas.size();
    nlohmann::json per = nlohmann::json::array();
    for (std::size_t r = 0; r < c.replicas.size(); ++r) per.push_back(replica_to_json(c, r));
    j["per_replica"] = std::move(per);
  }
  return j;
}

/// {"replicas", "ttft_slo_attainment", "tbt_slo_attainment", "slo_attainment", "goodput_rps"}.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(CapacityProbe, replicas, ttft_slo_attainment, tbt_slo_attainment, slo_attainment,
                                   goodput_rps)

/// "capacity": per policy and router {"policy", "router", "replicas" (null when even the
/// largest size tried misses), "probes": [CapacityProbe]}.
[[nodiscard]] inline nlohmann::json capacity_to_json(const std::vector<CapacityResult>& results) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : results) {
    out.push_back({{"policy", r.policy},
                   {"router", r.router},
                   {"replicas", r.replicas ? nlohmann::json(*r.replicas) : nlohmann::json(nullptr)},
                   {"probes", r.probes}});
  }
  return out;
}

}  // namespace kvsched::sim
