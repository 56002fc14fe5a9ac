// kvsched/scheduler/scheduler_adapter.hpp: AnyScheduler over a concrete Scheduler<P>.
#pragma once
#include <string>
#include <utility>

#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/scheduler/scheduler.hpp"

namespace kvsched {

/// Forwards every AnyScheduler call to a Scheduler<P> (one virtual call per engine call).
template <PolicyBundle P>
class SchedulerAdapter final : public AnyScheduler {
 public:
  SchedulerAdapter(std::string name, const EngineConfig& engine, const LatencyModel& latency, P policies = {})
      : name_(std::move(name)), s_(engine, latency, std::move(policies)) {}

  [[nodiscard]] const std::string& name() const override { return name_; }
  void add_request(RequestSpec spec) override { s_.add_request(std::move(spec)); }
  void abort(RequestId id) override { s_.abort(id); }
  [[nodiscard]] const SchedulePlan& schedule(double now_s) override { return s_.schedule(now_s); }
  void on_step_done(const StepResult& result) override { s_.on_step_done(result); }
  [[nodiscard]] const Request* find(RequestId id) const override { return s_.find(id); }
  [[nodiscard]] std::size_t num_unfinished() const override { return s_.num_unfinished(); }
  [[nodiscard]] std::vector<Request> take_terminal() override { return s_.take_terminal(); }
  [[nodiscard]] const SchedulerStats& stats() const override { return s_.stats(); }
  [[nodiscard]] const BlockManager& block_manager() const override { return s_.block_manager(); }
  [[nodiscard]] const EngineConfig& engine() const override { return s_.engine(); }
  [[nodiscard]] EngineDefaults engine_defaults() const override { return engine_defaults_of(s_.policies()); }

  /// The wrapped scheduler (for tests and engines that know P).
  [[nodiscard]] Scheduler<P>& scheduler() { return s_; }

 private:
  std::string name_;
  Scheduler<P> s_;
};

}  // namespace kvsched
