// kvsched/scheduler/scheduler.hpp: the generic iteration-level (continuous batching)
// scheduler. Policies are template parameters; see kvsched/policy/concepts.hpp.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/core/schedule_plan.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/scheduler_view.hpp"
#include "kvsched/scheduler/scheduler_stats.hpp"

namespace kvsched {

/// Iteration-level scheduler over a policy bundle P (a preset from kvsched/presets/).
///
/// Per iteration the engine calls schedule(now), applies the plan's swap_out, swap_in and
/// copy pairs, runs the forward pass over plan.scheduled, and reports on_step_done(). Time is
/// passed in, never read from a clock, so runs are deterministic.
///
/// One step (docs/design.md section 2, vLLM v1's loop shape unless options say otherwise):
///   1. running requests, in the queue policy's order: each gets its prefill chunk or one
///      decode token; when its blocks do not fit, victims are preempted (swap or recompute)
///      until they do, or the victim is the request itself;
///   2. swapped requests are swapped back in while blocks last;
///   3. waiting requests are admitted in queue order while the token budget, max_num_seqs,
///      the allocator and the reserver allow.
/// Optional policy hooks (each a named concept in kvsched/policy/concepts.hpp): reserver
/// ReserverBeginStep/OnAdmit/OnStepDone/OnPreempt/TopUp, allocator AllocatorBeginStep/OnAdmit/
/// OnRelease, chunker ChunkerBeginStep/OnScheduled, queue IncrementalQueue/KeyedWaitingQueue.
/// A policy that declares a hook by name with a signature its concept rejects does not compile.
/// Prefix caching runs when EngineConfig::enable_prefix_caching and the bundle's
/// P::prefix_caching (the reproduced engine's default) are both on (prefix_caching_of).
/// Errors: add_request() throws std::invalid_argument for a bad spec; requests that can never
/// run (prompt >= the request token limit) are rejected in the next plan with a reason. The
/// limit is max_model_len, or the tokens the usable KV cache holds where that is less (vLLM
/// v1's null block leaves a pool of exactly max_model_len one block short; kvsched caps a
/// request there instead of letting it preempt itself forever). The constructor throws
/// std::invalid_argument for an impossible config (max_model_len larger than the pool).
/// Misuse of the call order throws std::logic_error, in every build type: schedule() while a
/// plan that runs or moves blocks still awaits its on_step_done(), or on_step_done() twice for
/// one plan (or before any schedule()). Bad step results (a non-finite time, time going
/// backwards, EOS for a request the plan did not sample) throw std::invalid_argument and
/// change nothing. Failed block moves (StepResult::lost_blocks) make the requests holding them
/// fall back to recompute (recompute_lost).
template <PolicyBundle P>
class Scheduler {
 public:
  Scheduler(const EngineConfig& engine, const LatencyModel& latency, P policies = {})
      : engine_(effective(engine, policies)), latency_(latency), p_(std::move(policies)),
        blocks_(engine_.block_size, engine_.num_device_blocks, engine_.num_host_blocks, engine_.enable_prefix_caching) {
    if (p_.options.null_block) blocks_.reserve_null_block();
  }

  [[nodiscard]] const EngineConfig& engine() const { return engine_; }
  [[nodiscard]] const BlockManager& block_manager() const { return blocks_; }
  [[nodiscard]] const SchedulerStats& stats() const { return stats_; }
  [[nodiscard]] P& policies() { return p_; }
  [[nodiscard]] const P& policies() const { return p_; }
  [[nodiscard]] std::span<Request* const> running() const { return running_; }
  [[nodiscard]] std::span<Request* const> waiting() const { return waiting_; }
  [[nodiscard]] std::span<Request* const> swapped() const { return swapped_; }
  [[nodiscard]] std::size_t num_unfinished() const { return running_.size() + waiting_.size() + swapped_.size(); }

