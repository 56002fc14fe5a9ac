// kvsched/policy/concepts.hpp: one C++20 concept per scheduling decision (docs/design.md section 2)
// and one per optional hook. A preset is an aggregate holding one value of each policy type
// (see kvsched/presets/). Optional hooks may be left out; a policy that implements one
// static_asserts its concept (e.g. static_assert(ReserverTopUp<ProactiveReserver>)), so that a
// hook with a wrong signature fails to compile instead of being skipped, and Scheduler
// refuses a policy that declares a hook by name with a signature its concept rejects.
#pragma once
#include <concepts>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "kvsched/core/block_manager.hpp"
#include "kvsched/core/engine_config.hpp"
#include "kvsched/core/request.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Output-length estimator: a point estimate and an upper bound at its target probability
/// (CacheOPT section 3.2.1); observe() learns from finished requests.
template <class E>
concept Estimator = requires(E e, const E ce, const Request& r, const SchedulerView& v) {
  { ce.estimate(r, v) } -> std::same_as<LengthEstimate>;
  { e.observe(r) } -> std::same_as<void>;
};

/// What an Allocator decides at admission.
struct AdmissionGrant {
  std::int32_t reserve_blocks = 0;     // promised total for the request (>= blocks needed now)
  std::optional<RequestId> host{};     // embedding: run inside this running request's unused reservation
  std::int32_t lent_blocks = 0;        // blocks moved from the host's reservation (with host)
};

/// Allocator: how many blocks a request is promised at admission (on demand, estimated
/// demand, full max_tokens) and whether it borrows another request's unused reservation.
/// `blocks_now` = blocks the admission step materialises; returning std::nullopt refuses.
template <class A>
concept Allocator = requires(const A ca, const Request& r, std::int32_t blocks_now, const LengthEstimate& est,
                             const SchedulerView& v) {
  { ca.admit(r, blocks_now, est, v) } -> std::same_as<std::optional<AdmissionGrant>>;
};

/// Reserver: admission headroom (vLLM v0's watermark, SGLang's new-token ratio, CacheOPT's
/// global reserve) and the floor that growth of running requests must leave.
/// can_admit(): may a request be admitted that takes `new_blocks` of available() blocks?
template <class R>
concept Reserver = requires(const R cr, const Request& r, std::int32_t new_blocks, const SchedulerView& v) {
  { cr.can_admit(r, new_blocks, v) } -> std::same_as<bool>;
  { cr.growth_floor(v) } -> std::convertible_to<std::int32_t>;
};

/// VictimSelector: which running request to preempt when `needy` cannot grow. Candidates are
/// the running requests not yet scheduled this step (needy included), in admission order.
/// nullptr = preempt nobody (needy waits for this step).
template <class V>
concept VictimSelector = requires(const V cv, std::span<Request* const> candidates, const Request& needy,
                                  const SchedulerView& v) {
  { cv.select(candidates, needy, v) } -> std::same_as<Request*>;
};

/// PreemptionModeChooser: swap or recompute for one victim (CacheOPT section 3.2.7). The
/// scheduler falls back to recompute when the host pool has no room.
template <class M>
concept PreemptionModeChooser = requires(const M cm, const Request& victim, const SchedulerView& v) {
  { cm.choose(victim, v) } -> std::same_as<PreemptionMode>;
};

/// QueuePolicy: order of waiting and running requests for this step. `reorders_waiting` = false lets
/// the scheduler skip the copies (FCFS). head_of_line_blocking(): stop admitting at the
/// first waiting request that does not fit (vLLM) instead of trying the next.
template <class Q>
concept QueuePolicy = requires(const Q cq, std::vector<Request*>& reqs, const SchedulerView& v) {
  { Q::reorders_waiting } -> std::convertible_to<bool>;
  { cq.order_waiting(reqs, v) } -> std::same_as<void>;
  { cq.order_running(reqs, v) } -> std::same_as<void>;
  { cq.head_of_line_blocking() } -> std::convertible_to<bool>;
};

/// Optional QueuePolicy extension (AccelGen section 3.3.2): the queue keeps the waiting
/// requests in its own incremental structure, so that no step sorts the whole waiting queue.
/// The scheduler calls on_enqueue() when a request enters the waiting queue (arrival,
/// recompute preemption) and on_dequeue() when it leaves (admission, abort); at the start of
/// every step candidates() fills `out` with an ordered, bounded list of admission candidates,
/// which replaces order_waiting() and is shown to the other policies as
/// SchedulerView::candidates.
template <class Q>
concept IncrementalQueue = requires(Q q, Request& r, const Request& cr, std::vector<Request*>& out, const SchedulerView& v) {
  { q.on_enqueue(r, v) } -> std::same_as<void>;
  { q.on_dequeue(cr) } -> std::same_as<void>;
  { q.candidates(out, v) } -> std::same_as<void>;
};

