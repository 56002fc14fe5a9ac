// kvsched/scheduler/any_scheduler.hpp: one virtual interface over Scheduler<Policies>, for
// callers that choose a policy by name at run time (the simulator, the server).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "kvsched/core/request.hpp"
#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/scheduler/scheduler_stats.hpp"

namespace kvsched {

class BlockManager;
struct EngineConfig;
struct EngineDefaults;

/// Type-erased scheduler. Same contract as Scheduler<Policies> (kvsched/scheduler/scheduler.hpp):
/// add_request(), then per iteration schedule(now) -> apply plan -> on_step_done(result).
class AnyScheduler {
 public:
  virtual ~AnyScheduler() = default;
  /// Preset name (e.g. "vllm_v1").
  [[nodiscard]] virtual const std::string& name() const = 0;
  /// Queues a request. Throws std::invalid_argument for a bad spec (prompt_tokens < 1,
  /// max_tokens < 1, duplicate id). A request that can never fit is rejected in the next plan.
  virtual void add_request(RequestSpec spec) = 0;
  /// Aborts a live request and frees every block it holds. Throws std::out_of_range for an
  /// unknown or already-terminal id.
  virtual void abort(RequestId id) = 0;
  /// Decides the next iteration at time now_s (s). The reference stays valid until the next call.
  [[nodiscard]] virtual const SchedulePlan& schedule(double now_s) = 0;
  /// Reports the executed plan: stamps output tokens at result.now_s, finishes requests.
  virtual void on_step_done(const StepResult& result) = 0;
  /// Live or not-yet-taken request by id, nullptr if unknown.
  [[nodiscard]] virtual const Request* find(RequestId id) const = 0;
  /// Number of requests not yet terminal (waiting, running, swapped, preempted).
  [[nodiscard]] virtual std::size_t num_unfinished() const = 0;
  /// Moves out every request that became terminal since the last call (finished, aborted, rejected).
  [[nodiscard]] virtual std::vector<Request> take_terminal() = 0;
  [[nodiscard]] virtual const SchedulerStats& stats() const = 0;
  [[nodiscard]] virtual const BlockManager& block_manager() const = 0;
  /// The engine config it runs under: knobs left at 0 resolved to the preset's defaults.
  [[nodiscard]] virtual const EngineConfig& engine() const = 0;
  /// The preset's own engine defaults (EngineDefaults: knob defaults, async scheduling).
  [[nodiscard]] virtual EngineDefaults engine_defaults() const = 0;
};

}  // namespace kvsched