  /// Queues a new request (state waiting). Throws std::invalid_argument naming the field for
  /// prompt_tokens < 1, max_tokens < 1, a non-finite arrival_s, slo.ttft_s or slo.tbt_s (NaN or
  /// infinite: every slack and rate computed from it would be NaN), content_block_tokens < 1
  /// with content ids, or a duplicate id. A prompt that can never run is
  /// accepted and rejected, with a reason, in the next plan. max_tokens is clipped so that
  /// prompt + max_tokens <= max_model_len (vLLM does the same), or <= the tokens of the usable
  /// KV cache where that is less (request_token_limit).
  void add_request(RequestSpec spec) {
    const std::string where = "request " + std::to_string(spec.id) + ": ";
    if (spec.prompt_tokens < 1) throw std::invalid_argument(where + "prompt_tokens must be >= 1, got " + std::to_string(spec.prompt_tokens));
    if (spec.max_tokens < 1) throw std::invalid_argument(where + "max_tokens must be >= 1, got " + std::to_string(spec.max_tokens));
    if (!std::isfinite(spec.arrival_s)) throw std::invalid_argument(where + "arrival_s must be finite, got " + std::to_string(spec.arrival_s));
    if (!std::isfinite(spec.slo.ttft_s)) throw std::invalid_argument(where + "slo.ttft_s must be finite (<= 0 = none), got " + std::to_string(spec.slo.ttft_s));
    if (!std::isfinite(spec.slo.tbt_s)) throw std::invalid_argument(where + "slo.tbt_s must be finite (<= 0 = none), got " + std::to_string(spec.slo.tbt_s));
    if (!spec.content_ids.empty() && spec.content_block_tokens < 1)
      throw std::invalid_argument(where + "content_block_tokens must be >= 1 with content ids, got " + std::to_string(spec.content_block_tokens));
    if (reqs_.count(spec.id)) throw std::invalid_argument(where + "duplicate request id");
    note_arrival(spec.arrival_s);
    auto [it, ok] = reqs_.emplace(spec.id, Request{});
    Request& r = it->second;
    r.spec = std::move(spec);
    const std::int32_t limit = request_token_limit();
    if (r.spec.prompt_tokens >= limit) {
      reject(r, "prompt of " + std::to_string(r.spec.prompt_tokens) + " tokens does not fit " +
                    (r.spec.prompt_tokens >= engine_.max_model_len ? "max_model_len " + std::to_string(engine_.max_model_len)
                                                                   : "the usable KV cache of " + std::to_string(limit) + " tokens") +
                    " with one output token");
      return;
    }
    if constexpr (ChunkerPromptLimit<Chunker>) {
      const std::int32_t limit = p_.chunker.prompt_limit(view());
      if (r.spec.prompt_tokens > limit) {
        reject(r, "prompt of " + std::to_string(r.spec.prompt_tokens) + " tokens exceeds the prompt limit of " +
                      std::to_string(limit) + " tokens (max_num_batched_tokens without chunked prefill)");
        return;
      }
    }
    r.spec.max_tokens = std::min(r.spec.max_tokens, limit - r.spec.prompt_tokens);
    enqueue_waiting(r, /*front=*/false);
    notify_enqueue(r);
  }

  /// Aborts a live request, freeing every block it holds. Throws std::out_of_range for an
  /// unknown or already terminal id.
  void abort(RequestId id) {
    auto it = reqs_.find(id);
    if (it == reqs_.end() || is_terminal(it->second.state))
      throw std::out_of_range("abort: unknown or finished request " + std::to_string(id));
    Request& r = it->second;
    if (r.state == RequestState::kWaiting || r.state == RequestState::kPreempted) notify_dequeue(r);
    remove_from_queues(r);
    release(r);
    r.state = RequestState::kAborted;
    terminal_.push_back(id);
  }

