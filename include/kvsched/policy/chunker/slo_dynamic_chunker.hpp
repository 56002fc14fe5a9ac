// kvsched/policy/chunker/slo_dynamic_chunker.hpp: AccelGen's SLO-guaranteed dynamic chunking
// (AccelGen section 3.1, docs/design.md section 3.3.1).
#pragma once
#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "kvsched/latency/batch_shape.hpp"
#include "kvsched/latency/latency_model.hpp"
#include "kvsched/policy/common/slo_priority.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Parameters of SloDynamicChunker.
struct SloDynamicChunkerConfig {
  std::int32_t max_budget_tokens = 0;     // upper bound of the token budget; 0 = EngineConfig.max_num_batched_tokens
  std::int32_t long_prompt_tokens = 1024; // a sequence longer than this is a "long prompt" (tokens; ours)
  std::int32_t max_long_prefills = 1;     // long prompts prefilling at once (ours, default 1)
  double slo_margin = 0.0;                // fraction of the tightest TBT SLO kept spare: a predicted iteration
                                          // may use (1 - slo_margin) x SLO, for a clock that is not the model (ours)
  std::int32_t min_prefill_tokens = 16;   // chunk of a lone prefill when no chunk meets the SLO, for progress (ours)
  bool reserve_for_short_prompts = true;  // long chunks leave room for short prompts (AccelGen section 3.1)
};

/// Token budget and chunk sizes that keep every iteration within the tightest TBT SLO of the
/// requests in it.
///
/// Iteration time grows with the forward size F and the context the attention reads; it is
/// flat up to the pivot S_p (LatencyModel::pivot_tokens()), then about linear. Per step:
///  - SLO* = tightest TBT SLO among the running and swapped requests (they all run) and the
///    most urgent admission candidate (SchedulerView::candidates, which fixes the batch's
///    SLO: docs/design.md section 3.3.2);
///  - token budget S_b = the largest F <= max_budget_tokens whose worst-case iteration, every
///    pending decode plus (F - decodes) prefill tokens in one chunk at the largest context of
///    any ongoing prefill, is predicted to take <= (1 - slo_margin) x SLO*. Since the time only
///    grows with F, S_b >= S_p whenever the SLO allows S_p;
///  - a prefill chunk is the largest c <= what is left of the prompt and of the budget such
///    that the batch built so far, the decodes still to come and this chunk are predicted to
///    take <= (1 - slo_margin) x (tightest TBT SLO among them and this request). 0 = wait;
///  - a long prompt (num_tokens() > long_prompt_tokens) takes what decodes and short prompts
///    leave: its chunk also leaves the uncomputed tokens of running short prefills and of
///    short admission candidates more urgent than it (reserve_for_short_prompts; it still gets
///    at least min_prefill_tokens, so that it progresses), and at most max_long_prefills long
///    prompts prefill at once (a new one waits for a slot).
///     | decodes | short prompts | long-prompt chunk | <- S_b; predicted time <= SLO*
/// When no batch can meet the SLO (the decodes alone exceed it), prefills wait; a prefill
/// alone in an empty batch that cannot meet it still gets min_prefill_tokens, so that the
/// engine makes progress. With no TBT SLO anywhere the budget is max_budget_tokens.
///
/// Per-step state comes from the begin_step() and on_scheduled() hooks, which the scheduler
/// calls (kvsched/scheduler/scheduler.hpp); callers driving it by hand must call them too.
class SloDynamicChunker {
 public:
  SloDynamicChunkerConfig config{};

  /// Largest c in [0, hi] (tokens) such that `base` plus a prefill chunk of c tokens after
  /// `context` cached tokens is predicted to take <= slo_s. Returns 0 when even c = 1 does
  /// not fit (also when `base` alone does not). Binary search: O(log hi) model calls; needs
  /// only that the predicted time does not fall as c grows.
  [[nodiscard]] static std::int32_t max_chunk_within(const LatencyModel& lm, const BatchShape& base, std::int64_t context,
                                                     double slo_s, std::int32_t hi) {
    const auto fits = [&](std::int32_t c) {
      BatchShape b = base;
      b.add_prefill(c, context);
      return lm.iteration_s(b) <= slo_s;
    };
    if (hi <= 0 || !fits(1)) return 0;
    if (fits(hi)) return hi;
    std::int32_t lo = 1;  // fits
    while (hi - lo > 1) {  // invariant: fits(lo), !fits(hi)
      const std::int32_t mid = lo + (hi - lo) / 2;
      (fits(mid) ? lo : hi) = mid;
    }
    return lo;
  }

