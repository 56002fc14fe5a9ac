// kvsched/policy/queue/slack_queue.hpp: waiting and running requests ordered by SLO slack
// (CacheOPT, docs/design.md section 3.2.5).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kvsched/policy/common/slo_slack.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

struct SlackQueueConfig {
  bool returning_first = true;  // requests that already produced tokens go before new ones (ours;
                                // vLLM also puts preempted requests back at the front)
  bool hol_blocking = true;     // stop admitting at the first request that does not fit (ours:
                                // keeps the most urgent from starving behind smaller ones)
  bool order_running = true;    // running requests: critical decodes first (false: admission order)
  bool full_running_sort = false;  // running requests fully sorted by slack (O(n log n) a step) (ours)
  std::int32_t max_ordered = 64;  // put at most this many + 1 waiting requests in order per step,
                                  // 0 = as many as may be admitted (ours: bounds the cost)
};

/// Queue policy of CacheOPT. Waiting requests: returning ones (preempted after producing
/// output) by TBT slack, then new ones by TTFT slack (slo_slack.hpp). Running requests:
/// critical decodes (slack <= kappa x largest iteration time, kappa of the bundle's
/// CriticalConfig, SchedulerView::rules()) first, by slack, the rest in
/// admission order (ours: O(n) a step, and prefill chunks never jump ahead of decodes, since a
/// chunk takes the token budget; full_running_sort sorts them all by slack), so the most
/// urgent grow first and the least urgent are left as preemption candidates.
/// Slack = deadline - now with a deadline fixed while a request waits, so sorting by deadline
/// (ties: queue position) is sorting by slack.
/// Inside Scheduler the waiting queue is kept in waiting_key() order as requests enter it
/// (O(log n) per insertion), so no per-step work is spent on it. Cost of a direct
/// order_waiting() call: O(n) to compute keys and detect an already sorted queue (the common
/// case: one SLO class, FCFS arrivals); otherwise, with head-of-line blocking, only the first
/// k + 1 are put in order (nth_element + sort, O(n + k log k)), where k = the admissions
/// still possible (min(seqs_left, max_num_seqs - running)) capped at max_ordered, since
/// admission stops at the first failure; nothing at all when k = 0. Without head-of-line
/// blocking, a full sort. Requests beyond the ordered prefix keep their incoming order.
class SlackQueue {
 public:
  /// The scheduler keeps waiting requests sorted by waiting_key() as they enter the queue, so
  /// it need not call order_waiting() every step.
  static constexpr bool reorders_waiting = false;
  SlackQueueConfig config{};

  SlackQueue() = default;
  explicit SlackQueue(SlackQueueConfig c) : config(c) {}

  /// Sort key of a waiting request: (returning before new, next-token deadline). Fixed while
  /// the request waits; the scheduler inserts waiting requests in this order (ties: FIFO).
  struct WaitingKey {
    int cls = 0;            // 0 = returning (already produced output), 1 = new
    double deadline = 0.0;  // next_token_deadline_s (s)
    bool operator<(const WaitingKey& o) const { return cls != o.cls ? cls < o.cls : deadline < o.deadline; }
  };
  [[nodiscard]] WaitingKey waiting_key(const Request& r) const {
    return {config.returning_first && r.num_generated > 0 ? 0 : 1, next_token_deadline_s(r)};
  }

  /// Orders a vector of waiting requests by waiting_key (for callers without the scheduler's
  /// keyed queue; see the class comment for its cost).
  void order_waiting(std::vector<Request*>& reqs, const SchedulerView& v) const {
    if (reqs.size() < 2) return;
    // Admissions left this step: the batch's free slots, and max_num_seqs caps running requests.
    const std::int64_t slots = std::min<std::int64_t>(v.seqs_left, static_cast<std::int64_t>(v.engine->max_num_seqs) -
                                                                      static_cast<std::int64_t>(v.running.size()));
    if (config.hol_blocking && (slots <= 0 || v.token_budget_left <= 0)) return;  // nothing will be examined
    std::size_t k = reqs.size();
    if (config.hol_blocking) {
      std::int64_t ordered = slots + 1;
      if (config.max_ordered > 0) ordered = std::min<std::int64_t>(ordered, config.max_ordered + 1);
      k = std::min<std::size_t>(k, static_cast<std::size_t>(ordered));
    }
    reorder(wait_buf_, reqs, k, [this](const Request& r) {
      const WaitingKey w = waiting_key(r);
      return Key{w.cls, w.deadline, 0};
    });
  }

  void order_running(std::vector<Request*>& reqs, const SchedulerView& v) const {
    if (!config.order_running || reqs.size() < 2) return;
    if (config.full_running_sort) {
      reorder(run_buf_, reqs, reqs.size(), [](const Request& r) { return Key{0, next_token_deadline_s(r), 0}; });
      return;
    }
    // Critical decodes to the front, by deadline; the others keep admission order. A prefill
    // chunk never jumps ahead: it would take the token budget and stall every decode behind it.
    const double horizon = v.now_s + v.rules().critical.kappa * v.max_iteration_s;
    run_buf_.clear();
    std::size_t keep = 0;
    for (Request* r : reqs) {
      const double d = r->is_prefilling() ? horizon + 1.0 : next_token_deadline_s(*r);
      if (d <= horizon) run_buf_.push_back({Key{0, d, static_cast<std::uint32_t>(run_buf_.size())}, r});
      else reqs[keep++] = r;
    }
    if (run_buf_.empty()) return;
    std::sort(run_buf_.begin(), run_buf_.end());
    std::move_backward(reqs.begin(), reqs.begin() + static_cast<std::ptrdiff_t>(keep), reqs.end());
    for (std::size_t i = 0; i < run_buf_.size(); ++i) reqs[i] = run_buf_[i].r;
  }

  [[nodiscard]] bool head_of_line_blocking() const { return config.hol_blocking; }

 private:
  struct Key {
    int cls = 0;            // 0 = returning (or every running request), 1 = new
    double deadline = 0.0;  // next_token_deadline_s (s)
    std::uint32_t pos = 0;  // queue position: ties keep the incoming order
    bool operator<(const Key& o) const {
      if (cls != o.cls) return cls < o.cls;
      if (deadline != o.deadline) return deadline < o.deadline;
      return pos < o.pos;
    }
  };
  struct Entry {
    Key key;
    Request* r = nullptr;
    bool operator<(const Entry& o) const { return key < o.key; }
  };

  /// Puts the first `k` of `reqs` in key order (the rest after them, in any order).
  template <class KeyOf>
  static void reorder(std::vector<Entry>& buf, std::vector<Request*>& reqs, std::size_t k, KeyOf&& key_of) {
    buf.resize(reqs.size());
    bool sorted = true;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      buf[i] = {key_of(*reqs[i]), reqs[i]};
      buf[i].key.pos = static_cast<std::uint32_t>(i);
      if (i > 0 && buf[i] < buf[i - 1]) sorted = false;
    }
    if (sorted) return;
    const auto first = buf.begin();
    const auto kth = first + static_cast<std::ptrdiff_t>(k);
    if (k < buf.size()) std::nth_element(first, kth, buf.end());
    std::sort(first, kth);
    for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i] = buf[i].r;
  }

  // Scratch (a const query reorders a caller's vector), one per queue to keep their capacity.
  mutable std::vector<Entry> wait_buf_, run_buf_;
};
static_assert(QueuePolicy<SlackQueue> && KeyedWaitingQueue<SlackQueue>);

}  // namespace kvsched