  /// Decides the next iteration at time now_s (s). See the class comment for the order.
  /// Throws std::invalid_argument for a non-finite now_s, and std::logic_error while the
  /// previous plan runs a batch or moves blocks and on_step_done() has not reported it (the
  /// new plan would silently replace its swap lists). A plan that does neither needs no
  /// on_step_done().
  [[nodiscard]] const SchedulePlan& schedule(double now_s) {
    if (!std::isfinite(now_s)) throw std::invalid_argument("schedule: now_s must be finite, got " + std::to_string(now_s));
    if (awaiting_step_done_ && needs_step_done(plan_))
      throw std::logic_error("schedule: the previous plan (step " + std::to_string(step_) +
                             ") runs or moves blocks and was not reported by on_step_done()");
    awaiting_step_done_ = true;
    plan_.clear();
    plan_reqs_.clear();
    plan_reqs_valid_ = true;
    plan_.now_s = now_s;
    plan_.finished.swap(finished_pending_);
    ++step_;
    now_ = now_s;
    preempted_this_step_ = false;
    seqs_left_ = engine_.max_num_seqs;
    budget_left_ = 0;
    if constexpr (kIncrementalQueue) p_.queue.candidates(cand_buf_, view());
    if constexpr (ChunkerBeginStep<Chunker>) p_.chunker.begin_step(view());
    budget_left_ = p_.chunker.token_budget(view());
    if constexpr (ReserverBeginStep<Reserver>) p_.reserver.begin_step(view());
    // Optional hook: the allocator may adjust reservations (return lent blocks to their hosts)
    // and name running requests to preempt before the running phase (CacheOPT: a guest whose
    // host caught up with the lent region).
    if constexpr (AllocatorBeginStep<Allocator>) {
      reclaim_buf_.clear();
      p_.allocator.begin_step(view(), blocks_, reclaim_buf_);
      for (Request* v : reclaim_buf_)
        if (v->state == RequestState::kRunning) preempt(*v);
    }

    if (p_.options.prefill_first_exclusive) {
      if (swapped_.empty() && schedule_waiting() > 0) return finish_plan();
      schedule_running();
      if (!preempted_this_step_) schedule_swapped();
    } else {
      schedule_running();
      const bool may_admit = !(preempted_this_step_ && p_.options.no_admission_after_preemption);
      if (may_admit) schedule_swapped();
      if (may_admit && !(p_.options.no_prefill_while_swapped && !swapped_.empty())) schedule_waiting();
    }
    return finish_plan();
  }

  /// Reports the executed plan: advances each scheduled request, stamps sampled tokens at
  /// result.now_s, finishes requests at EOS or max_tokens, and lets policies learn.
  /// Errors (nothing changes): std::logic_error when no plan awaits a report (called twice for
  /// one plan, or before schedule()); std::invalid_argument when result.now_s is not finite or
  /// earlier than the plan's time or the previous step's, or an EOS names a request that the
  /// plan did not sample a token for (an aborted request that the plan sampled is accepted).
  void on_step_done(const StepResult& result) {
    if (!awaiting_step_done_) throw std::logic_error("on_step_done: no plan awaits a report (called twice, or before schedule())");
    if (!std::isfinite(result.now_s) || result.now_s < plan_.now_s || result.now_s < last_step_done_s_)
      throw std::invalid_argument("on_step_done: now_s must be finite and >= the plan's time " + std::to_string(plan_.now_s) +
                                  " and the previous step's " + std::to_string(last_step_done_s_) + ", got " + std::to_string(result.now_s));
    for (const LostBlock& lb : result.lost_blocks) {
      const std::int32_t n = lb.pool == Pool::kDevice ? blocks_.num_device_blocks() : blocks_.num_host_blocks();
      if (lb.block < 0 || lb.block >= n)
        throw std::invalid_argument("on_step_done: lost block " + std::to_string(lb.block) + " outside the " +
                                    (lb.pool == Pool::kDevice ? "device" : "host") + " pool of " + std::to_string(n) + " blocks");
    }
    for (const StepOutput& o : result.outputs) {
      if (!o.eos) continue;
      const bool sampled = std::any_of(plan_.scheduled.begin(), plan_.scheduled.end(),
                                       [&](const ScheduledRequest& s) { return s.id == o.id && s.samples_token; });
      if (!sampled) throw std::invalid_argument("on_step_done: EOS for request " + std::to_string(o.id) + ", which this plan did not sample a token for");
    }
    awaiting_step_done_ = false;
    last_step_done_s_ = result.now_s;
    if (!result.lost_blocks.empty()) recompute_lost(result.lost_blocks);
    if (!plan_.scheduled.empty()) max_iteration_s_ = std::max(max_iteration_s_, result.now_s - plan_.now_s);
    for (std::size_t i = 0; i < plan_.scheduled.size(); ++i) {
      const ScheduledRequest& s = plan_.scheduled[i];
      Request* rp = plan_reqs_[i];
      if (!plan_reqs_valid_) {
        auto it = reqs_.find(s.id);
        rp = it == reqs_.end() ? nullptr : &it->second;
      }
      if (!rp || rp->state != RequestState::kRunning) continue;  // aborted meanwhile
      Request& r = *rp;
      const std::int32_t bs = blocks_.block_size();
      const std::int32_t before = r.num_computed_tokens;
      r.num_computed_tokens += s.num_tokens;
      // Only a step that fills a block has anything to register in the prefix cache.
      if (before / bs != r.num_computed_tokens / bs) blocks_.commit_computed(r.spec, r.num_computed_tokens);
      if (!s.samples_token) continue;
      ++r.num_generated;
      if (r.token_times_s.empty()) r.token_times_s.reserve(static_cast<std::size_t>(std::min(r.spec.max_tokens, kFirstTokenTimes)));
      r.token_times_s.push_back(result.now_s);
      if (r.last_token_s >= 0.0) r.max_token_gap_s = std::max(r.max_token_gap_s, result.now_s - r.last_token_s);
      r.last_token_s = result.now_s;
      if (r.num_generated >= r.spec.max_tokens) finish(r);
    }
    for (const StepOutput& o : result.outputs) {
      if (!o.eos) continue;
      auto it = reqs_.find(o.id);
      if (it != reqs_.end() && it->second.state == RequestState::kRunning && it->second.num_generated > 0) finish(it->second);
    }
    if constexpr (ReserverOnStepDone<Reserver>) p_.reserver.on_step_done(view());
  }

