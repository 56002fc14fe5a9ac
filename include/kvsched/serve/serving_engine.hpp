// kvsched/serve/serving_engine.hpp: an engine thread that drives an AnyScheduler in wall-clock
// time, for the minimal server (docs/design.md section 1: "try the whole loop end to end").
// There is no model: each iteration lasts what the latency model predicts (times time_scale),
// and every scheduled request that samples a token gets one placeholder token.
#pragma once
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kvsched/latency/latency_model.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/serve/token_stream.hpp"

namespace kvsched::serve {

/// Counters the server reports at /v1/stats (cumulative since start).
struct ServingStats {
  std::int64_t submitted = 0, finished = 0, aborted = 0, rejected = 0;
  std::int64_t iterations = 0, tokens = 0;
  std::int64_t preemptions_recompute = 0, preemptions_swap = 0;
  std::int64_t running = 0;  // requests not yet terminal
};

/// Owns the scheduler; HTTP threads talk to it only through submit() and cancel().
/// Thread-safe. Errors: submit() after stop() returns nullptr.
class ServingEngine {
 public:
  /// time_scale: wall seconds per predicted GPU second (1 = emulate the GPU in real time,
  /// 0 = as fast as the scheduler runs). min_step_s: lower bound of one iteration's wall time.
  ServingEngine(std::unique_ptr<AnyScheduler> sched, LatencyModel latency, double time_scale = 1.0, double min_step_s = 0.0)
      : sched_(std::move(sched)), latency_(latency), time_scale_(time_scale), min_step_s_(min_step_s),
        start_(std::chrono::steady_clock::now()), thread_([this] { loop(); }) {}
  ServingEngine(const ServingEngine&) = delete;
  ServingEngine& operator=(const ServingEngine&) = delete;
  ~ServingEngine() { stop(); }

  /// Queues a request (its id and arrival time are assigned here) and returns its stream.
  [[nodiscard]] std::shared_ptr<TokenStream> submit(RequestSpec spec, RequestId* id_out = nullptr) {
    auto stream = std::make_shared<TokenStream>();
    {
      std::lock_guard lock(mu_);
      if (stopping_) return nullptr;
      spec.id = next_id_++;
      spec.arrival_s = now_s();
      if (id_out) *id_out = spec.id;
      pending_.emplace_back(std::move(spec), stream);
      ++stats_.submitted;
    }
    cv_.notify_all();
    return stream;
  }
  /// Aborts a request whose client went away; its blocks are freed at the next iteration.
  void cancel(RequestId id) {
    { std::lock_guard lock(mu_); cancels_.push_back(id); }
    cv_.notify_all();
  }
  [[nodiscard]] ServingStats stats() const { std::lock_guard lock(mu_); return stats_; }
  /// Stops the engine thread; live requests are closed as aborted.
  void stop() {
    { std::lock_guard lock(mu_); stopping_ = true; }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  /// Seconds since the engine started (the scheduler's clock).
  [[nodiscard]] double now_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  void loop() {
    for (;;) {
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !pending_.empty() || !cancels_.empty() || sched_->num_unfinished() > 0; });
        if (stopping_) break;
        for (auto& [spec, stream] : pending_) {
          const RequestId id = spec.id;
          sched_->add_request(std::move(spec));
          streams_.emplace(id, std::move(stream));
        }
        pending_.clear();
        for (RequestId id : cancels_) {
          const Request* r = sched_->find(id);
          if (r && !is_terminal(r->state)) sched_->abort(id);
        }
        cancels_.clear();
      }
      step();
    }
    std::lock_guard lock(mu_);
    for (auto& [id, stream] : streams_) stream->close(RequestState::kAborted, "server stopped");
    streams_.clear();
  }

  void step() {
    const double t0 = now_s();
    const SchedulePlan& plan = sched_->schedule(t0);
    const std::int64_t block_bytes =
        static_cast<std::int64_t>(sched_->block_manager().block_size()) * latency_.kv_bytes_per_token();
    const double wall = std::max(min_step_s_, plan_time_s(plan, latency_, block_bytes) * time_scale_);
    // An empty plan with work left cannot last (see Scheduler); sleep 1 ms rather than spin.
    const double pause = plan.empty() ? 0.001 : wall;
    if (pause > 0) std::this_thread::sleep_for(std::chrono::duration<double>(pause));
    const double t1 = now_s();
    std::vector<std::pair<RequestId, std::int32_t>> emitted;
    for (const auto& s : plan.scheduled) {
      if (!s.samples_token) continue;
      const Request* r = sched_->find(s.id);
      if (r) emitted.emplace_back(s.id, r->num_generated);
    }
    sched_->on_step_done({t1, {}});
    std::lock_guard lock(mu_);
    for (auto [id, index] : emitted) {
      auto it = streams_.find(id);
      if (it != streams_.end()) it->second->push({index, t1});
    }
    stats_.tokens += static_cast<std::int64_t>(emitted.size());
    for (Request& r : sched_->take_terminal()) {
      stats_.finished += r.state == RequestState::kFinished;
      stats_.aborted += r.state == RequestState::kAborted;
      stats_.rejected += r.state == RequestState::kRejected;
      auto it = streams_.find(r.id());
      if (it == streams_.end()) continue;
      it->second->close(r.state, r.reject_reason);
      streams_.erase(it);
    }
    stats_.iterations = sched_->stats().iterations;
    stats_.preemptions_recompute = sched_->stats().preemptions_recompute;
    stats_.preemptions_swap = sched_->stats().preemptions_swap;
    stats_.running = static_cast<std::int64_t>(sched_->num_unfinished());
  }

  std::unique_ptr<AnyScheduler> sched_;
  LatencyModel latency_;
  double time_scale_, min_step_s_;
  std::chrono::steady_clock::time_point start_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::pair<RequestSpec, std::shared_ptr<TokenStream>>> pending_;
  std::vector<RequestId> cancels_;
  std::unordered_map<RequestId, std::shared_ptr<TokenStream>> streams_;
  ServingStats stats_;
  RequestId next_id_ = 1;
  bool stopping_ = false;
  std::thread thread_;  // last: starts after every other member is ready
};

}  // namespace kvsched::serve