  /// Collects this step's SLO, pending decodes, ongoing long prefills and the short-prompt
  /// reserve, and computes the token budget. O(running + swapped + candidates).
  void begin_step(const SchedulerView& v) {
    constexpr double inf = std::numeric_limits<double>::infinity();
    scheduled_ = BatchShape{};
    pending_decodes_ = 0;
    pending_decode_ctx_ = 0;
    long_active_.clear();
    long_chunks_ = 0;
    running_short_.clear();
    short_cands_.clear();
    batch_slo_s_ = inf;
    std::int64_t worst_ctx = 0;
    const auto take = [&](const Request* r) {
      batch_slo_s_ = std::min(batch_slo_s_, tbt_slo_or_inf(*r));
      if (!r->is_prefilling()) {
        ++pending_decodes_;
        pending_decode_ctx_ += r->num_computed_tokens;
        return;
      }
      worst_ctx = std::max<std::int64_t>(worst_ctx, r->num_computed_tokens);
      if (is_long(*r)) long_active_.push_back(r->id());
      else if (r->state == RequestState::kRunning) running_short_.push_back({r->id(), r->num_uncomputed()});
    };
    for (const Request* r : v.running) take(r);
    for (const Request* r : v.swapped) take(r);
    step_slo_s_ = batch_slo_s_;
    if (!v.candidates.empty()) step_slo_s_ = std::min(step_slo_s_, tbt_slo_or_inf(*v.candidates.front()));
    if (config.reserve_for_short_prompts) step_cands_.assign(v.candidates.begin(), v.candidates.end());
    short_cands_ready_ = false;  // their deadlines are computed at the first long chunk (short_reserve)
    budget_ = compute_budget(v, worst_ctx);
  }

  /// S_b for this step (tokens); see the class comment. begin_step() must have run.
  [[nodiscard]] std::int32_t token_budget(const SchedulerView&) const { return budget_; }

  /// Chunk for a prefilling request with `uncomputed` tokens left (0 = not this step).
  [[nodiscard]] std::int32_t chunk(const Request& r, std::int32_t uncomputed, const SchedulerView& v) const {
    const std::int32_t room = v.token_budget_left - pending_decodes_;  // leave the decodes still to come their tokens
    std::int32_t limit = std::min(uncomputed, room);
    if (limit <= 0) return 0;
    if (is_long(r)) {
      const bool ongoing = std::find(long_active_.begin(), long_active_.end(), r.id()) != long_active_.end();
      if (long_chunks_ >= config.max_long_prefills) return 0;
      if (!ongoing && static_cast<std::int32_t>(long_active_.size()) >= config.max_long_prefills) return 0;
      if (config.reserve_for_short_prompts) {
        // Never below min_prefill_tokens: a reserved short prompt may not be admitted after all
        // (KV, max_num_seqs), and the long prompt must still progress.
        const std::int32_t floor = std::min(room, std::max(1, config.min_prefill_tokens));
        limit = std::min(limit, std::max(room - short_reserve(r, v), floor));
      }
    }
    const double slo = std::min(batch_slo_s_, tbt_slo_or_inf(r));
    if (slo == std::numeric_limits<double>::infinity()) return limit;
    const BatchShape base = with_pending_decodes();
    const std::int64_t context = r.num_tokens() - uncomputed;
    const std::int32_t c = max_chunk_within(*v.latency, base, context, (1.0 - config.slo_margin) * slo, limit);
    if (c == 0 && base.total_tokens() == 0) return std::min(limit, std::max(1, config.min_prefill_tokens));
    return c;
  }

  /// Records a request added to the batch (before its progress advances).
  void on_scheduled(const Request& r, std::int32_t tokens, const SchedulerView&) {
    batch_slo_s_ = std::min(batch_slo_s_, tbt_slo_or_inf(r));
    if (!r.is_prefilling()) {
      scheduled_.add_decode(r.num_computed_tokens);
      if (pending_decodes_ > 0) {
        --pending_decodes_;
        pending_decode_ctx_ = std::max<std::int64_t>(0, pending_decode_ctx_ - r.num_computed_tokens);
      }
      return;
    }
    scheduled_.add_prefill(tokens, r.num_computed_tokens);
    if (is_long(r)) {
      ++long_chunks_;
      if (std::find(long_active_.begin(), long_active_.end(), r.id()) == long_active_.end()) long_active_.push_back(r.id());
      return;
    }
    for (auto& [id, left] : running_short_)
      if (id == r.id()) left = 0;
  }

