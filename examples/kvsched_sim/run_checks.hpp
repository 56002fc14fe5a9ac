// examples/kvsched_sim/run_checks.hpp: checks of finished runs that must fail loudly.
#pragma once
#include <cstdio>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace kvsched::sim_cli {

/// Exit code of a finished comparison: 0, or 1 after a message on stderr per run whose
/// scheduler stopped making progress (metrics.num_stuck > 0: those requests were aborted,
/// so the run's figures do not cover the whole trace).
[[nodiscard]] inline int report_stuck(const std::vector<nlohmann::json>& runs) {
  int rc = 0;
  for (const auto& r : runs) {
    const auto& m = r.at("metrics");
    const auto stuck = m.contains("num_stuck") ? m.at("num_stuck").get<std::size_t>() : 0;
    if (stuck == 0) continue;
    fmt::print(stderr, "kvsched-sim: error: {}: the scheduler stopped making progress; {} requests were aborted\n",
               r.at("policy").get<std::string>(), stuck);
    rc = 1;
  }
  return rc;
}

}  // namespace kvsched::sim_cli