  /// Request by id (live, or terminal and not yet taken), nullptr if unknown.
  [[nodiscard]] const Request* find(RequestId id) const {
    auto it = reqs_.find(id);
    return it == reqs_.end() ? nullptr : &it->second;
  }

  /// Moves out every request that became terminal since the last call, in the order they did.
  [[nodiscard]] std::vector<Request> take_terminal() {
    std::vector<Request> out;
    out.reserve(terminal_.size());
    if (!terminal_.empty()) plan_reqs_valid_ = false;  // plan_reqs_ may point at erased requests
    for (RequestId id : terminal_) {
      auto it = reqs_.find(id);
      out.push_back(std::move(it->second));
      reqs_.erase(it);
    }
    terminal_.clear();
    return out;
  }

  /// Read-only state for policies and callers, valid until the next mutation.
  [[nodiscard]] SchedulerView view() const {
    const std::span<Request* const> cands = kIncrementalQueue ? std::span<Request* const>(cand_buf_) : std::span<Request* const>();
    SchedulerView v = make_view(now_, engine_, blocks_, latency_, {running_, waiting_, swapped_, cands}, budget_left_, seqs_left_);
    v.arrival_rate_rps = arrival_rate();
    v.max_iteration_s = max_iteration_s_;
    v.bind_estimator(p_.estimator);
    if constexpr (HasBundleRules<P>) v.bundle_rules = &p_.rules;
    return v;
  }

 private:
  using Allocator = decltype(P::allocator);
  using Reserver = decltype(P::reserver);
  using Chunker = decltype(P::chunker);
  using Queue = decltype(P::queue);
  static constexpr bool kIncrementalQueue = IncrementalQueue<Queue>;

  /// A plan the engine must report back: it runs a batch or moves blocks.
  static bool needs_step_done(const SchedulePlan& p) {
    return !p.scheduled.empty() || !p.swap_out.empty() || !p.swap_in.empty() || !p.copy.empty();
  }

  // A hook declared by name must match its concept (otherwise it would be silently skipped).
  static_assert(ReserverHooksWellFormed<Reserver>, "reserver: a hook has the wrong signature (policy/concepts.hpp, Reserver*)");
  static_assert(AllocatorHooksWellFormed<Allocator>, "allocator: a hook has the wrong signature (policy/concepts.hpp, Allocator*)");
  static_assert(ChunkerHooksWellFormed<Chunker>, "chunker: a hook has the wrong signature (policy/concepts.hpp, Chunker*)");
  static_assert(QueueHooksWellFormed<Queue>, "queue: a hook has the wrong signature (policy/concepts.hpp, KeyedWaitingQueue, IncrementalQueue)");

  /// The engine config this scheduler runs under: validated, unset knobs (0) from the
  /// bundle's EngineDefaults, prefix caching on only where the bundle's engine has it
  /// (prefix_caching_of).
  static EngineConfig effective(const EngineConfig& engine, const P& policies) {
    EngineConfig e = validated(engine).resolved(engine_defaults_of(policies));
    e.enable_prefix_caching = prefix_caching_of<P>(engine);
    return e;
  }

