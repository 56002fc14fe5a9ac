// kvsched/serve/serving_engine.hpp: the serving loop on its own thread. Per iteration:
//   take new requests and cancellations -> plan = scheduler.schedule(now) -> batch (token ids,
//   block tables, samplers) -> Executor::execute (swap_out, swap_in, copy, forward, sample) ->
//   EOS / stop strings -> scheduler.on_step_done(StepResult) -> publish text, close finished.
// HTTP threads talk to it only through submit(), cancel(), metrics_text() and stats().
#pragma once
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/latency/batch_shape.hpp"
#include "kvsched/latency/plan_timing.hpp"
#include "kvsched/scheduler/any_scheduler.hpp"
#include "kvsched/serve/api_error.hpp"
#include "kvsched/serve/executor.hpp"
#include "kvsched/serve/metrics.hpp"
#include "kvsched/serve/text_output.hpp"
#include "kvsched/serve/token_stream.hpp"

namespace kvsched::serve {

/// A request as the routes hand it to the engine (prompt already tokenized).
struct Submission {
  std::vector<std::int32_t> prompt;  // token ids, >= 1
  std::int32_t max_tokens = 16;      // output cap (tokens), >= 1
  SamplingParams sampling;
  std::vector<std::string> stop;     // stop strings (cut from the text)
  bool ignore_eos = false;           // keep generating past EOS (vLLM's ignore_eos)
  Slo slo{};
};

/// What submit() returns.
struct Submitted {
  RequestId id = 0;
  double arrival_s = 0.0;  // engine clock (s)
  std::shared_ptr<TokenStream> stream;
};

/// One executed iteration, for fitting a latency model to the server's own times.
struct IterationRecord {
  double start_s = 0.0;     // engine clock at schedule() (s)
  double duration_s = 0.0;  // wall time of the whole iteration (s): schedule, execute, bookkeeping, publishing
  double execute_s = 0.0;   // of which Executor::execute (s): data movement, forward, sampling
  BatchShape shape;         // the plan's forward pass, as LatencyModel reads it
  std::int32_t swap_out_blocks = 0, swap_in_blocks = 0, copy_blocks = 0;
};

/// Engine limits and hooks.
struct EngineOptions {
  std::int32_t max_queue = 0;  // waiting requests (not yet admitted) beyond which submit() gives 429; 0 = no bound
  /// Called on the engine thread after every executed iteration (e.g. to log it); may be empty.
  std::function<void(const IterationRecord&)> on_iteration;
};

/// Cumulative counters (for tests and logs).
struct ServingStats {
  std::int64_t submitted = 0, finished = 0, aborted = 0, rejected = 0, errors = 0;
  std::int64_t iterations = 0, tokens = 0, preemptions = 0;
  std::int64_t live = 0;          // requests not yet closed
  std::int32_t free_blocks = 0;   // free device KV blocks after the last iteration
  std::int32_t total_blocks = 0;  // device KV blocks requests can use (without vLLM v1's null block)
};

/// Owns the scheduler and the executor. Thread-safe.
class ServingEngine {
 public:
  /// Starts the engine thread. The scheduler's BlockManager sizes must match the executor's
  /// KV pools (the server builds both from one EngineConfig).
  ServingEngine(std::unique_ptr<AnyScheduler> sched, std::unique_ptr<Executor> exec, EngineOptions opt = {})
      : sched_(std::move(sched)), exec_(std::move(exec)), opt_(opt), start_(std::chrono::steady_clock::now()),
        total_blocks_(usable_blocks(sched_->block_manager())), thread_([this] { loop(); }) {}
  ServingEngine(const ServingEngine&) = delete;
  ServingEngine& operator=(const ServingEngine&) = delete;
  ~ServingEngine() { stop(); }

  /// The executor (its tokenizer's encode/decode are const and safe from any thread).
  [[nodiscard]] const Executor& executor() const { return *exec_; }

