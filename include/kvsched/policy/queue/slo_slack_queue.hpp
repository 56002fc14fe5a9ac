// kvsched/policy/queue/slo_slack_queue.hpp: AccelGen's iteration-level SLO-based
// prioritisation (AccelGen section 3.2, docs/design.md section 3.3.2), kept incrementally.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "kvsched/policy/common/slo_priority.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Parameters of SloSlackQueue.
struct SloSlackQueueConfig {
  double similar_ratio = 1.5;        // rho: TBT SLOs within this factor of the anchor's are "similar" (ours, default 1.5)
  std::size_t max_candidates = 64;   // admission candidates handed out per step (ours): bounds the work per iteration
  std::size_t candidates_per_free_seat = 0;  // > 0: at most this many candidates per seat free under max_num_seqs
                                     // (running and swapped requests hold seats), at least one: ranking 64 for
                                     // one seat is wasted work (ours; 0 = always max_candidates)
  bool head_of_line_blocking = false;  // stop admitting at the first candidate that does not fit (vLLM) or skip it
  bool returning_first = true;       // requests preempted after producing output go before new ones (ours, as vLLM
                                     // and CacheOPT's queue do): under overload every waiting new request is
                                     // overdue, and slack order alone would leave a stalled stream behind them all
  bool late_last = false;            // new requests past their start deadline (they can no longer meet their
                                     // TTFT SLO) go after every on-time one (ours; kvsched's flagship)
  double starvation_s = 60.0;        // with late_last: a request more than this past its deadline goes first
                                     // again (s), so that none is passed over for ever (ours)
  bool shortest_first = false;       // with late_last: on-time new requests by predicted work (prompt + the
                                     // estimator's expected output, at enqueue), least first, instead of by
                                     // slack (ours; learning-to-rank schedulers' order, bounded by starvation_s)
  double urgent_fraction = 0.0;      // with shortest_first: on-time new requests whose slack (start deadline - now)
                                     // is below this fraction of their TTFT SLO go before the others, by slack, so
                                     // that a long request is not passed over until it is late (ours; 0 = none)
  std::size_t max_urgent = 4;        // more urgent requests than this = overload: no urgent band, shortest first for
                                     // all (ours: deadline order under overload lets one miss make the next miss too)
};

