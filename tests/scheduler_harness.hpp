// Test harness: drives a Scheduler like an engine and compares plans with expected tables.
#pragma once
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <kvsched/kvsched.hpp>

namespace kvsched::test {

/// Expected outcome of one step: (id, tokens) scheduled in plan order, (id, mode) preempted.
struct StepExpect {
  std::vector<std::pair<RequestId, std::int32_t>> scheduled;
  std::vector<std::pair<RequestId, PreemptionMode>> preempted = {};
  std::vector<RequestId> finished = {};
};

inline RequestSpec make_spec(RequestId id, std::int32_t prompt, std::int32_t max_tokens, double arrival = 0.0) {
  RequestSpec s;
  s.id = id;
  s.arrival_s = arrival;
  s.prompt_tokens = prompt;
  s.max_tokens = max_tokens;
  return s;
}

inline std::string describe(const SchedulePlan& p) {
  std::string s = "scheduled:";
  for (const auto& r : p.scheduled) s += " (" + std::to_string(r.id) + "," + std::to_string(r.num_tokens) + ")";
  s += " preempted:";
  for (const auto& r : p.preempted) s += " (" + std::to_string(r.id) + (r.mode == PreemptionMode::kSwap ? ",swap)" : ",recompute)");
  s += " finished:";
  for (auto id : p.finished) s += " " + std::to_string(id);
  return s;
}

/// Runs each step at t = step index (s), one second per iteration, checking every plan and
/// the block manager's invariants after every step.
template <class S>
void run_table(S& sched, const std::vector<StepExpect>& steps) {
  double t = 0.0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const SchedulePlan& plan = sched.schedule(t);
    INFO("step " << i + 1 << ": " << describe(plan));
    const auto& e = steps[i];
    REQUIRE(plan.scheduled.size() == e.scheduled.size());
    for (std::size_t k = 0; k < e.scheduled.size(); ++k) {
      CHECK(plan.scheduled[k].id == e.scheduled[k].first);
      CHECK(plan.scheduled[k].num_tokens == e.scheduled[k].second);
    }
    REQUIRE(plan.preempted.size() == e.preempted.size());
    for (std::size_t k = 0; k < e.preempted.size(); ++k) {
      CHECK(plan.preempted[k].id == e.preempted[k].first);
      CHECK(plan.preempted[k].mode == e.preempted[k].second);
    }
    CHECK(plan.finished == e.finished);
    t += 1.0;
    sched.on_step_done({t, {}});
    sched.block_manager().check_invariants();
  }
}

}  // namespace kvsched::test
