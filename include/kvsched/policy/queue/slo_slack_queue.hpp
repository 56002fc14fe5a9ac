// kvsched/policy/queue/slo_slack_queue.hpp: AccelGen's iteration-level SLO-based
// prioritisation (AccelGen section 3.2, design.md section 3.3.2), kept incrementally.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kvsched/policy/queue/slo_priority.hpp"
#include "kvsched/scheduler/scheduler_view.hpp"

namespace kvsched {

/// Parameters of SloSlackQueue.
struct SloSlackQueueConfig {
  double similar_ratio = 1.5;        // rho: TBT SLOs within this factor of the anchor's are "similar" (ours, default 1.5)
  std::size_t max_candidates = 64;   // admission candidates handed out per step (ours): bounds the work per iteration
  bool head_of_line_blocking = false;  // stop admitting at the first candidate that does not fit (vLLM) or skip it
};

/// Orders requests by remaining slack (start_deadline_s() - now): the most urgent first.
///
/// Waiting requests: the most urgent one (the anchor) fixes the batch's SLO; candidates are
/// then handed out in three groups, each by slack: TBT SLO similar to the anchor's (within
/// `similar_ratio`, anchor included), looser ones (they do not shrink the anchor's token
/// budget), and tighter ones last (design.md section 3.3.2).
///   waiting, by deadline:   A(0.10) B(0.50) C(0.12) D(0.05) E(0.11)     anchor A, rho 1.5
///   candidates:             A C E | B | D
///
/// Kept incrementally (an IncrementalQueue): one set per distinct TBT SLO, sorted by the start
/// deadline, which does not change while a request waits. Enqueue and dequeue cost
/// O(log n); candidates() costs O(max_candidates x number of distinct TBT SLOs), never a
/// sort of the whole queue.
///
/// Running requests (order_running): decodes first, then ongoing prefills by slack, so that a
/// long prompt's chunk takes what decodes leave (design.md section 3.3.1). Decodes are
/// ordered by slack only when they cannot all run this step (budget or max_num_seqs).
class SloSlackQueue {
 public:
  static constexpr bool reorders_waiting = true;
  SloSlackQueueConfig config{};

  /// A request entered the waiting queue (arrival or recompute preemption).
  void on_enqueue(Request& r, const SchedulerView& v) {
    on_dequeue(r);  // re-entry: drop a stale entry, if any
    const double tbt = tbt_slo_or_inf(r);
    const std::int64_t key = tbt_key(tbt);
    const double deadline = start_deadline_s(r, *v.latency);
    auto [it, fresh] = buckets_.try_emplace(key);
    if (fresh) it->second.tbt_s = tbt;
    it->second.entries.insert({deadline, r.id(), &r});
    where_[r.id()] = {key, deadline};
    ++size_;
  }

  /// A request left the waiting queue (admitted, aborted). Unknown ids are ignored.
  void on_dequeue(const Request& r) {
    auto w = where_.find(r.id());
    if (w == where_.end()) return;
    auto b = buckets_.find(w->second.first);
    b->second.entries.erase({w->second.second, r.id(), nullptr});
    if (b->second.entries.empty()) buckets_.erase(b);
    where_.erase(w);
    --size_;
  }

  /// Fills `out` with at most config.max_candidates waiting requests in admission order:
  /// similar-SLO group, looser group, tighter group, each by slack.
  void candidates(std::vector<Request*>& out, const SchedulerView&) {
    out.clear();
    if (buckets_.empty()) return;
    const double anchor_tbt = anchor_bucket()->second.tbt_s;
    for (SloGroup g : {SloGroup::kSimilar, SloGroup::kLooser, SloGroup::kTighter}) {
      heads_.clear();
      for (auto& [key, b] : buckets_)
        if (slo_group(b.tbt_s, anchor_tbt, config.similar_ratio) == g) heads_.push_back({b.entries.begin(), b.entries.end()});
      merge_heads(out);
      if (out.size() >= config.max_candidates) return;
    }
  }