/// DynamicChunker: the iteration's token budget and the chunk of each prefill. chunk()
/// returns the tokens to compute now for a prefilling request with `uncomputed` tokens left
/// (0 = not this step). Optional hooks: ChunkerBeginStep, ChunkerOnScheduled.
template <class C>
concept DynamicChunker = requires(const C cc, const Request& r, std::int32_t uncomputed, const SchedulerView& v) {
  { cc.token_budget(v) } -> std::convertible_to<std::int32_t>;
  { cc.chunk(r, uncomputed, v) } -> std::convertible_to<std::int32_t>;
};

/// BatchSelector: reorders or filters the admission candidates (already in queue order) to
/// fill both the token budget and the free KV (AccelGen section 3.3.3).
template <class B>
concept BatchSelector = requires(const B cb, std::vector<Request*>& candidates, const SchedulerView& v) {
  { B::reorders } -> std::convertible_to<bool>;
  { cb.select(candidates, v) } -> std::same_as<void>;
};

// ---- optional hooks ---------------------------------------------------------------------
// Each is called by Scheduler when the policy satisfies the concept; see scheduler.hpp for
// where in the step. Hooks that take a mutable BlockManager& say what they may change.

/// Reserver hook, at the start of every step after the token budget (SGLang: decays its
/// new-token ratio estimate against the running requests).
template <class R>
concept ReserverBeginStep = requires(R r, const SchedulerView& v) { { r.begin_step(v) } -> std::same_as<void>; };

/// Reserver hook, when a waiting request has been admitted (its blocks are allocated).
template <class R>
concept ReserverOnAdmit = requires(R r, const Request& req) { { r.on_admit(req) } -> std::same_as<void>; };

/// Reserver hook, once per step after the executed plan has been applied (on_step_done).
template <class R>
concept ReserverOnStepDone = requires(R r, const SchedulerView& v) { { r.on_step_done(v) } -> std::same_as<void>; };

/// Reserver hook, when a running request is about to be preempted (before its blocks go).
template <class R>
concept ReserverOnPreempt = requires(R r, const Request& victim) { { r.on_preempt(victim) } -> std::same_as<void>; };

/// Reserver hook, after a running request is scheduled for this step (CacheOPT's proactive
/// top-up). May change `req`'s reservation only (BlockManager::set_reservation on req.id(),
/// never beyond what available() allows); must not allocate, free or move blocks.
template <class R>
concept ReserverTopUp = requires(const R r, const Request& req, const SchedulerView& v, BlockManager& bm) { { r.top_up(req, v, bm) } -> std::same_as<void>; };

/// Allocator hook, at the start of every step before the running phase. May change the
/// reservations of running requests (set_reservation, transfer_reservation: CacheOPT returns
/// lent blocks to their hosts) but must not allocate, free or move blocks; appends to `out`
/// running requests the scheduler must preempt before the running phase.
template <class A>
concept AllocatorBeginStep = requires(A a, const SchedulerView& v, BlockManager& bm, std::vector<Request*>& out) { { a.begin_step(v, bm, out) } -> std::same_as<void>; };

/// Allocator hook, after an admission with `grant` (reservation set, lent blocks moved).
/// The request reference stays valid while it is live.
template <class A>
concept AllocatorOnAdmit = requires(A a, Request& req, const AdmissionGrant& grant, const LengthEstimate& est,
                                    const SchedulerView& v) { { a.on_admit(req, grant, est, v) } -> std::same_as<void>; };

/// Allocator hook, before a request's blocks are freed or swapped out (finish, abort,
/// preemption). Receives the BlockManager so that it may read the request's tables; must not
/// change them (the scheduler frees or swaps right after).
template <class A>
concept AllocatorOnRelease = requires(A a, const Request& req, BlockManager& bm) { { a.on_release(req, bm) } -> std::same_as<void>; };

/// Chunker hook, before token_budget() in every step (AccelGen: the step's SLO and pending decodes).
template <class C>
concept ChunkerBeginStep = requires(C c, const SchedulerView& v) { { c.begin_step(v) } -> std::same_as<void>; };

/// Chunker hook, for every request added to the batch (before its progress advances), so a
/// chunker can track the batch it is building (AccelGen). `tokens` = tokens computed this step.
template <class C>
concept ChunkerOnScheduled = requires(C c, const Request& req, std::int32_t tokens, const SchedulerView& v) { { c.on_scheduled(req, tokens, v) } -> std::same_as<void>; };
/// Chunker hook: the longest prompt (tokens) it can ever schedule; Scheduler::add_request
/// rejects longer ones (vLLM v0 without chunked prefill, `Scheduler._get_prompt_limit`).
template <class C>
concept ChunkerPromptLimit = requires(const C c, const SchedulerView& v) { { c.prompt_limit(v) } -> std::convertible_to<std::int32_t>; };

