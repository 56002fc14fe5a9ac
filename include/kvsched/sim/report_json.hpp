// kvsched/sim/report_json.hpp: JSON form of a run's metrics (kvsched-sim --json). Keys are
// flat, with units in the name: ttft_p99_s, throughput_tok_s, swapped_bytes, ...
#pragma once
#include <string>

#include <nlohmann/json.hpp>

#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/percentile.hpp"
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

/// One entry of "runs": {"policy", "metrics": {metrics_to_json + scheduler counters +
/// sim_wall_s}, "per_class": {class: metrics_to_json}, "cdf": {"p", "ttft_s", "tbt_s",
/// "tbt_max_s"}}. sim_wall_s is null when with_wall_time is false (for byte-identical files).
[[nodiscard]] inline nlohmann::json run_to_json(const SimResult& r, const SimRequests& reqs, bool with_wall_time = true) {
  const Metrics all = compute_metrics(r.outcomes);
  nlohmann::json m = metrics_to_json(all);
  m["num_rejected_too_long"] = reqs.rejected.size();
  m["num_clipped_prompt"] = reqs.num_clipped_prompt;
  m["num_clipped_output"] = reqs.num_clipped_output;
  m["num_stuck"] = r.num_stuck;
  m["preemptions_recompute"] = r.stats.preemptions_recompute;
  m["preemptions_swap"] = r.stats.preemptions_swap;
  m["recomputed_tokens"] = r.stats.recomputed_tokens;
  m["prefix_cache_hit_tokens"] = r.stats.prefix_cache_hit_tokens;
  m["swapped_out_blocks"] = r.stats.swapped_out_blocks;
  m["swapped_in_blocks"] = r.stats.swapped_in_blocks;
  m["swapped_bytes"] = r.swapped_bytes;
  m["iterations"] = r.iterations;
  m["sim_end_time_s"] = r.end_time_s;
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
  return j;
}

}  // namespace kvsched::sim