  /// Queues a request. Throws ApiError 429 when max_queue requests already wait, 503 once
  /// drain() or stop() began.
  [[nodiscard]] Submitted submit(Submission sub) {
    auto stream = std::make_shared<TokenStream>(static_cast<std::int32_t>(sub.prompt.size()));
    Submitted out;
    {
      std::lock_guard lock(mu_);
      if (!accepting_) throw ApiError(503, "the server is shutting down");
      if (opt_.max_queue > 0 && waiting_ + static_cast<std::int64_t>(pending_.size()) >= opt_.max_queue)
        throw ApiError(429, "too many waiting requests (--max-queue " + std::to_string(opt_.max_queue) + "); retry later");
      out.id = next_id_++;
      out.arrival_s = now_s();
      out.stream = stream;
      pending_.push_back({out.id, out.arrival_s, std::move(sub), stream});
      ++stats_.submitted;
      ++stats_.live;
    }
    cv_.notify_all();
    return out;
  }
  /// Aborts a request (its client went away); its blocks are freed at the next iteration
  /// and its stream closes with FinishReason::kAbort. Unknown or finished ids are ignored.
  void cancel(RequestId id, std::string reason = "client disconnected") {
    { std::lock_guard lock(mu_); cancels_.emplace_back(id, std::move(reason)); }
    cv_.notify_all();
  }
  /// Graceful stop: refuses new requests (503), lets live ones run up to `grace`, aborts the
  /// rest (their streams close with kAbort, "server shutting down"), then stops the thread.
  void drain(std::chrono::milliseconds grace) {
    std::unique_lock lock(mu_);
    accepting_ = false;
    idle_cv_.wait_for(lock, grace, [&] { return stats_.live == 0; });
    for (const auto& p : pending_) cancels_.emplace_back(p.id, "server shutting down");
    for (const auto& [id, _] : live_) cancels_.emplace_back(id, "server shutting down");
    cv_.notify_all();
    idle_cv_.wait_for(lock, std::chrono::seconds(2), [&] { return stats_.live == 0; });
    lock.unlock();
    stop();
  }
  /// Stops the engine thread; requests still live are closed as aborted.
  void stop() {
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
      stopping_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  [[nodiscard]] ServingStats stats() const { std::lock_guard lock(mu_); return stats_; }
  /// Prometheus text of the metrics (serve/metrics.hpp).
  [[nodiscard]] std::string metrics_text() const {
    std::lock_guard lock(mu_);
    ServerMetrics m = metrics_;
    m.waiting += static_cast<std::int64_t>(pending_.size());
    return m.render(exec_->model_name());
  }
  /// Seconds since the engine started (the scheduler's clock).
  [[nodiscard]] double now_s() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  struct Pending {
    RequestId id;
    double arrival_s;
    Submission sub;
    std::shared_ptr<TokenStream> stream;
  };
  /// Generation state of one request the scheduler holds.
  struct Live {
    std::vector<std::int32_t> tokens;  // prompt, then generated
    std::int32_t prompt_len = 0;
    Sampler sampler;
    TextOutput text;
    bool ignore_eos = false;
    bool hit_stop = false;             // EOS or a stop string ended it
    std::size_t published = 0;         // bytes of text published
    std::int32_t generated = 0;
    double arrival_s = 0.0, last_token_s = -1.0;
    std::string abort_reason;
    std::shared_ptr<TokenStream> stream;
  };

  void loop() {
    for (;;) {
      std::vector<Pending> fresh;
      std::vector<std::pair<RequestId, std::string>> cancels;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !pending_.empty() || !cancels_.empty() || sched_->num_unfinished() > 0; });
        if (stopping_) break;
        fresh.swap(pending_);
        cancels.swap(cancels_);
      }
      for (auto& p : fresh) admit(std::move(p));
      for (auto& [id, reason] : cancels) {
        auto it = live_.find(id);
        if (it == live_.end()) continue;
        const Request* r = sched_->find(id);
        if (r && !is_terminal(r->state)) {
          it->second.abort_reason = reason;
          sched_->abort(id);
        }
      }
      step();
    }
    std::lock_guard lock(mu_);
    for (auto& p : pending_) p.stream->close(FinishReason::kAbort, "server stopped");
    for (auto& [id, l] : live_) l.stream->close(FinishReason::kAbort, "server stopped");
    stats_.aborted += static_cast<std::int64_t>(pending_.size() + live_.size());
    stats_.live = 0;
    pending_.clear();
    live_.clear();
    idle_cv_.notify_all();
  }

  void admit(Pending p) {
    RequestSpec spec;
    spec.id = p.id;
    spec.arrival_s = p.arrival_s;
    spec.prompt_tokens = static_cast<std::int32_t>(p.sub.prompt.size());
    spec.max_tokens = p.sub.max_tokens;
    spec.slo = p.sub.slo;
    Live l{std::move(p.sub.prompt), spec.prompt_tokens, Sampler(p.sub.sampling, 0x9E3779B97F4A7C15ULL ^ p.id),
           TextOutput(std::move(p.sub.stop)), p.sub.ignore_eos, false, 0, 0, p.arrival_s, -1.0, {}, std::move(p.stream)};
    try {
      sched_->add_request(spec);
    } catch (const std::exception& e) {
      l.stream->close(FinishReason::kError, e.what());
      std::lock_guard lock(mu_);
      ++stats_.errors;
      --stats_.live;
      idle_cv_.notify_all();
      return;
    }
    live_.emplace(p.id, std::move(l));
  }

  void step() {
    const double t0 = now_s();
    const SchedulePlan& plan = sched_->schedule(t0);
    StepBatch batch;
    batch.plan = &plan;
    batch.block_size = sched_->block_manager().block_size();
    for (const auto& s : plan.scheduled) {
      Live& l = live_.at(s.id);
      batch.seqs.push_back({s.id, l.tokens, s.num_computed_before, s.num_tokens, s.samples_token,
                            sched_->block_manager().block_table(s.id), s.samples_token ? &l.sampler : nullptr});
    }
    StepResult result;
    std::vector<std::pair<RequestId, std::int32_t>> sampled;  // (id, token)
    bool failed = false, ran = false;
    double exec_s = 0.0;
    std::string failure;
    if (!plan.empty() || !plan.swap_out.empty() || !plan.swap_in.empty() || !plan.copy.empty()) {
      try {
        const double x0 = now_s();
        ran = true;
        const std::vector<std::int32_t> tokens = exec_->execute(batch);
        exec_s = now_s() - x0;
        std::size_t k = 0;
        for (const auto& s : batch.seqs)
          if (s.samples_token) {
            if (k >= tokens.size()) throw std::logic_error("executor returned fewer tokens than sequences that sample");
            sampled.emplace_back(s.id, tokens[k++]);
          }
      } catch (const std::exception& e) {
        failed = true;
        failure = std::string("executor failed: ") + e.what();
        std::fprintf(stderr, "kvsched-server: %s\n", failure.c_str());
        sampled.clear();
      }
    } else if (sched_->num_unfinished() > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));  // nothing runnable now: do not spin
    }
    const double t1 = now_s();
    std::unique_lock lock(mu_);
    const auto eos = exec_->eos_token();
    for (auto [id, token] : sampled) {
      Live& l = live_.at(id);
      l.tokens.push_back(token);
      ++l.generated;
      bool end = !l.ignore_eos && eos && token == *eos;
      if (!end) end = l.text.append(exec_->decode(token));
      l.hit_stop = end;
      if (l.last_token_s < 0) metrics_.ttft.observe(t1 - l.arrival_s);
      else metrics_.itl.observe(t1 - l.last_token_s);
      l.last_token_s = t1;
      result.outputs.push_back({id, end});
    }
    lock.unlock();
    result.now_s = t1;
    sched_->on_step_done(result);
    if (failed)
      for (const auto& s : batch.seqs) {
        const Request* r = sched_->find(s.id);
        if (r && !is_terminal(r->state)) {
          live_.at(s.id).abort_reason = failure;
          sched_->abort(s.id);
        }
      }
    std::vector<Request> terminal = sched_->take_terminal();
    lock.lock();
    metrics_.generation_tokens += static_cast<std::int64_t>(sampled.size());
    stats_.tokens += static_cast<std::int64_t>(sampled.size());
    for (const auto& s : plan.scheduled)
      if (s.is_prefill) metrics_.prompt_tokens += s.num_tokens;
    for (auto [id, token] : sampled) {
      Live& l = live_.at(id);
      const std::size_t n = std::max(l.published, l.text.publishable(false));
      l.stream->publish(l.text.text().substr(l.published, n - l.published), l.generated);  // every token: counts move too
      l.published = n;
    }
    for (const Request& r : terminal) {
      auto it = live_.find(r.id());
      if (it == live_.end()) continue;
      Live& l = it->second;
      const std::size_t n = l.text.publishable(true);
      l.stream->publish(l.text.text().substr(l.published, n - l.published), l.generated);
      if (r.state == RequestState::kFinished) {
        const FinishReason f = l.hit_stop ? FinishReason::kStop : FinishReason::kLength;
        (f == FinishReason::kStop ? metrics_.finished_stop : metrics_.finished_length)++;
        ++stats_.finished;
        l.stream->close(f);
      } else if (r.state == RequestState::kRejected || l.abort_reason.rfind("executor failed", 0) == 0) {
        ++metrics_.finished_error;
        ++(r.state == RequestState::kRejected ? stats_.rejected : stats_.errors);
        l.stream->close(FinishReason::kError, r.state == RequestState::kRejected ? r.reject_reason : l.abort_reason);
      } else {
        ++metrics_.finished_abort;
        ++stats_.aborted;
        l.stream->close(FinishReason::kAbort, l.abort_reason);
      }
      metrics_.e2e.observe(t1 - l.arrival_s);
      live_.erase(it);
      --stats_.live;
    }
    std::int64_t running = 0;
    for (const auto& [id, l] : live_) {
      const Request* r = sched_->find(id);
      running += r && r->state == RequestState::kRunning;
    }
    metrics_.running = running;
    metrics_.waiting = static_cast<std::int64_t>(live_.size()) - running;
    waiting_ = metrics_.waiting;
    const BlockManager& bm = sched_->block_manager();
    stats_.free_blocks = bm.num_free_device();
    stats_.total_blocks = total_blocks_;
    metrics_.kv_usage = total_blocks_ > 0 ? 1.0 - static_cast<double>(bm.num_free_device()) / total_blocks_ : 0.0;
    const auto& ss = sched_->stats();
    metrics_.preemptions = ss.preemptions_recompute + ss.preemptions_swap;
    stats_.preemptions = metrics_.preemptions;
    stats_.iterations = ss.iterations;
    if (stats_.live == 0) idle_cv_.notify_all();
    lock.unlock();
    if (ran && opt_.on_iteration) {
      IterationRecord rec;
      rec.start_s = t0;
      rec.duration_s = now_s() - t0;
      rec.execute_s = exec_s;
      rec.shape = batch_shape_of(plan);
      rec.swap_out_blocks = static_cast<std::int32_t>(plan.swap_out.size());
      rec.swap_in_blocks = static_cast<std::int32_t>(plan.swap_in.size());
      rec.copy_blocks = static_cast<std::int32_t>(plan.copy.size());
      opt_.on_iteration(rec);
    }
  }

  std::unique_ptr<AnyScheduler> sched_;
  std::unique_ptr<Executor> exec_;
  EngineOptions opt_;
  std::chrono::steady_clock::time_point start_;
  std::int32_t total_blocks_;  // device blocks requests can use (vLLM v1's null block left out, as its get_usage does)

  [[nodiscard]] static std::int32_t usable_blocks(const BlockManager& bm) {
    return bm.num_device_blocks() - (bm.null_block() != kNoBlock ? 1 : 0);
  }
  std::unordered_map<RequestId, Live> live_;  // engine thread only
  mutable std::mutex mu_;                     // guards everything below
  std::condition_variable cv_, idle_cv_;
  std::vector<Pending> pending_;
  std::vector<std::pair<RequestId, std::string>> cancels_;
  ServerMetrics metrics_;
  ServingStats stats_;
  std::int64_t waiting_ = 0;
  RequestId next_id_ = 1;
  bool accepting_ = true, stopping_ = false;
  std::thread thread_;  // last: starts after every other member is ready
};

}  // namespace kvsched::serve
