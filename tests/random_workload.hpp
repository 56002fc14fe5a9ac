// Test helper: drives any scheduler with a random workload like an engine would, checking the
// block manager's invariants after every step.
#pragma once
#include <catch2/catch.hpp>

#include <random>
#include <set>
#include <string>

#include <kvsched/kvsched.hpp>

namespace kvsched::test {

struct RandomWorkload {
  std::uint64_t seed = 1;
  std::int32_t steps = 3000;          // steps with arrivals; then drain
  double arrival_prob = 0.3;          // chance of a new request per step
  std::int32_t max_prompt = 200;      // tokens
  std::int32_t max_output = 120;      // tokens
  double eos_prob = 0.02;             // chance a sampled token is a stop token
  double abort_prob = 0.002;          // chance per step of aborting a random live request
  std::int32_t shared_prefixes = 4;   // requests draw content ids from this many prefixes (prefix sharing)
};

struct WorkloadOutcome {
  std::int64_t steps = 0, added = 0, finished = 0, aborted = 0, rejected = 0;
};

/// Runs `w` through `s` (an AnyScheduler or a Scheduler<P>); REQUIREs every invariant.
template <class S>
WorkloadOutcome run_random_workload(S& s, const RandomWorkload& w) {
  std::mt19937_64 rng(w.seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  WorkloadOutcome out;
  std::set<RequestId> live;
  RequestId next_id = 1;
  double t = 0.0;
  const std::int32_t max_len = s.block_manager().num_device_blocks() * s.block_manager().block_size();
  const std::int64_t drain_cap = 200000;
  auto collect = [&] {
    for (const Request& r : s.take_terminal()) {
      REQUIRE(is_terminal(r.state));
      live.erase(r.id());
      if (r.state == RequestState::kFinished) {
        ++out.finished;
        REQUIRE(r.num_generated >= 1);
        REQUIRE(r.token_times_s.size() == static_cast<std::size_t>(r.num_generated));
        REQUIRE(std::is_sorted(r.token_times_s.begin(), r.token_times_s.end()));
      } else if (r.state == RequestState::kAborted) {
        ++out.aborted;
      } else {
        ++out.rejected;
        REQUIRE_FALSE(r.reject_reason.empty());
      }
    }
  };
  for (std::int64_t step = 0; step < w.steps || s.num_unfinished() > 0; ++step) {
    REQUIRE(step < w.steps + drain_cap);  // livelock guard: every request must end
    if (step < w.steps && u(rng) < w.arrival_prob) {
      RequestSpec spec;
      spec.id = next_id++;
      spec.arrival_s = t;
      // Mostly ordinary prompts; now and then one longer than the whole cache.
      spec.prompt_tokens = u(rng) < 0.01 ? max_len + 1 : 1 + static_cast<std::int32_t>(u(rng) * w.max_prompt);
      spec.max_tokens = 1 + static_cast<std::int32_t>(u(rng) * w.max_output);
      spec.oracle_output_tokens = spec.max_tokens;
      spec.slo = {1.0 + u(rng), 0.05 + 0.2 * u(rng)};
      spec.class_id = static_cast<std::uint16_t>(spec.id % 3);
      if (w.shared_prefixes > 0) {
        spec.content_block_tokens = 16;
        spec.content_ids = {static_cast<std::uint64_t>(spec.id % static_cast<RequestId>(w.shared_prefixes)), spec.id * 1000};
      }
      s.add_request(spec);
      live.insert(spec.id);
      ++out.added;
    }
    if (!live.empty() && u(rng) < w.abort_prob) {
      auto it = live.begin();
      std::advance(it, static_cast<long>(u(rng) * static_cast<double>(live.size())) % static_cast<long>(live.size()));
      const Request* r = s.find(*it);
      if (r && !is_terminal(r->state)) {
        const std::int32_t free_before = s.block_manager().num_free_device();
        const std::int32_t held = s.block_manager().has(*it) ? s.block_manager().num_held(*it) : 0;
        s.abort(*it);
        REQUIRE_FALSE(s.block_manager().has(*it));
        REQUIRE(s.block_manager().num_free_device() >= free_before);  // shared blocks may stay held
        REQUIRE(s.block_manager().num_free_device() <= free_before + held);
      }
    }
    const SchedulePlan& plan = s.schedule(t);
    StepResult res;
    for (const ScheduledRequest& sr : plan.scheduled) {
      const Request* r = s.find(sr.id);
      REQUIRE(r != nullptr);
      REQUIRE(r->state == RequestState::kRunning);
      REQUIRE(sr.num_tokens >= 1);
      REQUIRE(s.block_manager().num_held(sr.id) * s.block_manager().block_size() >= sr.num_computed_before + sr.num_tokens);
      if (sr.samples_token && u(rng) < w.eos_prob) res.outputs.push_back({sr.id, true});
    }
    t += plan.empty() ? 0.01 : 0.02;
    res.now_s = t;
    s.on_step_done(res);
    s.block_manager().check_invariants();
    REQUIRE(s.block_manager().num_free_device() <= s.block_manager().num_device_blocks());
    collect();
    ++out.steps;
  }
  collect();
  REQUIRE(live.empty());
  REQUIRE(out.finished + out.aborted + out.rejected == out.added);
  // Every block is free again but vLLM v1's null block (held for good where the preset has one).
  const std::int32_t null_blocks = s.block_manager().null_block() == kNoBlock ? 0 : 1;
  REQUIRE(s.block_manager().num_free_device() == s.block_manager().num_device_blocks() - null_blocks);
  REQUIRE(s.block_manager().num_free_host() == s.block_manager().num_host_blocks());
  REQUIRE(s.block_manager().num_promised() == 0);
  return out;
}

}  // namespace kvsched::test