/// Orders requests by remaining slack (start_deadline_s() - now): the most urgent first.
///
/// Waiting requests: returning ones (preempted after producing output) first, by slack
/// (returning_first); then new ones, whose most urgent (the anchor) fixes the batch's SLO,
/// handed out in three groups, each by slack: TBT SLO similar to the anchor's (within
/// `similar_ratio`, anchor included), looser ones (they do not shrink the anchor's token
/// budget), and tighter ones last (docs/design.md section 3.3.2).
///   waiting, by deadline:   A(0.10) B(0.50) C(0.12) D(0.05) E(0.11)     anchor A, rho 1.5
///   candidates:             A C E | B | D
///
/// With `late_last` (ours), new requests are handed out in three bands, each as above (groups
/// around its own anchor, by slack): starved ones (deadline < now - starvation_s), on-time ones
/// (deadline >= now), then late ones (in between), so that a request that can still meet its
/// TTFT SLO is not made to miss it behind one that cannot; nothing waits more than
/// starvation_s past its deadline behind an on-time request.
///   now 10, starvation 5; deadlines A(3) B(8) C(11) D(12)  ->  A | C D | B
/// With `shortest_first` as well, the on-time band is ordered by predicted work instead, but
/// its urgent requests (slack below urgent_fraction x their TTFT SLO) come first, by slack,
/// unless there are more than max_urgent of them (overload: then none is urgent):
///   now 10, TTFT 4, urgent_fraction 0.5; on time C(11, work 900) D(12, 50) E(15, 300) ->  C | D E
///
/// Kept incrementally (an IncrementalQueue): per tier (returning, new), one set per distinct
/// TBT SLO, sorted by the start deadline, which does not change while a request waits. Enqueue and dequeue cost
/// O(log n); candidates() costs O(B log n + max_candidates x log B) for B distinct TBT SLOs
/// (a heap merge of the buckets' heads), never a sort of the whole queue.
///
/// Running requests (order_running): decodes first, then ongoing prefills by slack, so that a
/// long prompt's chunk takes what decodes leave (docs/design.md section 3.3.1). Decodes are
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
    const std::uint8_t tier = config.returning_first && r.num_generated > 0 ? 0 : 1;
    auto [it, fresh] = tiers_[tier].try_emplace(key);
    if (fresh) it->second.tbt_s = tbt;
    it->second.entries.insert({deadline, r.id(), &r});
    const double work = static_cast<double>(r.spec.prompt_tokens) + v.estimate(r).point;
    where_[r.id()] = {tier, key, deadline, work};
    if (tier == 1) by_work_.insert({work, r.id(), &r, deadline});
    max_ttft_s_ = std::max(max_ttft_s_, r.spec.slo.ttft_s);
    ++size_;
  }

  /// A request left the waiting queue (admitted, aborted). Unknown ids are ignored.
  void on_dequeue(const Request& r) {
    auto w = where_.find(r.id());
    if (w == where_.end()) return;
    auto& buckets = tiers_[w->second.tier];
    auto b = buckets.find(w->second.bucket);
    b->second.entries.erase({w->second.deadline_s, r.id(), nullptr});
    if (b->second.entries.empty()) buckets.erase(b);
    if (w->second.tier == 1) by_work_.erase({w->second.work, r.id(), nullptr, 0.0});
    where_.erase(w);
    --size_;
  }

  /// Fills `out` with at most config.max_candidates waiting requests (fewer with
  /// candidates_per_free_seat) in admission order:
  /// returning ones by slack, then new ones: similar-SLO group, looser group, tighter group,
  /// each by slack (with late_last: by band, see the class comment).
  void candidates(std::vector<Request*>& out, const SchedulerView& v) {
    out.clear();
    heads_.clear();
    limit_ = candidate_limit(v);
    for (auto& [key, b] : tiers_[0]) heads_.push_back({b.entries.begin(), b.entries.end()});
    merge_heads(out);
    const auto& fresh = tiers_[1];
    if (fresh.empty()) return;
    if (!config.late_last) {
      append_band(out, fresh, -kInf, kInf);
      return;
    }
    const double starved = v.now_s - config.starvation_s;
    append_band(out, fresh, -kInf, starved);
    if (config.shortest_first) {
      append_urgent(out, v.now_s);
      append_on_time_by_work(out, v.now_s);
    } else {
      append_band(out, fresh, v.now_s, kInf);
    }
    append_band(out, fresh, starved, v.now_s);
  }

  /// Number of waiting requests held.
  [[nodiscard]] std::size_t size() const { return size_; }

  /// Full ordering of `reqs` (the same order candidates() gives, unbounded), for callers that
  /// drive the queue without the incremental hooks. Sorts: O(n log n).
  void order_waiting(std::vector<Request*>& reqs, const SchedulerView& v) const {
    if (reqs.empty()) return;
    keyed_.clear();
    const auto tier = [&](const Request* r) { return config.returning_first && r->num_generated > 0 ? 0 : 1; };
    const auto before = [](const std::pair<double, Request*>& a, const std::pair<double, Request*>& b) {
      return a.first != b.first ? a.first < b.first : a.second->id() < b.second->id();
    };
    const std::pair<double, Request*>* anchor = nullptr;
    for (Request* r : reqs) keyed_.push_back({start_deadline_s(*r, *v.latency), r});
    for (const auto& k : keyed_)
      if (tier(k.second) == 1 && (!anchor || before(k, *anchor))) anchor = &k;
    const double anchor_tbt = anchor ? tbt_slo_or_inf(*anchor->second) : 0.0;
    const auto rank = [&](const Request* r) {
      return tier(r) == 0 ? 0 : 1 + static_cast<int>(slo_group(tbt_slo_or_inf(*r), anchor_tbt, config.similar_ratio));
    };
    std::sort(keyed_.begin(), keyed_.end(), [&](const auto& a, const auto& b) {
      const int ra = rank(a.second), rb = rank(b.second);
      return ra != rb ? ra < rb : before(a, b);
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

  using Buckets = std::map<std::int64_t, Bucket>;  // by TBT SLO, tightest first
  struct Where {
    std::uint8_t tier;      // 0 = returning, 1 = new
    std::int64_t bucket;    // tbt_key
    double deadline_s;
    double work;            // prompt + expected output at enqueue (tokens)
  };
  struct WorkEntry {
    double work;
    RequestId id;
    Request* req;
    double deadline_s;
    bool operator<(const WorkEntry& o) const { return work != o.work ? work < o.work : id < o.id; }
  };
  /// Candidates handed out this step: max_candidates, or candidates_per_free_seat per seat
  /// free (at least 1).
  [[nodiscard]] std::size_t candidate_limit(const SchedulerView& v) const {
    if (config.candidates_per_free_seat == 0 || v.engine == nullptr) return config.max_candidates;
    const std::int64_t held = static_cast<std::int64_t>(v.running.size() + v.swapped.size());
    const std::int64_t free = std::max<std::int64_t>(0, v.engine->max_num_seqs - held);
    const auto per_seat = static_cast<std::int64_t>(config.candidates_per_free_seat);
    return std::min(config.max_candidates, static_cast<std::size_t>(std::max<std::int64_t>(1, per_seat * free)));
  }
  /// Whether an on-time new request with start deadline `deadline_s` is urgent at `now`.
  [[nodiscard]] bool urgent(const Request& r, double deadline_s, double now) const {
    return deadline_s - now < config.urgent_fraction * r.spec.slo.ttft_s;
  }
  /// Appends the urgent on-time new requests (urgent()), by deadline, or none when more than
  /// max_urgent are. Scans each TBT bucket's entries with deadlines in [now, now +
  /// urgent_fraction x the largest TTFT SLO enqueued): O(B + those entries), which is the
  /// urgent ones alone when every request has the same TTFT SLO.
  void append_urgent(std::vector<Request*>& out, double now) {
    urgent_.clear();
    if (config.urgent_fraction <= 0.0) return;
    for (const auto& [key, b] : tiers_[1]) {
      for (auto it = from(b, now); it != b.entries.end() && it->deadline_s - now < config.urgent_fraction * max_ttft_s_; ++it) {
        if (urgent(*it->req, it->deadline_s, now)) urgent_.push_back(*it);
        if (urgent_.size() > config.max_urgent) break;
      }
    }
    if (urgent_.size() > config.max_urgent) {
      urgent_.clear();
      return;
    }
    std::sort(urgent_.begin(), urgent_.end());
    for (const Entry& e : urgent_) {
      if (out.size() >= limit_) return;
      out.push_back(e.req);
    }
  }
  /// Appends on-time new requests (deadline >= now; not urgent, those went first) by predicted
  /// work, least first; scans at most 4 x max_candidates entries of the work order, so that a
  /// queue of late requests costs O(max_candidates) per step.
  void append_on_time_by_work(std::vector<Request*>& out, double now) {
    std::size_t scanned = 0;
    for (auto it = by_work_.begin(); it != by_work_.end() && out.size() < limit_; ++it) {
      if (++scanned > 4 * config.max_candidates) break;
      if (it->deadline_s >= now && !(!urgent_.empty() && urgent(*it->req, it->deadline_s, now))) out.push_back(it->req);
    }
  }

  /// Buckets are keyed by TBT SLO in whole microseconds (+inf = no SLO, last).
  static std::int64_t tbt_key(double tbt_s) {
    return std::isinf(tbt_s) ? std::numeric_limits<std::int64_t>::max() : std::llround(tbt_s * 1e6);
  }
  static constexpr double kInf = std::numeric_limits<double>::infinity();
  /// First entry of `b` with deadline >= t.
  static std::set<Entry>::const_iterator from(const Bucket& b, double t) {
    return t == -kInf ? b.entries.begin() : b.entries.lower_bound({t, 0, nullptr});
  }
  /// Appends the new requests with deadline in [lo, hi): grouped around the band's anchor (its
  /// most urgent one) into similar, looser and tighter TBT SLO, each by deadline.
  void append_band(std::vector<Request*>& out, const Buckets& fresh, double lo, double hi) {
    band_.clear();  // each bucket's [lo, hi) range, found once: two lookups per bucket
    const Entry* anchor = nullptr;
    double anchor_tbt = 0.0;
    for (const auto& [key, b] : fresh) {
      const Head h{from(b, lo), hi == kInf ? b.entries.end() : from(b, hi)};
      if (h.first == h.second) continue;
      band_.push_back({h, b.tbt_s});
      if (!anchor || *h.first < *anchor) anchor = &*h.first, anchor_tbt = b.tbt_s;
    }
    if (!anchor) return;
    for (SloGroup g : {SloGroup::kSimilar, SloGroup::kLooser, SloGroup::kTighter}) {
      if (out.size() >= limit_) return;
      heads_.clear();
      for (const auto& [h, tbt] : band_)
        if (slo_group(tbt, anchor_tbt, config.similar_ratio) == g) heads_.push_back(h);
      merge_heads(out);
    }
  }
  /// Appends the merge (by deadline) of heads_ to out, up to max_candidates: a min-heap of
  /// the heads, O(B + K log B) for B buckets and K requests handed out.
  void merge_heads(std::vector<Request*>& out) {
    std::erase_if(heads_, [](const Head& h) { return h.first == h.second; });
    const auto later = [](const Head& a, const Head& b) { return *b.first < *a.first; };
    std::make_heap(heads_.begin(), heads_.end(), later);
    while (!heads_.empty() && out.size() < limit_) {
      std::pop_heap(heads_.begin(), heads_.end(), later);
      Head& h = heads_.back();
      out.push_back(h.first->req);
      if (++h.first == h.second) heads_.pop_back();
      else std::push_heap(heads_.begin(), heads_.end(), later);
    }
  }

  std::set<WorkEntry> by_work_;                                              // new requests by predicted work
  std::array<Buckets, 2> tiers_;                                             // [0] returning, [1] new
  absl::flat_hash_map<RequestId, Where> where_;                                   // id -> its entry
  std::size_t size_ = 0;
  std::size_t limit_ = 0;                                                    // this step's candidate_limit()
  double max_ttft_s_ = 0.0;                                                  // largest TTFT SLO enqueued (s)
  std::vector<Entry> urgent_;                                                // scratch for append_urgent()
  std::vector<Head> heads_;                                                  // scratch for candidates()
  std::vector<std::pair<Head, double>> band_;                                // scratch for append_band(): range, TBT SLO
  mutable std::vector<std::pair<double, Request*>> keyed_;                   // scratch for order_waiting()
};
static_assert(QueuePolicy<SloSlackQueue> && IncrementalQueue<SloSlackQueue>);

}  // namespace kvsched
