// kvsched/sim/rate_sweep.hpp: arrival-rate sweeps and the maximum sustainable rate
// (docs/design.md section 4: highest rate at which both SLO attainments stay >= 90%).
#pragma once
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvsched/io/number.hpp"
#include "kvsched/io/text.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/simulator.hpp"

namespace kvsched::sim {

/// Rates A, A+STEP, ..., up to B (inclusive, within 1e-9 relative) from "A:B:STEP".
/// Numbers follow io/number.hpp (no '+', no inf). Throws std::invalid_argument for a malformed range, A <= 0, B < A or STEP <= 0.
[[nodiscard]] inline std::vector<double> parse_rate_range(std::string_view spec) {
  const auto c1 = spec.find(':');
  const auto c2 = c1 == std::string_view::npos ? c1 : spec.find(':', c1 + 1);
  double a = 0.0, b = 0.0, step = 0.0;
  if (c2 == std::string_view::npos || !io::parse_double(io::trim(spec.substr(0, c1)), a) ||
      !io::parse_double(io::trim(spec.substr(c1 + 1, c2 - c1 - 1)), b) ||
      !io::parse_double(io::trim(spec.substr(c2 + 1)), step)) {
    throw std::invalid_argument("rate range must be A:B:STEP (requests/s), got '" + std::string(spec) + "'");
  }
  if (!(a > 0.0) || b < a || !(step > 0.0)) {
    throw std::invalid_argument("rate range A:B:STEP needs 0 < A <= B and STEP > 0, got '" + std::string(spec) + "'");
  }
  std::vector<double> rates;
  for (std::size_t i = 0;; ++i) {
    const double r = a + static_cast<double>(i) * step;
    if (r > b * (1.0 + 1e-9)) break;
    rates.push_back(r);
    if (rates.size() > 10000) throw std::invalid_argument("rate range has more than 10000 points");
  }
  return rates;
}

/// One rate of a sweep, for one policy.
struct SweepPoint {
  double rate_rps = 0.0;
  double ttft_slo_attainment = 0.0;
  double tbt_slo_attainment = 0.0;
  double slo_attainment = 0.0;
  double goodput_rps = 0.0;
  double ttft_p99_s = 0.0;
  double tbt_max_p99_s = 0.0;
  std::size_t num_requests = 0;
};

/// A policy's sweep.
struct PolicySweep {
  std::string policy;
  std::vector<SweepPoint> points;             // by increasing rate
  std::optional<double> max_sustainable_rps;  // see max_sustainable_rate
};

/// Highest rate r of the points (sorted by rate) such that at r and at every lower rate both
/// the TTFT and the TBT SLO attainment are >= threshold; nullopt if the lowest rate fails.
[[nodiscard]] inline std::optional<double> max_sustainable_rate(const std::vector<SweepPoint>& points,
                                                                double threshold = 0.9) {
  std::optional<double> best;
  for (const auto& p : points) {
    if (p.ttft_slo_attainment < threshold || p.tbt_slo_attainment < threshold) break;
    best = p.rate_rps;
  }
  return best;
}

/// Makes a scheduler for a policy name (the presets registry bound to one engine and latency
/// model, or a test fake). Not presets/registry.hpp's PresetFactory, which takes those.
using PolicySchedulerFactory = std::function<std::unique_ptr<AnyScheduler>(const std::string& policy)>;

/// Runs every policy at every rate: requests are rebuilt with BuildOptions::rate_rps = rate
/// (rate_scale forced to 1), simulated, and summarised. Deterministic for a seed.
/// progress(point done, points total) may be empty.
[[nodiscard]] inline std::vector<PolicySweep> sweep_rates(const Workload& w, BuildOptions opt,
                                                          const std::vector<double>& rates,
                                                          const std::vector<std::string>& policies,
                                                          const PolicySchedulerFactory& make, const LatencyModel& lm,
                                                          const SimOptions& sim_opt = {},
                                                          const std::function<void(std::size_t, std::size_t)>& progress = {}) {
  std::vector<PolicySweep> out;
  for (const auto& p : policies) out.push_back({p, {}, std::nullopt});
  std::size_t done = 0;
  const std::size_t total = rates.size() * policies.size();
  SimOptions so = sim_opt;
  so.progress = {};
  for (double rate : rates) {
    opt.rate_rps = rate;
    opt.rate_scale = 1.0;
    const SimRequests reqs = build_requests(w, opt);
    for (std::size_t i = 0; i < policies.size(); ++i) {
      auto sched = make(policies[i]);
      const SimResult r = simulate(*sched, reqs, lm, so);
      const Metrics m = compute_metrics(r.outcomes);
      out[i].points.push_back({rate, m.ttft_slo_attainment, m.tbt_slo_attainment, m.slo_attainment, m.goodput_rps,
                               m.ttft_s.p99, m.tbt_max_s.p99, m.num_requests});
      if (progress) progress(++done, total);
    }
  }
  for (auto& ps : out) ps.max_sustainable_rps = max_sustainable_rate(ps.points);
  return out;
}

}  // namespace kvsched::sim