/// QueuePolicy extension: waiting requests carry a sort key that stays fixed while they wait
/// (CacheOPT's slack deadline); the scheduler inserts each at its place in key order, after
/// equal keys, instead of sorting every step.
template <class Q>
concept KeyedWaitingQueue = requires(const Q q, const Request& r) { { q.waiting_key(r) < q.waiting_key(r) } -> std::convertible_to<bool>; };

/// Every optional hook a policy type declares by name (a non-overloaded member function)
/// matches its concept. Scheduler static_asserts these, so that a hook with a wrong signature
/// fails to compile instead of being skipped.
template <class R>
concept ReserverHooksWellFormed =
    (!requires { &R::begin_step; } || ReserverBeginStep<R>) && (!requires { &R::on_admit; } || ReserverOnAdmit<R>) &&
    (!requires { &R::on_step_done; } || ReserverOnStepDone<R>) && (!requires { &R::on_preempt; } || ReserverOnPreempt<R>) &&
    (!requires { &R::top_up; } || ReserverTopUp<R>);
template <class A>
concept AllocatorHooksWellFormed = (!requires { &A::begin_step; } || AllocatorBeginStep<A>) &&
                                   (!requires { &A::on_admit; } || AllocatorOnAdmit<A>) && (!requires { &A::on_release; } || AllocatorOnRelease<A>);
template <class C>
concept ChunkerHooksWellFormed = (!requires { &C::begin_step; } || ChunkerBeginStep<C>) && (!requires { &C::on_scheduled; } || ChunkerOnScheduled<C>) &&
                                 (!requires { &C::prompt_limit; } || ChunkerPromptLimit<C>);
template <class Q>
concept QueueHooksWellFormed = (!requires { &Q::waiting_key; } || KeyedWaitingQueue<Q>) && (!requires { &Q::on_enqueue; } || IncrementalQueue<Q>);

/// Engine-structure switches that are not a single decision (vLLM v0 vs v1 loop shape).
struct SchedulerOptions {
  bool prefill_first_exclusive = false;        // vLLM v0: a step with new prefills runs no decodes
  bool no_prefill_while_swapped = false;       // vLLM v0: admit nothing while any request is swapped out
  bool no_admission_after_preemption = false;  // vLLM v1: admit nothing in a step that preempted
  bool null_block = false;                     // vLLM v1: one device block is the null block, never used
                                               // (vllm/v1/core/block_pool.py BlockPool.__init__)
  bool cache_blocks_when_scheduled = false;    // vLLM v1: full blocks enter the prefix cache when allocated for
                                               // this step's tokens (kv_cache_manager.py allocate_slots ->
                                               // cache_blocks), so a request admitted later in the same step
                                               // hits them; otherwise after the step is done
};

/// Bundle member: the rules several slots read (critical requests, global reserve), held once
/// (policy/common/bundle_rules.hpp); the scheduler hands it through SchedulerView::rules().
template <class P>
concept HasBundleRules = requires(const P p) {
  { p.rules } -> std::convertible_to<BundleRules>;
};

/// Bundle member: whether the reproduced engine caches prefixes by default. Scheduler runs
/// prefix caching only when both this and EngineConfig::enable_prefix_caching are on; a
/// bundle without the flag follows EngineConfig alone.
template <class P>
concept HasPrefixCachingDefault = requires {
  { P::prefix_caching } -> std::convertible_to<bool>;
};

/// Prefix caching of bundle P under `engine` (see HasPrefixCachingDefault).
template <class P>
[[nodiscard]] constexpr bool prefix_caching_of(const EngineConfig& engine) {
  if constexpr (HasPrefixCachingDefault<P>) return engine.enable_prefix_caching && P::prefix_caching;
  else return engine.enable_prefix_caching;
}

/// Bundle member: the preset's own engine-knob defaults (EngineDefaults), applied by
/// Scheduler's constructor where the EngineConfig leaves a knob at 0.
template <class P>
concept HasEngineDefaults = requires(const P p) {
  { p.engine_defaults } -> std::convertible_to<EngineDefaults>;
};

/// The engine-knob defaults of bundle `p` (EngineDefaults{} when it declares none).
template <class P>
[[nodiscard]] EngineDefaults engine_defaults_of(const P& p) {
  if constexpr (HasEngineDefaults<P>) return p.engine_defaults;
  else return EngineDefaults{};
}

/// A preset bundles one value of each policy type plus SchedulerOptions.
template <class P>
concept PolicyBundle = requires(P p) {
  requires Estimator<decltype(p.estimator)>;
  requires Allocator<decltype(p.allocator)>;
  requires Reserver<decltype(p.reserver)>;
  requires VictimSelector<decltype(p.victim)>;
  requires PreemptionModeChooser<decltype(p.mode)>;
  requires QueuePolicy<decltype(p.queue)>;
  requires DynamicChunker<decltype(p.chunker)>;
  requires BatchSelector<decltype(p.batch)>;
  { p.options } -> std::convertible_to<SchedulerOptions>;
};

}  // namespace kvsched