  static const EngineConfig& validated(const EngineConfig& e) {
    e.validate();
    if (static_cast<std::int64_t>(e.max_model_len) > static_cast<std::int64_t>(e.num_device_blocks) * e.block_size)
      throw std::invalid_argument("EngineConfig.max_model_len: " + std::to_string(e.max_model_len) +
                                  " tokens exceed the KV cache of " + std::to_string(e.num_device_blocks) + " blocks x " +
                                  std::to_string(e.block_size) + " tokens; one request could never fit");
    return e;
  }

  /// The most tokens one request may reach: max_model_len, or the device blocks requests can use
  /// (without vLLM v1's null block) x block_size where that is less.
  [[nodiscard]] std::int32_t request_token_limit() const {
    const std::int64_t usable = blocks_.num_device_blocks() - (blocks_.null_block() != kNoBlock ? 1 : 0);
    return static_cast<std::int32_t>(std::min<std::int64_t>(engine_.max_model_len, usable * blocks_.block_size()));
  }

  // ---- step phases ---------------------------------------------------------------------
  void schedule_running() {
    order_buf_.assign(running_.begin(), running_.end());
    p_.queue.order_running(order_buf_, view());
    for (Request* r : order_buf_) {
      if (r->state != RequestState::kRunning) continue;  // preempted earlier in this step
      if (seqs_left_ == 0 || budget_left_ == 0) break;
      const std::int32_t n = tokens_for(*r);
      if (n <= 0) continue;
      if (!grow_or_preempt(*r, n)) continue;
      cache_if_scheduled(*r, n);
      add_scheduled(*r, n);
      if constexpr (ReserverTopUp<Reserver>) p_.reserver.top_up(*r, view(), blocks_);
    }
  }

  void schedule_swapped() {
    std::size_t i = 0;
    for (; i < swapped_.size(); ++i) {
      Request& r = *swapped_[i];
      if (seqs_left_ == 0 || budget_left_ == 0 || static_cast<std::int32_t>(running_.size()) >= engine_.max_num_seqs) break;
      const std::int32_t n = tokens_for(r);
      if (n <= 0) break;
      // Blocks back from the host plus any growth for this step's tokens.
      const auto host = static_cast<std::int32_t>(blocks_.host_blocks(r.id()).size());
      const auto need = std::max(host, static_cast<std::int32_t>(blocks_for_tokens(r.num_computed_tokens + n, blocks_.block_size())));
      if (!p_.reserver.can_admit(r, need, view())) break;
      const std::size_t before = plan_.swap_in.size();
      if (!blocks_.swap_in(r.id(), plan_.swap_in, /*floor=*/need - host)) break;
      stats_.swapped_in_blocks += static_cast<std::int64_t>(plan_.swap_in.size() - before);
      r.state = RequestState::kRunning;
      running_.push_back(&r);
      if (blocks_.allocate_slots(r.id(), r.num_computed_tokens + n, r.num_computed_tokens, &plan_.copy)) add_scheduled(r, n);
    }
    swapped_.erase(swapped_.begin(), swapped_.begin() + static_cast<std::ptrdiff_t>(i));
  }

  /// Returns the number of requests admitted.
  std::int32_t schedule_waiting() {
    std::vector<Request*>* cands = &waiting_;
    if constexpr (kIncrementalQueue) {
      // Candidates came from the queue at the start of the step (schedule()).
      p_.batch.select(cand_buf_, view());
      cands = &cand_buf_;
    } else if constexpr (decltype(p_.queue)::reorders_waiting || decltype(p_.batch)::reorders) {
      cand_buf_.assign(waiting_.begin(), waiting_.end());
      p_.queue.order_waiting(cand_buf_, view());
      p_.batch.select(cand_buf_, view());
      cands = &cand_buf_;
    }
    std::int32_t admitted = 0, rejected = 0;
    for (Request* w : *cands) {
      if (seqs_left_ == 0 || budget_left_ == 0) break;
      if (static_cast<std::int32_t>(running_.size()) >= engine_.max_num_seqs) break;  // vLLM max_num_seqs caps running
      if (try_admit(*w)) {
        ++admitted;
        continue;
      }
      if (running_.empty() && swapped_.empty() && admitted == 0) {
        // The pool is as free as it will ever be: this request can never be admitted.
        reject(*w, "needs more KV cache than the policy can ever grant (" + std::to_string(w->num_tokens()) +
                       " tokens, pool of " + std::to_string(blocks_.num_device_blocks()) + " blocks)");
        ++rejected;
        continue;
      }
      if (p_.queue.head_of_line_blocking()) break;
    }
    if (admitted + rejected > 0)
      waiting_.erase(std::remove_if(waiting_.begin(), waiting_.end(),
                                    [](const Request* r) { return r->state != RequestState::kWaiting && r->state != RequestState::kPreempted; }),
                     waiting_.end());
    return admitted;
  }

