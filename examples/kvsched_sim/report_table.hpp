// examples/kvsched_sim/report_table.hpp: the comparison tables kvsched-sim prints (fmt).
#pragma once
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kvsched/sim/rate_sweep.hpp"

namespace kvsched::sim_cli {

namespace detail {
inline std::string num(const nlohmann::json& v, double scale, int precision) {
  if (!v.is_number()) return "-";
  return fmt::format("{:.{}f}", v.get<double>() * scale, precision);
}
inline std::string pct(const nlohmann::json& v) {
  if (!v.is_number()) return "-";
  return fmt::format("{:.1f}%", 100.0 * v.get<double>());
}
/// A run's name: its policy, plus " ROUTER xN" for a cluster run.
inline std::string run_name(const nlohmann::json& r) {
  std::string s = r.at("policy").get<std::string>();
  if (r.contains("router")) s += fmt::format(" {} x{}", r.at("router").get<std::string>(), r.at("replicas").get<std::size_t>());
  return s;
}
}  // namespace detail

/// One row per run (entries of the JSON "runs" array): request counts, preemptions, TTFT
/// (s), TBT over all gaps and the p99 of each request's largest gap ("stall", ms), E2E p99,
/// SLO attainments, goodput and throughput.
[[nodiscard]] inline std::string comparison_table(const std::vector<nlohmann::json>& runs) {
  using detail::num;
  using detail::pct;
  std::string out;
  std::size_t width = 27;
  for (const auto& r : runs) width = std::max(width, detail::run_name(r).size());
  const auto row = [&](const auto& name, auto&&... cols) {
    out += fmt::format("{:<{}} {:>6} {:>5} {:>8} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8} {:>7} {:>7} {:>7} {:>8} {:>7} {:>6}\n",
                       name, width, cols...);
  };
  row("policy", "done", "rej", "preempt", "TTFT50", "TTFT99", "TBT50", "TBT99", "TBT999", "stall99", "E2E99",
      "TTFTok", "TBTok", "goodput", "tok/s", "wall");
  row("", "", "", "rc/swap", "s", "s", "ms", "ms", "ms", "ms", "s", "", "", "req/s", "", "s");
  for (const auto& r : runs) {
    const auto& m = r.at("metrics");
    row(detail::run_name(r), m.at("num_finished").get<std::size_t>(), m.at("num_rejected").get<std::size_t>(),
        fmt::format("{}/{}", m.at("preemptions_recompute").get<std::int64_t>(), m.at("preemptions_swap").get<std::int64_t>()),
        num(m.at("ttft_p50_s"), 1, 3), num(m.at("ttft_p99_s"), 1, 3), num(m.at("tbt_p50_s"), 1e3, 1),
        num(m.at("tbt_p99_s"), 1e3, 1), num(m.at("tbt_p999_s"), 1e3, 1), num(m.at("tbt_max_p99_s"), 1e3, 1),
        num(m.at("e2e_p99_s"), 1, 2), pct(m.at("ttft_slo_attainment")), pct(m.at("tbt_slo_attainment")),
        num(m.at("goodput_rps"), 1, 3), num(m.at("throughput_tok_s"), 1, 0), num(m.at("sim_wall_s"), 1, 2));
  }
  return out;
}

/// Per SLO class (only when the workload has more than one): requests, TTFT p99, stall p99,
/// attainments and goodput of each policy on each class's requests.
[[nodiscard]] inline std::string per_class_table(const std::vector<nlohmann::json>& runs) {
  using detail::num;
  using detail::pct;
  std::string out;
  if (runs.empty() || runs.front().at("per_class").size() < 2) return out;
  const auto row = [&](auto&&... cols) {
    out += fmt::format("{:<27} {:<16} {:>6} {:>7} {:>8} {:>7} {:>7} {:>8}\n", cols...);
  };
  row("policy", "class", "reqs", "TTFT99", "stall99", "TTFTok", "TBTok", "goodput");
  row("", "", "", "s", "ms", "", "", "req/s");
  for (const auto& r : runs) {
    for (const auto& [name, m] : r.at("per_class").items()) {
      row(r.at("policy").get<std::string>(), name, m.at("num_requests").get<std::size_t>(), num(m.at("ttft_p99_s"), 1, 3),
          num(m.at("tbt_max_p99_s"), 1e3, 1), pct(m.at("ttft_slo_attainment")), pct(m.at("tbt_slo_attainment")),
          num(m.at("goodput_rps"), 1, 3));
    }
  }
  return out;
}

/// Rate sweep: one row per rate with each policy's share of requests meeting both SLOs, then
/// each policy's maximum sustainable rate (both attainments >= 90% up to it).
[[nodiscard]] inline std::string sweep_table(const std::vector<sim::PolicySweep>& sweep) {
  std::string out;
  if (sweep.empty() || sweep.front().points.empty()) return out;
  out += fmt::format("{:>10}", "rate req/s");
  for (const auto& s : sweep) out += fmt::format(" {:>{}}", s.policy, std::max<std::size_t>(10, s.policy.size()));
  out += "   (share of requests meeting both SLOs)\n";
  for (std::size_t i = 0; i < sweep.front().points.size(); ++i) {
    out += fmt::format("{:>10.3f}", sweep.front().points[i].rate_rps);
    for (const auto& s : sweep) {
      out += fmt::format(" {:>{}}", fmt::format("{:.1f}%", 100.0 * s.points[i].slo_attainment),
                         std::max<std::size_t>(10, s.policy.size()));
    }
    out += "\n";
  }
  out += fmt::format("{:>10}", "max rate");
  for (const auto& s : sweep) {
    out += fmt::format(" {:>{}}", s.max_sustainable_rps ? fmt::format("{:.3f}", *s.max_sustainable_rps) : std::string("none"),
                       std::max<std::size_t>(10, s.policy.size()));
  }
  out += "   (highest rate with TTFT and TBT attainment >= 90% there and below)\n";
  return out;
}

/// "best by goodput: P (G req/s, R x vllm_v1's G0)", or nothing when no run has metrics. The
/// ratio is left out when vllm_v1 did not run or had no goodput.
[[nodiscard]] inline std::string best_line(const std::vector<nlohmann::json>& runs) {
  const nlohmann::json* best = nullptr;
  std::optional<double> ref;
  for (const auto& r : runs) {
    const double g = r.at("metrics").at("goodput_rps").get<double>();
    if (r.at("policy") == "vllm_v1") ref = g;
    if (!best || g > best->at("metrics").at("goodput_rps").get<double>()) best = &r;
  }
  if (!best) return {};
  const double g = best->at("metrics").at("goodput_rps").get<double>();
  std::string line = fmt::format("best by goodput: {} ({:.3f} req/s", best->at("policy").get<std::string>(), g);
  if (ref && *ref > 0.0) line += fmt::format(", {:.2f}x vllm_v1's {:.3f}", g / *ref, *ref);
  return line + ")\n";
}

}  // namespace kvsched::sim_cli
