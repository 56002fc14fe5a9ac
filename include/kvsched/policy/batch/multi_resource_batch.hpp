// kvsched/policy/batch/multi_resource_batch.hpp: AccelGen's multi-resource-aware batching
// (AccelGen section 3.3, docs/design.md section 3.3.3).
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "kvsched/core/types.hpp"
#include "kvsched/policy/common/slo_priority.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Parameters of MultiResourceBatch.
struct MultiResourceBatchConfig {
  double similar_ratio = 1.5;                // rho: same grouping as SloSlackQueue (group 0 = similar to the first candidate)
  std::size_t window = 16;                   // candidates of a group weighed at once, in priority order (ours)
  bool subtract_running_growth = true;       // free KV = available() minus the expected growth of running and swapped requests (ours)
  bool drop_kv_infeasible = true;            // leave out candidates whose KV demand exceeds the free KV (else: put them last)
  bool protect_overdue_anchor = false;       // an overdue anchor that does not fit the KV blocks other admissions (ours)
  double protect_urgent_fraction = 0.0;      // with it: also an anchor whose slack is below this fraction of its TTFT SLO
  bool count_expected_output = true;         // k counts prompt + expected output; false: the current sequence only
                                             // (vLLM v1's full-prompt gate; kvsched_no_fit's ablation)
};

/// One admission candidate as the selector weighs it.
struct ResourceDemand {
  std::int64_t compute_tokens = 0;  // f: prompt tokens still to prefill (tokens)
  std::int64_t kv_blocks = 0;       // k: blocks the request is expected to hold at its end (blocks)
};

/// Chooses, among admission candidates already in priority order, those that fill both the
/// iteration's token budget and the free KV cache.
///
/// Each candidate needs compute f (its uncomputed prompt tokens) and KV k (blocks of prompt +
/// expected output, the bundle's estimator's point estimate through SchedulerView::estimate():
/// the true length in the oracle preset). Free capacity: F = the token budget left after the
/// running requests, K = available() blocks minus the expected growth of running and swapped
/// requests. Order of the result (docs/design.md section 3.3.3, the greedy is ours):
///  1. the first candidate (the most urgent: it fixes the batch's SLO), and every returning
///     candidate (preempted after producing output; the queue puts them first), in order;
///  2. group by group (similar TBT SLO to the first, then the rest, as the queue ordered
///     them): repeatedly, among the next `window` candidates of the group that fit whole in
///     both residuals, the one whose normalised demand (f/F0, k/K0) points most nearly the
///     way of the normalised residual (F/F0, K/K0) (largest cosine, ties to the larger f), so
///     that what is left of both resources shrinks together rather than one alone;
///  3. candidates that fit the KV but not whole in the token budget (long prompts: the chunker
///     gives them what is left), in priority order;
///  4. candidates whose KV demand exceeds the free KV are dropped (or, without
///     drop_kv_infeasible, put last). Nothing is dropped while no request is running.
/// Optionally (protect_overdue_anchor, ours, off by default: in kvsched-sim runs of
/// examples/workloads/mixed_slo.json it cost goodput), an anchor whose slack is below
/// protect_urgent_fraction x its TTFT SLO (0: past its start deadline) and whose KV demand
/// does not fit blocks the step's admissions: nothing is admitted (with drop_kv_infeasible)
/// or only the anchor is tried (without: the allocator decides), so that smaller requests may
/// not take the KV it waits for (backfilling's reservation rule). kvsched's flagship sets both,
/// with SloSlackQueue's urgent band handing it the urgent anchor.
///   F0 = 100, K0 = 100, candidates (f, k): A(90, 30) B(50, 50) C(50, 50)
///   compute-only greedy (largest f): A               -> F 90%,  K 30%
///   multi-resource:                  B, C             -> F 100%, K 100%
/// Cost: O(candidates x window) plus O(running + swapped) for the KV growth. Estimates are
/// cached per request (ours): one estimator call when a request is first weighed, again only
/// once it outlives its estimate, so that a costly estimator (HistoryEstimator: ~0.1 us a call)
/// is not asked 256 times per step.
class MultiResourceBatch {
 public:
  static constexpr bool reorders = true;
  MultiResourceBatchConfig config{};

  /// Expected total output of a request (tokens), as the KV demand counts it: the estimator's
  /// point estimate (cached; re-asked once the request has produced that many tokens), in
  /// [generated + 1, max_tokens].
  [[nodiscard]] std::int32_t expected_output(const Request& r, const SchedulerView& v) const {
    auto it = expected_.find(r.id());
    if (it == expected_.end() || it->second <= r.num_generated) {
      const auto point = static_cast<std::int32_t>(std::min<double>(v.estimate(r).point, r.spec.max_tokens));
      it = expected_.insert_or_assign(r.id(), std::max(point, r.num_generated + 1)).first;
    }
    return std::min(it->second, std::max(1, r.spec.max_tokens));
  }
  /// Demand of a waiting candidate. The last output token is sampled, never stored.
  [[nodiscard]] ResourceDemand demand(const Request& r, const SchedulerView& v) const {
    if (!config.count_expected_output) return {r.num_uncomputed(), blocks_for_tokens(r.num_tokens(), v.blocks->block_size())};
    const std::int64_t final_tokens =
        std::max<std::int64_t>(r.num_tokens(), static_cast<std::int64_t>(r.spec.prompt_tokens) + expected_output(r, v) - 1);
    return {r.num_uncomputed(), blocks_for_tokens(final_tokens, v.blocks->block_size())};
  }
  /// Free KV for new requests (blocks): available() minus the blocks running and swapped
  /// requests are expected to add before they finish (when subtract_running_growth).
  [[nodiscard]] std::int64_t free_kv_blocks(const SchedulerView& v) const {
    std::int64_t free = v.blocks->available();
    if (!config.subtract_running_growth) return free;
    const std::int32_t bs = v.blocks->block_size();
    const auto growth = [&](const Request* r) {
      const std::int64_t final_tokens = static_cast<std::int64_t>(r->spec.prompt_tokens) + expected_output(*r, v) - 1;
      return std::max<std::int64_t>(0, blocks_for_tokens(final_tokens, bs) - blocks_for_tokens(r->num_computed_tokens, bs));
    };
    for (const Request* r : v.running) free -= growth(r);
    for (const Request* r : v.swapped) free -= growth(r);
    return free;
  }