  /// Number of waiting requests held.
  [[nodiscard]] std::size_t size() const { return size_; }

  /// Full ordering of `reqs` (the same order candidates() gives, unbounded), for callers that
  /// drive the queue without the incremental hooks. Sorts: O(n log n).
  void order_waiting(std::vector<Request*>& reqs, const SchedulerView& v) const {
    if (reqs.empty()) return;
    keyed_.clear();
    for (Request* r : reqs) keyed_.push_back({start_deadline_s(*r, *v.latency), r});
    const auto anchor = std::min_element(keyed_.begin(), keyed_.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first < b.first : a.second->id() < b.second->id();
    });
    const double anchor_tbt = tbt_slo_or_inf(*anchor->second);
    std::sort(keyed_.begin(), keyed_.end(), [&](const auto& a, const auto& b) {
      const auto ga = slo_group(tbt_slo_or_inf(*a.second), anchor_tbt, config.similar_ratio);
      const auto gb = slo_group(tbt_slo_or_inf(*b.second), anchor_tbt, config.similar_ratio);
      if (ga != gb) return ga < gb;
      if (a.first != b.first) return a.first < b.first;
      return a.second->id() < b.second->id();
    });
    for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i] = keyed_[i].second;
  }

  void order_running(std::vector<Request*>& running, const SchedulerView& v) const {
    const auto mid = std::stable_partition(running.begin(), running.end(), [](const Request* r) { return !r->is_prefilling(); });
    const auto by_deadline = [&](const Request* a, const Request* b) {
      const double da = start_deadline_s(*a, *v.latency), db = start_deadline_s(*b, *v.latency);
      return da != db ? da < db : a->id() < b->id();
    };
    const auto decodes = mid - running.begin();
    const std::int64_t room = std::min<std::int64_t>(v.token_budget_left, v.engine->max_num_seqs);
    if (decodes > room) std::sort(running.begin(), mid, by_deadline);
    std::sort(mid, running.end(), by_deadline);
  }

  [[nodiscard]] bool head_of_line_blocking() const { return config.head_of_line_blocking; }

 private:
  struct Entry {
    double deadline_s;  // start deadline (s)
    RequestId id;
    Request* req;
    bool operator<(const Entry& o) const { return deadline_s != o.deadline_s ? deadline_s < o.deadline_s : id < o.id; }
  };
  struct Bucket {
    double tbt_s = 0.0;  // TBT SLO of every request in it (s), +inf = none
    std::set<Entry> entries;
  };
  using Head = std::pair<std::set<Entry>::const_iterator, std::set<Entry>::const_iterator>;

  /// Buckets are keyed by TBT SLO in whole microseconds (+inf = no SLO, last).
  static std::int64_t tbt_key(double tbt_s) {
    return std::isinf(tbt_s) ? std::numeric_limits<std::int64_t>::max() : std::llround(tbt_s * 1e6);
  }
  std::map<std::int64_t, Bucket>::const_iterator anchor_bucket() const {
    auto best = buckets_.begin();
    for (auto it = buckets_.begin(); it != buckets_.end(); ++it)
      if (*it->second.entries.begin() < *best->second.entries.begin()) best = it;
    return best;
  }
  /// Appends the merge (by deadline) of heads_ to out, up to max_candidates.
  void merge_heads(std::vector<Request*>& out) {
    while (out.size() < config.max_candidates) {
      Head* best = nullptr;
      for (Head& h : heads_)
        if (h.first != h.second && (!best || *h.first < *best->first)) best = &h;
      if (!best) return;
      out.push_back(best->first->req);
      ++best->first;
    }
  }

  std::map<std::int64_t, Bucket> buckets_;                                   // by TBT SLO, tightest first
  std::unordered_map<RequestId, std::pair<std::int64_t, double>> where_;    // id -> (bucket, deadline)
  std::size_t size_ = 0;
  std::vector<Head> heads_;                                                  // scratch for candidates()
  mutable std::vector<std::pair<double, Request*>> keyed_;                   // scratch for order_waiting()
};

}  // namespace kvsched
