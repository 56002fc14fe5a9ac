// examples/kvsched_sim/cluster_runs.hpp: kvsched-sim's runs (policies x routers on a cluster
// of --replicas) and capacity searches (--find-replicas), on --threads threads.
#pragma once
#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvsched/sim/capacity.hpp"
#include "kvsched/sim/cluster.hpp"
#include "kvsched/sim/cluster_json.hpp"
#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/parallel.hpp"
#include "kvsched/sim/requests_csv.hpp"
#include "kvsched/sim/sim_setup.hpp"
#include "progress_bar.hpp"

namespace kvsched::sim_cli {

/// One run of a report: a policy (preset + overrides, sim_setup.hpp) on a cluster shape.
struct RunSpec {
  PolicySpec policy;
  sim::ClusterOptions cluster;
};

/// Run specs for every policy x router (policy-major), each on `replicas` replicas.
[[nodiscard]] inline std::vector<RunSpec> run_specs(const std::vector<PolicySpec>& policies,
                                                    const std::vector<sim::RouterKind>& routers, std::size_t replicas) {
  std::vector<RunSpec> specs;
  for (const auto& p : policies) {
    for (const auto r : routers) specs.push_back({p, {replicas, r, {}}});
  }
  return specs;
}

/// Label of a run in tables and progress: the policy, plus " router xN" on a cluster.
[[nodiscard]] inline std::string run_label(const RunSpec& s) {
  if (s.cluster.replicas <= 1) return s.policy.name;
  return s.policy.name + " " + std::string(sim::to_string(s.cluster.router)) + " x" + std::to_string(s.cluster.replicas);
}

/// The JSON entry of each run (sim/cluster_json.hpp), in spec order, and with want_csv the
/// requests CSV rows (in spec order too).
struct RunOutputs {
  std::vector<nlohmann::json> runs;
  std::string csv_rows;
};

/// Simulates one spec (every replica its own preset scheduler).
[[nodiscard]] inline sim::ClusterResult run_one(const RunSpec& s, const sim::SimRequests& reqs, const sim::PreparedSim& prep,
                                                const sim::SimOptions& sopt) {
  const sim::ReplicaFactory make = [&] { return sim::make_policy_scheduler(prep, s.policy); };
  return sim::simulate_cluster(make, reqs, sim::latency_for(prep, s.policy), s.cluster, sim::sim_options_for(prep, s.policy, sopt));
}

/// Threads for each of `runs` runs in parallel on `threads` (0 = every core): what is left
/// over goes to each cluster run's replicas (ClusterOptions::threads), at least 1.
[[nodiscard]] inline std::size_t threads_per_run(std::size_t threads, std::size_t runs) {
  const std::size_t all = threads == 0 ? sim::default_threads() : threads;
  return std::max<std::size_t>(1, all / std::max<std::size_t>(1, std::min(all, runs)));
}

/// Runs every spec on `threads` threads (0 = every core), runs in parallel first, and the
/// threads left over on each run's replicas. With one run at a time the bar shows each run's
/// requests; with more, the runs done. Results do not depend on the thread count.
[[nodiscard]] inline RunOutputs run_all(const std::vector<RunSpec>& specs, const sim::SimRequests& reqs,
                                        const sim::PreparedSim& prep, const sim::SimOptions& sopt, std::size_t threads, bool with_wall_time, bool want_csv, ProgressBar& bar) {
  const std::size_t used = std::min(threads == 0 ? sim::default_threads() : threads, specs.size());
  const std::size_t per_run = threads_per_run(threads, specs.size());
  std::vector<nlohmann::json> runs(specs.size());
  std::vector<std::string> csv(specs.size());
  std::mutex mu;
  std::size_t done = 0;
  sim::parallel_for(specs.size(), used, [&](std::size_t i) {
    sim::SimOptions so = sopt;
    so.progress = {};
    if (used <= 1) so.progress = [&, label = run_label(specs[i])](std::size_t d, std::size_t t) { bar.update(label, d, t); };
    RunSpec spec = specs[i];
    spec.cluster.threads = per_run;
    const sim::ClusterResult c = run_one(spec, reqs, prep, so);
    runs[i] = sim::cluster_run_to_json(c, reqs, with_wall_time);
    runs[i]["engine"] = {{"max_num_seqs", c.merged.engine.max_num_seqs},
                         {"max_num_batched_tokens", c.merged.engine.max_num_batched_tokens}};
    if (want_csv) sim::append_requests_csv(csv[i], c.merged, reqs);
    if (used > 1) {
      const std::lock_guard<std::mutex> lock(mu);
      bar.update(fmt::format("{} runs", specs.size()), ++done, specs.size());
    }
  });
  RunOutputs out{std::move(runs), {}};
  for (auto& c : csv) out.csv_rows += c;
  return out;
}

/// --find-replicas: for every policy x router, the fewest replicas (<= max_replicas) at which
/// both SLO attainments are >= 90% (sim/capacity.hpp). Searches run on `threads` threads, and
/// the threads left over on each probe's replicas.
[[nodiscard]] inline std::vector<sim::CapacityResult> find_capacity(const std::vector<PolicySpec>& policies,
                                                                    const std::vector<sim::RouterKind>& routers,
                                                                    std::size_t max_replicas, const sim::SimRequests& reqs,
                                                                    const sim::PreparedSim& prep, const sim::SimOptions& sopt, std::size_t threads,
                                                                    ProgressBar& bar) {
  const auto specs = run_specs(policies, routers, 1);
  std::vector<sim::CapacityResult> out(specs.size());
  sim::SimOptions so = sopt;
  so.progress = {};
  so.record_kv = false;
  std::mutex mu;
  std::size_t done = 0;
  const std::size_t per_search = threads_per_run(threads, specs.size());
  sim::parallel_for(specs.size(), threads, [&](std::size_t i) {
    auto& res = out[i];
    res.policy = specs[i].policy.name;
    res.router = std::string(sim::to_string(specs[i].cluster.router));
    const auto probe = [&](std::size_t replicas) {
      RunSpec s = specs[i];
      s.cluster.replicas = replicas;
      s.cluster.threads = per_search;
      const sim::Metrics m = sim::compute_metrics(run_one(s, reqs, prep, so).merged.outcomes);
      return sim::CapacityProbe{replicas, m.ttft_slo_attainment, m.tbt_slo_attainment, m.slo_attainment, m.goodput_rps};
    };
    res.replicas = sim::find_min_replicas(probe, max_replicas, &res.probes);
    const std::lock_guard<std::mutex> lock(mu);
    bar.update("capacity search", ++done, specs.size());
  });
  return out;
}

}  // namespace kvsched::sim_cli