  /// Reorders (and filters) `cands`, in priority order on entry; see the class comment.
  void select(std::vector<Request*>& cands, const SchedulerView& v) const {
    if (cands.empty() || v.token_budget_left <= 0) return;
    prune_cache(v, cands.size());
    const bool may_drop = config.drop_kv_infeasible && !(v.running.empty() && v.swapped.empty());
    items_.clear();
    for (Request* r : cands) items_.push_back({r, demand(*r, v), false});
    const double f0 = v.token_budget_left;
    const std::int64_t k_free = free_kv_blocks(v);
    const double k0 = static_cast<double>(std::max<std::int64_t>(1, k_free));
    double f_res = f0, k_res = static_cast<double>(k_free);
    out_.clear();
    tail_.clear();
    dropped_.clear();
    const auto fits_kv = [&](const Item& it) { return static_cast<double>(it.d.kv_blocks) <= k_res; };
    const auto take = [&](Item& it) {
      it.done = true;
      out_.push_back(it.req);
      f_res -= std::min<double>(f_res, static_cast<double>(it.d.compute_tokens));
      k_res -= static_cast<double>(it.d.kv_blocks);
    };
    // 1. The anchor.
    if (!fits_kv(items_[0]) && config.protect_overdue_anchor && !(v.running.empty() && v.swapped.empty()) &&
        start_deadline_s(*items_[0].req, *v.latency) < v.now_s + config.protect_urgent_fraction * items_[0].req->spec.slo.ttft_s) {
      // The selector is the KV gate when it drops: admit nothing. Otherwise the allocator is
      // (CacheOPT's may embed the anchor in another request's reservation): only the anchor.
      if (may_drop) cands.clear();
      else cands.assign(1, items_[0].req);
      return;
    }
    if (fits_kv(items_[0]) || !may_drop) take(items_[0]);
    for (std::size_t i = 1; i < items_.size() && items_[i].req->num_generated > 0 && f_res >= 1.0; ++i)
      if (fits_kv(items_[i]) || !may_drop) take(items_[i]);
    // 2. Best fit within each SLO group.
    const double anchor_tbt = tbt_slo_or_inf(*items_[0].req);
    for (int pass = 0; pass < 2; ++pass) {
      const auto in_group = [&](const Item& it) {
        const bool similar = slo_group(tbt_slo_or_inf(*it.req), anchor_tbt, config.similar_ratio) == SloGroup::kSimilar;
        return pass == 0 ? similar : !similar;
      };
      while (f_res >= 1.0) {
        Item* best = nullptr;
        double best_score = 0.0;
        std::size_t seen = 0;
        const double rf = f_res / f0, rk = std::max(0.0, k_res) / k0;
        for (Item& it : items_) {
          if (it.done || !in_group(it)) continue;
          if (seen++ == config.window) break;
          const double f = static_cast<double>(it.d.compute_tokens), k = static_cast<double>(it.d.kv_blocks);
          if (f > f_res || k > k_res) continue;
          const double df = f / f0, dk = k / k0;
          const double norm = std::sqrt(df * df + dk * dk) * std::sqrt(rf * rf + rk * rk);
          const double score = norm > 0.0 ? (df * rf + dk * rk) / norm : 0.0;
          if (!best || score > best_score + 1e-12 ||
              (score > best_score - 1e-12 && it.d.compute_tokens > best->d.compute_tokens))
            best = &it, best_score = score;
        }
        if (!best) break;
        take(*best);
      }
    }
    // 3./4. The rest, in priority order: chunkable ones that fit the KV, then the KV-infeasible.
    for (Item& it : items_) {
      if (it.done) continue;
      (fits_kv(it) || !may_drop ? tail_ : dropped_).push_back(it.req);
    }
    cands.assign(out_.begin(), out_.end());
    cands.insert(cands.end(), tail_.begin(), tail_.end());
    if (!config.drop_kv_infeasible) cands.insert(cands.end(), dropped_.begin(), dropped_.end());
  }

 private:
  struct Item {
    Request* req;
    ResourceDemand d;
    bool done;
  };
  /// Forgets cached estimates of requests that are gone once the cache holds many more
  /// entries than there are live requests in view.
  void prune_cache(const SchedulerView& v, std::size_t num_cands) const {
    const std::size_t live = v.running.size() + v.swapped.size() + num_cands;
    if (expected_.size() <= 4 * live + 1024) return;
    absl::flat_hash_map<RequestId, std::int32_t> keep;
    const auto carry = [&](const Request* r) {
      if (auto it = expected_.find(r->id()); it != expected_.end()) keep.emplace(*it);
    };
    for (const Request* r : v.running) carry(r);
    for (const Request* r : v.swapped) carry(r);
    for (const Request* r : v.candidates) carry(r);
    expected_.swap(keep);
  }

  mutable std::vector<Item> items_;
  mutable std::vector<Request*> out_, tail_, dropped_;
  mutable absl::flat_hash_map<RequestId, std::int32_t> expected_;  // id -> expected total output (tokens)
};

}  // namespace kvsched