  // ---- admission -----------------------------------------------------------------------
  bool try_admit(Request& w) {
    const std::int32_t bs = blocks_.block_size();
    const PrefixHit hit = blocks_.probe_prefix(w.spec, w.num_tokens());
    const std::int32_t cached = hit.tokens(bs);
    const std::int32_t n = p_.chunker.chunk(w, w.num_tokens() - cached, view());
    if (n <= 0) return false;
    const auto blocks_now = static_cast<std::int32_t>(blocks_for_tokens(cached + n, bs));
    const LengthEstimate est = p_.estimator.estimate(w, view());
    const std::optional<AdmissionGrant> grant = p_.allocator.admit(w, blocks_now, est, view());
    if (!grant) return false;
    // Blocks taken from available(): fresh blocks, cached hits that were free, and the rest
    // of the reservation unless it is lent by a host.
    const std::int32_t reserve_total = std::max(grant->reserve_blocks, blocks_now);
    // Cached hits on free blocks always come from available(); a host's lent promise covers
    // fresh blocks only.
    std::int32_t new_blocks = hit.free_blocks;
    if (!grant->host) new_blocks += blocks_now - hit.blocks + reserve_total - blocks_now;
    else new_blocks += std::max(0, blocks_now - hit.blocks - grant->lent_blocks);
    if (!p_.reserver.can_admit(w, new_blocks, view())) return false;
    const std::int32_t got = blocks_.acquire_prefix(w.spec, w.num_tokens());
    if (grant->host) blocks_.transfer_reservation(*grant->host, w.id(), grant->lent_blocks);
    else if (!blocks_.set_reservation(w.id(), reserve_total))
      throw std::logic_error("scheduler: reservation does not fit after can_admit");
    if (!blocks_.allocate_slots(w.id(), cached + n, cached, &plan_.copy)) throw std::logic_error("scheduler: admission blocks do not fit");
    if constexpr (AllocatorOnAdmit<Allocator>) p_.allocator.on_admit(w, *grant, est, view());
    if constexpr (ReserverOnAdmit<Reserver>) p_.reserver.on_admit(w);
    w.num_computed_tokens = got;
    cache_if_scheduled(w, n);
    w.num_cached_prompt_tokens += got;
    stats_.prefix_cache_hit_tokens += got;
    notify_dequeue(w);
    w.state = RequestState::kRunning;
    w.admitted_s = now_;
    running_.push_back(&w);
    add_scheduled(w, n);
    return true;
  }

  // ---- growth and preemption -----------------------------------------------------------
  /// Tokens to compute for a running request this step (0 = skip).
  std::int32_t tokens_for(const Request& r) const {
    if (!r.is_prefilling()) return 1;
    return p_.chunker.chunk(r, r.num_uncomputed(), view());
  }

  /// Allocates r's blocks for n more tokens, preempting victims until they fit.
  /// Returns false when r cannot run this step (preempted itself, or no victim).
  bool grow_or_preempt(Request& r, std::int32_t n) {
    const std::int32_t floor = p_.reserver.growth_floor(view());
    while (!blocks_.allocate_slots(r.id(), r.num_computed_tokens + n, r.num_computed_tokens, &plan_.copy, floor)) {
      victims_buf_.clear();
      for (Request* c : running_)
        if (c->sched_mark != step_) victims_buf_.push_back(c);
      Request* v = p_.victim.select(victims_buf_, r, view());
      if (!v) return false;
      preempt(*v);
      if (v == &r) return false;
    }
    return true;
  }

