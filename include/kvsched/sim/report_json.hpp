// kvsched/sim/report_json.hpp: JSON form of a run's metrics (kvsched-sim --json). Keys are
// flat, with units in the name: ttft_p99_s, throughput_tok_s, swapped_bytes, ...
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/percentile.hpp"
#include "kvsched/sim/rate_sweep.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"

namespace kvsched::sim {

/// Adds NAME_mean_s, NAME_p50_s, NAME_p90_s, NAME_p99_s, NAME_p999_s, NAME_max_s to j.
/// NaN (no sample) is written as null.
inline void add_summary(nlohmann::json& j, const std::string& name, const Summary& s) {
  j[name + "_mean_s"] = s.mean;
  j[name + "_p50_s"] = s.p50;
  j[name + "_p90_s"] = s.p90;
  j[name + "_p99_s"] = s.p99;
  j[name + "_p999_s"] = s.p999;
  j[name + "_max_s"] = s.max;
}

/// Request-level metrics as JSON: counts, latency summaries (ttft, tbt over all gaps,
/// tbt_max over requests' largest gaps, tpot, e2e, queue), attainments, goodput, throughput.
[[nodiscard]] inline nlohmann::json metrics_to_json(const Metrics& m) {
  nlohmann::json j;
  j["num_requests"] = m.num_requests;
  j["num_finished"] = m.num_finished;
  j["num_rejected"] = m.num_rejected;
  j["num_aborted"] = m.num_aborted;
  j["output_tokens"] = m.output_tokens;
  add_summary(j, "ttft", m.ttft_s);
  add_summary(j, "tbt", m.tbt_s);
  add_summary(j, "tbt_max", m.tbt_max_s);
  add_summary(j, "tpot", m.tpot_s);
  add_summary(j, "e2e", m.e2e_s);
  add_summary(j, "queue", m.queue_s);
  j["ttft_slo_attainment"] = m.ttft_slo_attainment;
  j["tbt_slo_attainment"] = m.tbt_slo_attainment;
  j["tbt_gap_slo_attainment"] = m.tbt_gap_slo_attainment;
  j["slo_attainment"] = m.slo_attainment;
  j["makespan_s"] = m.makespan_s;
  j["goodput_rps"] = m.goodput_rps;
  j["throughput_rps"] = m.throughput_rps;
  j["throughput_tok_s"] = m.throughput_tok_s;
  return j;
}

/// KV occupancy summary of a run: pool size, time-weighted mean (over busy time, weights =
/// iteration durations) and maximum of used and promised blocks, and the timeline thinned to
/// at most max_points samples (every k-th iteration) as {"t_s", "used_blocks", "promised_blocks"}.
inline void add_kv_usage(nlohmann::json& metrics, nlohmann::json& run, const SimResult& r, std::size_t max_points = 400) {
  double busy = 0.0, used = 0.0, promised = 0.0;
  std::int32_t used_max = 0, promised_max = 0;
  for (const auto& k : r.kv_timeline) {
    busy += k.dt_s;
    used += k.dt_s * k.used_blocks;
    promised += k.dt_s * k.promised_blocks;
    used_max = std::max(used_max, k.used_blocks);
    promised_max = std::max(promised_max, k.promised_blocks);
  }
  metrics["kv_device_blocks"] = r.num_device_blocks;
  metrics["kv_used_mean_blocks"] = busy > 0.0 ? nlohmann::json(used / busy) : nlohmann::json(nullptr);
  metrics["kv_used_max_blocks"] = used_max;
  metrics["kv_promised_mean_blocks"] = busy > 0.0 ? nlohmann::json(promised / busy) : nlohmann::json(nullptr);
  metrics["kv_promised_max_blocks"] = promised_max;
  nlohmann::json t = nlohmann::json::array(), u = nlohmann::json::array(), p = nlohmann::json::array();
  const std::size_t step = std::max<std::size_t>(1, (r.kv_timeline.size() + max_points - 1) / max_points);
  for (std::size_t i = 0; i < r.kv_timeline.size(); i += step) {
    t.push_back(r.kv_timeline[i].t_s);
    u.push_back(r.kv_timeline[i].used_blocks);
    p.push_back(r.kv_timeline[i].promised_blocks);
  }
  run["kv_timeline"] = {{"t_s", std::move(t)}, {"used_blocks", std::move(u)}, {"promised_blocks", std::move(p)}};
}

/// The scheduler's counters of one run into `metrics`: num_stuck, preemptions by recompute
/// and by swap, recomputed and prefix-cache-hit tokens, swapped_bytes, iterations and
/// sim_end_time_s. `R`: SimResult, or a cluster's ReplicaResult (the same member names).
template <class R>
void add_run_counters(nlohmann::json& metrics, const R& r) {
  metrics["num_stuck"] = r.num_stuck;
  metrics["preemptions_recompute"] = r.stats.preemptions_recompute;
  metrics["preemptions_swap"] = r.stats.preemptions_swap;
  metrics["recomputed_tokens"] = r.stats.recomputed_tokens;
  metrics["prefix_cache_hit_tokens"] = r.stats.prefix_cache_hit_tokens;
  metrics["swapped_bytes"] = r.swapped_bytes;
  metrics["iterations"] = r.iterations;
  metrics["sim_end_time_s"] = r.end_time_s;
}

/// One entry of "runs": {"policy", "metrics": {metrics_to_json + scheduler counters +
/// sim_wall_s}, "per_class": {class: metrics_to_json}, "cdf": {"p", "ttft_s", "tbt_s",
/// "tbt_max_s"}, "kv_timeline": see add_kv_usage}. sim_wall_s is null when with_wall_time is false (for byte-identical files).
[[nodiscard]] inline nlohmann::json run_to_json(const SimResult& r, const SimRequests& reqs, bool with_wall_time = true) {
  const Metrics all = compute_metrics(r.outcomes);
  nlohmann::json m = metrics_to_json(all);
  m["num_rejected_too_long"] = reqs.rejected.size();
  m["num_clipped_prompt"] = reqs.num_clipped_prompt;
  m["num_clipped_output"] = reqs.num_clipped_output;
  add_run_counters(m, r);
  m["swapped_out_blocks"] = r.stats.swapped_out_blocks;
  m["swapped_in_blocks"] = r.stats.swapped_in_blocks;
  m["sim_wall_s"] = with_wall_time ? nlohmann::json(r.wall_s) : nlohmann::json(nullptr);
  nlohmann::json j;
  j["policy"] = r.policy;
  j["metrics"] = std::move(m);
  nlohmann::json per_class = nlohmann::json::object();
  if (reqs.class_names.size() == 1) {
    per_class[reqs.class_names.front()] = metrics_to_json(all);  // the same requests: no second pass
  } else {
    for (std::size_t c = 0; c < reqs.class_names.size(); ++c) {
      per_class[reqs.class_names[c]] = metrics_to_json(compute_metrics(r.outcomes, static_cast<std::uint16_t>(c)));
    }
  }
  j["per_class"] = std::move(per_class);
  j["cdf"] = {{"p", cdf_probabilities()}, {"ttft_s", all.ttft_cdf_s}, {"tbt_s", all.tbt_cdf_s}, {"tbt_max_s", all.tbt_max_cdf_s}};
  add_kv_usage(j["metrics"], j, r);
  return j;
}

/// One rate of a sweep: {"rate_rps", "num_requests", "ttft_slo_attainment",
/// "tbt_slo_attainment", "slo_attainment", "goodput_rps", "ttft_p99_s", "tbt_max_p99_s"}.
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(SweepPoint, rate_rps, num_requests, ttft_slo_attainment, tbt_slo_attainment,
                                   slo_attainment, goodput_rps, ttft_p99_s, tbt_max_p99_s)

/// "sweep": per policy {"policy", "points": [SweepPoint], "max_sustainable_rate_rps"} (null when
/// even the lowest rate misses the SLO threshold).
[[nodiscard]] inline nlohmann::json sweep_to_json(const std::vector<PolicySweep>& sweep) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& s : sweep) {
    out.push_back({{"policy", s.policy},
                   {"points", s.points},
                   {"max_sustainable_rate_rps",
                    s.max_sustainable_rps ? nlohmann::json(*s.max_sustainable_rps) : nlohmann::json(nullptr)}});
  }
  return out;
}

}  // namespace kvsched::sim
