// kvsched/sim/cluster.hpp: many engine replicas behind one router (kvsched-sim --replicas N).
// Every replica has its own scheduler (its own Scheduler<P> through AnyScheduler) and block
// manager and its own clock; the router assigns each request when it arrives, from what the
// replicas look like at that moment (sim/router.hpp). docs/cluster.md describes the loop.
#pragma once
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/sim/parallel.hpp"
#include "kvsched/sim/request_builder.hpp"
#include "kvsched/sim/rng.hpp"
#include "kvsched/sim/router.hpp"
#include "kvsched/sim/simulator.hpp"

namespace kvsched::sim {

/// Shape of the cluster.
struct ClusterOptions {
  std::size_t replicas = 1;  // engine replicas (one GPU each), >= 1
  RouterKind router = RouterKind::kRoundRobin;
  RouterConfig router_config{};
  /// Threads that advance the replicas between two arrivals (0 = every core, 1 = the caller's
  /// thread only; at most `replicas` are used). Results do not depend on it. The helpers spin
  /// while the caller routes (sim/parallel.hpp LockstepTeam): give a run only idle cores.
  std::size_t threads = 1;
};

/// What one replica did: the requests routed to it (ids, in arrival order) and its counters.
struct ReplicaResult {
  std::vector<RequestId> request_ids;
  SchedulerStats stats{};
  std::int64_t swapped_bytes = 0;
  std::int64_t iterations = 0;
  std::size_t num_stuck = 0;
  double end_time_s = 0.0;            // the replica's clock at the end (s)
  std::int32_t num_device_blocks = 0;  // its KV pool (blocks)
  std::vector<KvSample> kv_timeline;   // SimOptions::record_kv
};

/// A cluster run: `merged` is the cluster as one SimResult (every outcome by request id,
/// counters summed over replicas, end time = the latest replica clock, KV pool = the sum; the
/// KV timeline only with one replica, where merged equals simulate()'s result), plus each
/// replica's own part.
struct ClusterResult {
  SimResult merged;
  std::vector<ReplicaResult> replicas;
  RouterKind router = RouterKind::kRoundRobin;
};

/// Makes one replica's scheduler (called once per replica).
using ReplicaFactory = std::function<std::unique_ptr<AnyScheduler>()>;

/// Replays `requests` through opt.replicas replicas made by `make`. Events in time order:
///   1. iterations ending at t complete (on_step_done, terminal requests become outcomes);
///   2. requests arriving at or before t are routed (the router sees each replica's queue and
///      KV state as of t); a routed request waits in its replica's inbox;
///   3. each replica that is idle at t, or whose iteration just ended, adds its inbox and
///      schedules its next iteration at t, exactly as simulate() does for one engine (the same
///      clock: SimOptions' ground truth and latency noise, replica r drawing noise from
///      derive_seed(noise_seed, 0x6e6f697365 + r), so replica 0 draws simulate()'s); an idle
///      replica with nothing to run sleeps until a request is routed to it.
/// Requests still live when nothing runs and nothing will arrive are aborted (num_stuck).
/// Replicas meet only in the router, so between two arrival times each replica runs its own
/// events alone: on copt.threads threads, each a contiguous slice of replicas, with the
/// routing between on the caller's thread (opt.progress is called there too).
/// With one replica the result equals simulate()'s (the same calls in the same order).
/// Deterministic for its inputs, whatever copt.threads (wall_s aside). Throws
/// std::invalid_argument when replicas < 1.
[[nodiscard]] inline ClusterResult simulate_cluster(const ReplicaFactory& make, const SimRequests& requests,
                                                    const LatencyModel& lm, const ClusterOptions& copt,
                                                    const SimOptions& opt = {}) {
  if (copt.replicas < 1) throw std::invalid_argument("cluster: replicas must be >= 1");
  const auto wall_start = std::chrono::steady_clock::now();
  const std::size_t n = requests.specs.size();
  const std::size_t total = n + requests.rejected.size();
  const std::size_t R = copt.replicas;
  const std::int64_t block_bytes = static_cast<std::int64_t>(opt.block_size) * lm.kv_bytes_per_token();
  constexpr double kNever = std::numeric_limits<double>::infinity();

  struct Replica {
    std::unique_ptr<AnyScheduler> sched;
    std::vector<std::size_t> inbox;  // request indices routed here, not yet added
    std::vector<StepOutput> outputs; // of the iteration in flight
    double now = 0.0;
    double t_end = 0.0;
    bool busy = false;
    bool waking = false;   // its next iteration starts at wake_at, after that time's routing
    double wake_at = 0.0;
    std::size_t num_ended = 0;        // its requests that became outcomes
    std::int64_t pending_blocks = 0;  // prompt blocks of routed requests never scheduled yet
    Rng noise{0};                     // SimOptions::latency_noise_cv draws
  };
  std::vector<Replica> reps(R);
  const double noise_sigma = std::sqrt(std::log1p(opt.latency_noise_cv * opt.latency_noise_cv));
  for (std::size_t ri = 0; ri < R; ++ri) {
    auto& r = reps[ri];
    r.noise = Rng(derive_seed(opt.noise_seed, 0x6e6f697365 + ri));  // replica 0: simulate()'s stream
    r.sched = make();
    r.now = n > 0 ? requests.specs.front().arrival_s : 0.0;  // as simulate() starts its clock
  }
  ClusterResult out;
  out.router = copt.router;
  out.replicas.resize(R);
  SimResult& res = out.merged;
  res.policy = reps.front().sched->name();
  res.outcomes.resize(total);
  std::vector<ReplicaState> states(R);
  std::vector<double> first_scheduled(n, std::numeric_limits<double>::quiet_NaN());
  std::vector<std::uint8_t> ended(n, 0);
  std::vector<std::int32_t> generated(n, 0);  // output tokens sampled per request (its replica's num_generated)
  std::size_t next_report = 0, rr_next = 0;
  const std::size_t report_step = std::max<std::size_t>(1, total / 200);
  const auto prompt_blocks = [&](std::size_t id) {
    return static_cast<std::int64_t>((requests.specs[id].prompt_tokens + opt.block_size - 1) / opt.block_size);
  };
  const auto refresh_kv = [&](std::size_t r) {
    if (copt.router == RouterKind::kKvAware) {
      states[r].kv_free_blocks = reps[r].sched->block_manager().available() - reps[r].pending_blocks;
    }
  };

  const auto collect = [&](std::size_t ri) {
    Replica& rep = reps[ri];
    for (auto& q : rep.sched->take_terminal()) {
      const auto id = q.id();
      if (id >= n || ended[id]) continue;
      ended[id] = 1;
      ++rep.num_ended;
      --states[ri].outstanding;
      if (std::isnan(first_scheduled[id])) rep.pending_blocks -= prompt_blocks(id);
      res.outcomes[id] = RequestOutcome::of(std::move(q), requests.output_tokens[id], first_scheduled[id]);
    }
  };
  const auto report_progress = [&] {  // on the caller's thread, between phases
    if (!opt.progress) return;
    std::size_t num_ended = 0;
    for (const Replica& rep : reps) num_ended += rep.num_ended;
    if (num_ended < next_report) return;
    opt.progress(num_ended, total);
    next_report = num_ended + report_step;
  };

  // Adds the inbox and starts the replica's next iteration at t, or leaves it idle.
  const auto wake = [&](std::size_t ri, double t) {
    Replica& rep = reps[ri];
    AnyScheduler& sched = *rep.sched;
    rep.now = std::max(rep.now, t);
    rep.waking = false;
    for (const std::size_t idx : rep.inbox) sched.add_request(requests.specs[idx]);
    rep.inbox.clear();
    if (sched.num_unfinished() == 0) {
      collect(ri);
      refresh_kv(ri);
      return;
    }
    const SchedulePlan& plan = sched.schedule(rep.now);
    if (plan.scheduled.empty() && plan.swap_out.empty() && plan.swap_in.empty()) {
      collect(ri);
      refresh_kv(ri);
      return;
    }
    const double scale = opt.latency_noise_cv > 0.0
                             ? std::exp(noise_sigma * rep.noise.normal() - 0.5 * noise_sigma * noise_sigma)
                             : 1.0;
    const double dt = simulated_iteration_s(plan, lm, block_bytes, opt.overlap_swap, opt.ground_truth, scale);
    rep.outputs.clear();
    for (const auto& s : plan.scheduled) {
      if (std::isnan(first_scheduled[s.id])) {
        first_scheduled[s.id] = rep.now;
        rep.pending_blocks -= prompt_blocks(s.id);
      }
      if (s.samples_token && ++generated[s.id] >= requests.output_tokens[s.id]) rep.outputs.push_back({s.id, true});
    }
    auto& rr = out.replicas[ri];
    if (opt.record_kv) {
      const BlockManager& bm = sched.block_manager();
      rr.kv_timeline.push_back({rep.now, dt, bm.num_device_blocks() - bm.num_free_device(), bm.num_promised()});
    }
    ++rr.iterations;
    rep.t_end = rep.now + dt;
    rep.busy = true;
    refresh_kv(ri);
  };

  // Replica ri through every event before t: each iteration ending before t completes and the
  // next one starts; one ending at t completes, and its successor waits for the requests
  // routed at t (wake_at). Touches only replica ri and its requests' slots, so replicas advance
  // in parallel.
  const auto advance = [&](std::size_t ri, double t) {
    Replica& rep = reps[ri];
    if (rep.waking) wake(ri, rep.wake_at);
    while (rep.busy && rep.t_end <= t) {
      rep.now = rep.t_end;
      rep.busy = false;
      rep.sched->on_step_done(StepResult{rep.now, rep.outputs});
      collect(ri);
      refresh_kv(ri);
      if (rep.now == t) {
        rep.waking = true;
        rep.wake_at = t;
        return;
      }
      wake(ri, rep.now);
    }
  };

  const auto route = [&](std::size_t idx) -> std::size_t {
    const RequestSpec& spec = requests.specs[idx];
    if (copt.router == RouterKind::kPrefixAware) {
      for (std::size_t r = 0; r < R; ++r) {
        const BlockManager& bm = reps[r].sched->block_manager();
        states[r].cached_prefix_tokens = bm.probe_prefix(spec, spec.prompt_tokens).blocks * bm.block_size();
      }
    }
    const std::size_t r = R == 1 ? 0 : choose_replica(copt.router, copt.router_config, spec.prompt_tokens, states, rr_next);
    out.replicas[r].request_ids.push_back(spec.id);
    ++states[r].outstanding;
    reps[r].pending_blocks += prompt_blocks(idx);
    reps[r].inbox.push_back(idx);
    refresh_kv(r);
    return r;
  };

  // Arrivals are the synchronisation points: the replicas advance to the next arrival time on
  // the team (a contiguous slice each), then its requests are routed on the caller's thread.
  std::size_t next = 0;
  LockstepTeam team(std::min(copt.threads == 0 ? default_threads() : copt.threads, R));
  const std::function<void(std::size_t)> advance_slice = [&](std::size_t k) {
    const double t = next < n ? requests.specs[next].arrival_s : kNever;
    for (std::size_t ri = k * R / team.size(); ri < (k + 1) * R / team.size(); ++ri) advance(ri, t);
  };
  for (std::size_t r = 0; r < R; ++r) refresh_kv(r);
  for (;;) {
    team.run(advance_slice);
    if (next == n) break;
    const double t = requests.specs[next].arrival_s;
    while (next < n && requests.specs[next].arrival_s <= t) {
      const std::size_t ri = route(next++);
      if (!reps[ri].busy && !reps[ri].waking) {
        reps[ri].waking = true;
        reps[ri].wake_at = t;
      }
    }
    report_progress();
  }
  // Nothing runs and nothing will arrive: what is still live is stuck.
  for (std::size_t ri = 0; ri < R; ++ri) {
    AnyScheduler& sched = *reps[ri].sched;
    if (sched.num_unfinished() == 0) continue;
    for (const RequestId id : out.replicas[ri].request_ids) {
      if (!ended[id] && sched.find(id) != nullptr) {
        sched.abort(id);
        ++out.replicas[ri].num_stuck;
      }
    }
    collect(ri);
  }
  detail::append_rejected_outcomes(res, requests);
  if (opt.progress) opt.progress(total, total);
  for (std::size_t ri = 0; ri < R; ++ri) {
    auto& rr = out.replicas[ri];
    const AnyScheduler& sched = *reps[ri].sched;
    rr.stats = sched.stats();
    rr.num_device_blocks = sched.block_manager().num_device_blocks();
    if (ri == 0) res.engine = sched.engine();  // every replica runs the same engine config
    rr.swapped_bytes = (rr.stats.swapped_out_blocks + rr.stats.swapped_in_blocks) * block_bytes;
    rr.end_time_s = reps[ri].now;
    auto& s = res.stats;
    s.iterations += rr.stats.iterations;
    s.preemptions_recompute += rr.stats.preemptions_recompute;
    s.preemptions_swap += rr.stats.preemptions_swap;
    s.recomputed_tokens += rr.stats.recomputed_tokens;
    s.prefix_cache_hit_tokens += rr.stats.prefix_cache_hit_tokens;
    s.swapped_out_blocks += rr.stats.swapped_out_blocks;
    s.swapped_in_blocks += rr.stats.swapped_in_blocks;
    s.rejected += rr.stats.rejected;
    res.swapped_bytes += rr.swapped_bytes;
    res.iterations += rr.iterations;
    res.num_stuck += rr.num_stuck;
    res.end_time_s = std::max(res.end_time_s, rr.end_time_s);
    if (opt.record_kv) res.num_device_blocks += rr.num_device_blocks;
  }
  if (R == 1) res.kv_timeline = out.replicas.front().kv_timeline;
  res.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  return out;
}

}  // namespace kvsched::sim