  void preempt(Request& v) {
    PreemptionMode mode = p_.mode.choose(v, view());
    if constexpr (ReserverOnPreempt<Reserver>) p_.reserver.on_preempt(v);
    if constexpr (AllocatorOnRelease<Allocator>) p_.allocator.on_release(v, blocks_);
    std::erase(running_, &v);
    const std::int32_t context = v.num_computed_tokens;
    if (mode == PreemptionMode::kSwap) {
      const std::size_t before = plan_.swap_out.size();
      if (blocks_.swap_out(v.id(), plan_.swap_out)) {
        stats_.swapped_out_blocks += static_cast<std::int64_t>(plan_.swap_out.size() - before);
        ++stats_.preemptions_swap;
        v.state = RequestState::kSwapped;
        swapped_.push_back(&v);
      } else {
        mode = PreemptionMode::kRecompute;  // host pool full
      }
    }
    if (mode == PreemptionMode::kRecompute) {
      blocks_.free(v.id());
      ++stats_.preemptions_recompute;
      stats_.recomputed_tokens += context;
      v.num_computed_tokens = 0;
      v.state = RequestState::kPreempted;
      enqueue_waiting(v, /*front=*/true);
      notify_enqueue(v);
    }
    ++v.num_preemptions;
    preempted_this_step_ = true;
    plan_.preempted.push_back({v.id(), mode, context});
  }

  /// SchedulerOptions::cache_blocks_when_scheduled: registers the blocks that this step's n
  /// tokens fill in the prefix cache now (vLLM v1 allocate_slots -> cache_blocks).
  void cache_if_scheduled(Request& r, std::int32_t n) {
    if (!p_.options.cache_blocks_when_scheduled) return;
    const std::int32_t bs = blocks_.block_size();
    if (r.num_computed_tokens / bs != (r.num_computed_tokens + n) / bs) blocks_.commit_computed(r.spec, r.num_computed_tokens + n);
  }

  /// Fault handling (StepResult::lost_blocks): every running request whose block table holds
  /// a lost device block, and every swapped request holding a lost host block, drops its KV
  /// and waits again (front of the queue) to be recomputed; lost device blocks leave the
  /// prefix cache. Called before the step's progress is applied, so these requests do not
  /// advance.
  void recompute_lost(const std::vector<LostBlock>& lost) {
    auto holds = [&](std::span<const BlockId> table, Pool pool) {
      for (const LostBlock& lb : lost)
        if (lb.pool == pool && std::find(table.begin(), table.end(), lb.block) != table.end()) return true;
      return false;
    };
    victims_buf_.clear();
    for (Request* r : running_)
      if (blocks_.has(r->id()) && holds(blocks_.block_table(r->id()), Pool::kDevice)) victims_buf_.push_back(r);
    for (Request* r : swapped_)
      if (blocks_.has(r->id()) && holds(blocks_.host_blocks(r->id()), Pool::kHost)) victims_buf_.push_back(r);
    for (const LostBlock& lb : lost)
      if (lb.pool == Pool::kDevice) blocks_.forget_device_content(lb.block);
    for (Request* v : victims_buf_) {
      if (v->state == RequestState::kRunning) {  // swapped ones had these hooks at swap-out
        if constexpr (ReserverOnPreempt<Reserver>) p_.reserver.on_preempt(*v);
        if constexpr (AllocatorOnRelease<Allocator>) p_.allocator.on_release(*v, blocks_);
      }
      std::erase(running_, v);
      std::erase(swapped_, v);
      blocks_.free(v->id());
      ++stats_.kv_fault_recomputes;
      stats_.recomputed_tokens += v->num_computed_tokens;
      v->num_computed_tokens = 0;
      v->state = RequestState::kPreempted;
      ++v->num_preemptions;
      enqueue_waiting(*v, /*front=*/true);
      notify_enqueue(*v);
    }
  }

  void add_scheduled(Request& r, std::int32_t n) {
    const bool prefill = r.is_prefilling();
    // Built in place: a braced temporary copied in stalled on store forwarding (7% of a step).
    ScheduledRequest& sr = plan_.scheduled.emplace_back();
    sr.id = r.id();
    sr.num_tokens = n;
    sr.num_computed_before = r.num_computed_tokens;
    sr.is_prefill = prefill;
    sr.samples_token = r.num_computed_tokens + n == r.num_tokens();
    plan_reqs_.push_back(&r);
    if constexpr (ChunkerOnScheduled<Chunker>) p_.chunker.on_scheduled(r, n, view());
    r.sched_mark = step_;
    budget_left_ -= n;
    --seqs_left_;
  }

  const SchedulePlan& finish_plan() {
    plan_.rejected.swap(rejected_pending_);  // rejected since the last plan, this step included
    rejected_pending_.clear();
    if (!plan_.scheduled.empty()) ++stats_.iterations;
    return plan_;
  }

