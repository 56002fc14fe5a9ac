// kvsched/sim/simulator.hpp: the discrete-event loop of kvsched-sim. It drives any scheduler
// through the engine API (add_request, schedule, on_step_done) and advances a simulated clock
// by the latency model's iteration time, recording every output token's time.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/latency/profile_clock.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/scheduler/scheduler_stats.hpp"
#include "kvsched/sim/metrics.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/rng.hpp"

namespace kvsched::sim {

/// Options of one simulation.
struct SimOptions {
  std::int32_t block_size = 16;  // tokens per KV block (EngineConfig::block_size); sizes swaps
  /// Swap transfers run on their own stream, overlapping the forward pass: the iteration takes
  /// max(compute, swap) instead of compute + swap (ours; docs/design.md section 4: "unless the
  /// backend is configured to overlap them").
  bool overlap_swap = false;
  /// Record KV pool occupancy every iteration (SimResult::kv_timeline: "KV reserved vs used
  /// over time", docs/design.md section 4).
  bool record_kv = true;
  /// Ground truth the policies do not share: when set, the clock advances by this clock's
  /// compute time (profile tables) instead of the LatencyModel's; policies still predict with
  /// the model they were built with. Not owned; must outlive simulate().
  const ProfileClock* ground_truth = nullptr;
  /// Coefficient of variation of a per-iteration multiplicative lognormal noise on the
  /// compute time (mean 1: sigma^2 = ln(1 + cv^2), mu = -sigma^2 / 2); 0 = none. Swaps are
  /// not perturbed. Drawn from sim::Rng(derive_seed(noise_seed, 0x6e6f697365)).
  double latency_noise_cv = 0.0;
  std::uint64_t noise_seed = 0;  // seed of the latency noise
  /// Called as requests end: (ended, total). For progress bars; may be empty.
  std::function<void(std::size_t, std::size_t)> progress;
};

/// Device KV pool occupancy when an iteration starts (after schedule(), before the step).
struct KvSample {
  double t_s = 0.0;                 // simulated time (s)
  double dt_s = 0.0;                // the iteration's duration (s): the sample's weight
  std::int32_t used_blocks = 0;     // device blocks not free (held by requests or cached)
  std::int32_t promised_blocks = 0; // logical reservations not yet materialised (blocks)
};

/// Default options with the engine's block size (tokens per KV block).
[[nodiscard]] inline SimOptions sim_options(std::int32_t block_size) {
  SimOptions o;
  o.block_size = block_size;
  return o;
}

/// Everything a run produced: one outcome per workload request (index = id; requests rejected
/// as too long before submission come last), the scheduler's counters, the clock.
struct SimResult {
  std::string policy;
  std::vector<RequestOutcome> outcomes;
  SchedulerStats stats{};
  std::int64_t swapped_bytes = 0;   // (swapped_out + swapped_in blocks) x block bytes
  std::int64_t iterations = 0;      // forward passes simulated
  std::size_t num_stuck = 0;        // requests aborted because the scheduler stopped making progress
  double end_time_s = 0.0;          // simulated clock at the end (s)
  double wall_s = 0.0;              // host time the loop took (s); not deterministic
  std::int32_t num_device_blocks = 0;  // KV pool size (blocks)
  EngineConfig engine{};               // the engine config the scheduler ran with (preset defaults resolved)
  std::vector<KvSample> kv_timeline;   // one sample per iteration (SimOptions::record_kv)
};

namespace detail {
/// Writes the outcomes of the requests rejected before submission (too long) at ids n, n+1, ...
/// after the n submitted ones (res.outcomes already sized for all).
inline void append_rejected_outcomes(SimResult& res, const SimRequests& requests) {
  const std::size_t n = requests.specs.size();
  for (std::size_t k = 0; k < requests.rejected.size(); ++k) {
    const auto& rj = requests.rejected[k];
    auto& o = res.outcomes[n + k];
    o.id = n + k;
    o.class_id = rj.class_id;
    o.state = RequestState::kRejected;
    o.arrival_s = rj.arrival_s;
    o.prompt_tokens = rj.prompt_tokens;
    o.output_tokens = rj.output_tokens;
    o.slo = requests.class_slos.at(rj.class_id);
  }
}
}  // namespace detail

/// Simulated duration of one iteration (s): the forward time of the plan (the ground-truth
/// clock's when `truth` is given, else the model's) times `compute_scale` (latency noise),
/// plus plan_swap_s(); with `overlap_swap` the larger of the two.
[[nodiscard]] inline double simulated_iteration_s(const SchedulePlan& plan, const LatencyModel& lm,
                                                  std::int64_t block_bytes, bool overlap_swap,
                                                  const ProfileClock* truth, double compute_scale) {
  const double compute = compute_scale * (truth != nullptr ? truth->iteration_s(plan) : lm.iteration_s(batch_shape_of(plan)));
  const double swap = plan_swap_s(plan, lm, block_bytes);
  return overlap_swap ? std::max(compute, swap) : compute + swap;
}

/// Replays `requests` through `sched`. Each loop turn:
///   1. add_request() every request with arrival_s <= now;
///   2. plan = schedule(now); if it runs nothing (no batch, no swap) but rejected or finished
///      requests, that is progress: schedule again; if it does nothing at all, jump to the next
///      arrival (or, with none left and requests still live, abort them and count them in
///      SimResult::num_stuck: the scheduler is stuck);
///   3. dt = plan_time_s(plan) (latency/plan_timing.hpp); for each scheduled request that samples a token, report
///      eos when that token is its true output length's last (RequestSpec::oracle_output_tokens);
///   4. now += dt; on_step_done({now, eos outputs}); terminal requests become outcomes.
/// Deterministic: the same inputs give the same outcomes (wall_s aside).
[[nodiscard]] inline SimResult simulate(AnyScheduler& sched, const SimRequests& requests, const LatencyModel& lm,
                                        const SimOptions& opt = {}) {
  const auto wall_start = std::chrono::steady_clock::now();
  const std::size_t n = requests.specs.size();
  const std::size_t total = n + requests.rejected.size();
  const std::int64_t block_bytes = static_cast<std::int64_t>(opt.block_size) * lm.kv_bytes_per_token();
  SimResult res;
  res.policy = sched.name();
  res.outcomes.resize(total);
  std::vector<double> first_scheduled(n, std::numeric_limits<double>::quiet_NaN());
  std::vector<std::uint8_t> ended(n, 0);
  std::vector<std::int32_t> generated(n, 0);  // output tokens sampled per request (= its num_generated: no aborts mid-run)
  std::size_t num_ended = 0, next_report = 0;
  const std::size_t report_step = std::max<std::size_t>(1, total / 200);

  auto collect = [&] {
    for (auto& r : sched.take_terminal()) {
      const auto id = r.id();
      if (id >= n || ended[id]) continue;
      ended[id] = 1;
      ++num_ended;
      res.outcomes[id] = RequestOutcome::of(std::move(r), requests.output_tokens[id], first_scheduled[id]);
    }
    if (opt.progress && num_ended >= next_report) {
      opt.progress(num_ended, total);
      next_report = num_ended + report_step;
    }
  };

  Rng noise(derive_seed(opt.noise_seed, 0x6e6f697365));
  const double noise_sigma = std::sqrt(std::log1p(opt.latency_noise_cv * opt.latency_noise_cv));
  std::size_t next = 0;
  double now = n > 0 ? requests.specs.front().arrival_s : 0.0;
  std::vector<StepOutput> outputs;
  while (true) {
    while (next < n && requests.specs[next].arrival_s <= now) sched.add_request(requests.specs[next++]);
    if (sched.num_unfinished() == 0) {
      collect();
      if (next >= n) break;
      now = std::max(now, requests.specs[next].arrival_s);
      continue;
    }
    const SchedulePlan& plan = sched.schedule(now);
    if (plan.scheduled.empty() && plan.swap_out.empty() && plan.swap_in.empty()) {
      const bool progressed = !plan.rejected.empty() || !plan.finished.empty();
      collect();
      if (progressed) continue;  // requests left the scheduler: the rest may run now
      if (next < n) {
        now = std::max(now, requests.specs[next].arrival_s);
        continue;
      }
      if (sched.num_unfinished() == 0) break;
      for (std::size_t id = 0; id < n; ++id) {  // stuck: nothing runs and nothing will arrive
        if (!ended[id] && sched.find(id) != nullptr) {
          sched.abort(id);
          ++res.num_stuck;
        }
      }
      collect();
      break;
    }
    const double scale =
        opt.latency_noise_cv > 0.0 ? std::exp(noise_sigma * noise.normal() - 0.5 * noise_sigma * noise_sigma) : 1.0;
    const double dt = simulated_iteration_s(plan, lm, block_bytes, opt.overlap_swap, opt.ground_truth, scale);
    outputs.clear();
    for (const auto& s : plan.scheduled) {
      if (std::isnan(first_scheduled[s.id])) first_scheduled[s.id] = now;
      if (s.samples_token && ++generated[s.id] >= requests.output_tokens[s.id]) outputs.push_back({s.id, true});
    }
    if (opt.record_kv) {
      const BlockManager& bm = sched.block_manager();
      res.kv_timeline.push_back({now, dt, bm.num_device_blocks() - bm.num_free_device(), bm.num_promised()});
    }
    now += dt;
    ++res.iterations;
    sched.on_step_done(StepResult{now, outputs});
    collect();
  }
  detail::append_rejected_outcomes(res, requests);
  if (opt.progress) opt.progress(total, total);
  res.stats = sched.stats();
  if (opt.record_kv) res.num_device_blocks = sched.block_manager().num_device_blocks();
  res.engine = sched.engine();
  res.swapped_bytes = (res.stats.swapped_out_blocks + res.stats.swapped_in_blocks) * block_bytes;
  res.end_time_s = now;
  res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return res;
}

}  // namespace kvsched::sim