  /// Whether `r` counts as a long prompt (num_tokens() > long_prompt_tokens).
  [[nodiscard]] bool is_long(const Request& r) const { return r.num_tokens() > config.long_prompt_tokens; }
  /// Shape of the batch scheduled so far in this step.
  [[nodiscard]] const BatchShape& scheduled_shape() const { return scheduled_; }
  /// SLO* of this step (s, +inf = none): what the token budget was computed for.
  [[nodiscard]] double step_slo_s() const { return step_slo_s_; }

 private:
  struct ShortCandidate {
    double deadline_s;
    const Request* req;
  };

  [[nodiscard]] std::int32_t max_budget(const SchedulerView& v) const {
    return config.max_budget_tokens > 0 ? config.max_budget_tokens : v.engine->max_num_batched_tokens;
  }
  /// Pending decodes as one BatchShape (add_decode() only adds to these two fields).
  [[nodiscard]] BatchShape with_pending_decodes() const {
    BatchShape b = scheduled_;
    b.num_decodes += pending_decodes_;
    b.decode_context_tokens += pending_decode_ctx_;
    return b;
  }
  [[nodiscard]] std::int32_t compute_budget(const SchedulerView& v, std::int64_t worst_ctx) const {
    const std::int32_t cap = max_budget(v);
    if (step_slo_s_ == std::numeric_limits<double>::infinity()) return cap;
    const BatchShape base = with_pending_decodes();
    const std::int32_t prefill_room = std::max(0, cap - pending_decodes_);
    std::int32_t prefill = max_chunk_within(*v.latency, base, worst_ctx, (1.0 - config.slo_margin) * step_slo_s_, prefill_room);
    if (prefill == 0 && pending_decodes_ == 0) prefill = std::min(prefill_room, std::max(1, config.min_prefill_tokens));
    return std::min(cap, pending_decodes_ + prefill);
  }
  /// Tokens a long prompt leaves to short prompts: running short prefills not yet scheduled,
  /// plus short candidates more urgent than it that are still waiting.
  [[nodiscard]] std::int32_t short_reserve(const Request& r, const SchedulerView& v) const {
    std::int64_t reserve = 0;
    for (const auto& [id, left] : running_short_) reserve += left;
    if (!short_cands_ready_) {
      for (const Request* c : step_cands_)
        if (!is_long(*c)) short_cands_.push_back({start_deadline_s(*c, *v.latency), c});
      short_cands_ready_ = true;
    }
    if (!short_cands_.empty()) {
      const double mine = start_deadline_s(r, *v.latency);
      for (const auto& c : short_cands_)
        if (c.deadline_s < mine && c.req->state != RequestState::kRunning) reserve += c.req->num_uncomputed();
    }
    return static_cast<std::int32_t>(std::min<std::int64_t>(reserve, std::numeric_limits<std::int32_t>::max()));
  }

  std::int32_t budget_ = 0;
  double step_slo_s_ = std::numeric_limits<double>::infinity();
  double batch_slo_s_ = std::numeric_limits<double>::infinity();
  BatchShape scheduled_{};
  std::int32_t pending_decodes_ = 0;
  std::int64_t pending_decode_ctx_ = 0;
  std::vector<RequestId> long_active_;                           // long prompts prefilling (at step start or admitted since)
  std::int32_t long_chunks_ = 0;                                 // long chunks in this step's batch
  std::vector<std::pair<RequestId, std::int32_t>> running_short_;  // running short prefills: (id, uncomputed tokens not yet scheduled)
  // Short admission candidates with their start deadlines, collected from the step's
  // candidates at the first long chunk: most steps have none, and the deadlines cost a model call each.
  std::vector<const Request*> step_cands_;  // the step's candidates as begin_step() saw them (the batch selector reorders and filters the list)
  mutable std::vector<ShortCandidate> short_cands_;
  mutable bool short_cands_ready_ = false;
};
static_assert(DynamicChunker<SloDynamicChunker> && ChunkerBeginStep<SloDynamicChunker> && ChunkerOnScheduled<SloDynamicChunker>);

}  // namespace kvsched