  // ---- lifecycle -----------------------------------------------------------------------
  void release(Request& r) {
    if constexpr (AllocatorOnRelease<Allocator>) p_.allocator.on_release(r, blocks_);
    blocks_.free(r.id());
  }
  void finish(Request& r) {
    std::erase(running_, &r);
    release(r);
    r.state = RequestState::kFinished;
    p_.estimator.observe(r);
    finished_pending_.push_back(r.id());
    terminal_.push_back(r.id());
  }
  void reject(Request& r, std::string reason) {
    notify_dequeue(r);  // no-op for a request that never entered the waiting queue
    r.state = RequestState::kRejected;
    r.reject_reason = reason;
    ++stats_.rejected;
    rejected_pending_.push_back({r.id(), std::move(reason)});
    terminal_.push_back(r.id());
  }
  void notify_enqueue(Request& r) {
    if constexpr (kIncrementalQueue) p_.queue.on_enqueue(r, view());
  }
  void notify_dequeue(const Request& r) {
    if constexpr (kIncrementalQueue) p_.queue.on_dequeue(r);
  }
  /// Puts `r` into the waiting queue. When the queue policy keys waiting requests
  /// (queue.waiting_key(r): a sort key that stays fixed while r waits, e.g. CacheOPT's slack
  /// deadline), at its place in key order, after equal keys (O(log n) key reads plus a pointer
  /// move), so the queue never needs a per-step sort; otherwise at the back (arrival) or the
  /// front (recompute preemption, as vLLM's prepend_request).
  void enqueue_waiting(Request& r, bool front) {
    if constexpr (KeyedWaitingQueue<Queue>) {
      const auto key = p_.queue.waiting_key(r);
      auto at = std::upper_bound(waiting_.begin(), waiting_.end(), key,
                                 [this](const auto& k, const Request* w) { return k < p_.queue.waiting_key(*w); });
      waiting_.insert(at, &r);
    } else if (front) {
      waiting_.insert(waiting_.begin(), &r);
    } else {
      waiting_.push_back(&r);
    }
  }
  void remove_from_queues(Request& r) {
    std::erase(running_, &r);
    std::erase(waiting_, &r);
    std::erase(swapped_, &r);
  }

  // Arrival rate over a sliding window of the last kRateWindow arrivals (ours).
  static constexpr std::size_t kRateWindow = 64;
  void note_arrival(double t) {
    arrivals_.push_back(t);
    if (arrivals_.size() > kRateWindow) arrivals_.pop_front();
  }
  [[nodiscard]] double arrival_rate() const {
    if (arrivals_.size() < 2) return 0.0;
    const double span = arrivals_.back() - arrivals_.front();
    return span > 0 ? static_cast<double>(arrivals_.size() - 1) / span : 0.0;
  }

  EngineConfig engine_;
  LatencyModel latency_;
  P p_;
  BlockManager blocks_;
  SchedulerStats stats_;
  std::unordered_map<RequestId, Request> reqs_;  // node-based: Request* stay valid
  std::vector<Request*> running_, waiting_, swapped_;
  std::vector<Request*> order_buf_, cand_buf_, victims_buf_, reclaim_buf_;
  std::vector<RequestId> terminal_, finished_pending_;
  std::vector<Rejection> rejected_pending_;
  std::deque<double> arrivals_;
  SchedulePlan plan_;
  // plan_.scheduled's requests, in its order, so that on_step_done() needs no id lookups;
  // invalid once take_terminal() has erased requests since the plan (then: look ids up).
  std::vector<Request*> plan_reqs_;
  bool plan_reqs_valid_ = false;
  // Token times reserved at a request's first token (ours): fewer reallocations of the
  // vector a decode appends to every step.
  static constexpr std::int32_t kFirstTokenTimes = 128;
  std::uint64_t step_ = 0;
  double now_ = 0.0;
  double max_iteration_s_ = 0.0;
  bool preempted_this_step_ = false;
  bool awaiting_step_done_ = false;  // schedule() returned a plan that on_step_done() has not reported
  double last_step_done_s_ = -std::numeric_limits<double>::infinity();  // now_s of the latest report
  std::int32_t seqs_left_ = 0;
  std::int32_t budget_left_ = 0;
};

}  // namespace kvsched
