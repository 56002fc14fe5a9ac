// kvsched/policy/queue/slack_queue.hpp: waiting and running requests ordered by SLO slack
// (CacheOPT, design.md section 3.2.5).
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "kvsched/policy/queue/slo_slack.hpp"
#include "kvsched/scheduler/scheduler_view.hpp"

namespace kvsched {

struct SlackQueueConfig {
  bool returning_first = true;  // requests that already produced tokens go before new ones (ours;
                                // vLLM also puts preempted requests back at the front)
  bool hol_blocking = true;     // stop admitting at the first request that does not fit (ours:
                                // keeps the most urgent from starving behind smaller ones)
  bool order_running = true;    // running requests grow in slack order (false: admission order)
};

/// Queue policy of CacheOPT. Waiting requests: returning ones (preempted after producing
/// output) by TBT slack, then new ones by TTFT slack; running ones by slack (slo_slack.hpp),
/// so the most urgent grow first and the least urgent are left as preemption candidates.
/// Slack = deadline - now with a deadline fixed while a request waits, so sorting by deadline
/// (ties: queue position) is sorting by slack.
/// Cost: O(n) to compute keys and detect an already sorted queue (the common case: one SLO
/// class, FCFS arrivals); otherwise, with head-of-line blocking, only the first
/// seqs_left + 1 are put in order (nth_element + sort, O(n + k log k)), since admission stops
/// at the first failure and admits at most seqs_left; without it, a full sort.
class SlackQueue {
 public:
  static constexpr bool reorders_waiting = true;
  SlackQueueConfig config{};

  SlackQueue() = default;
  explicit SlackQueue(SlackQueueConfig c) : config(c) {}

  void order_waiting(std::vector<Request*>& reqs, const SchedulerView& v) const {
    if (reqs.size() < 2) return;
    if (config.hol_blocking && (v.seqs_left <= 0 || v.token_budget_left <= 0)) return;  // nothing will be examined
    const std::size_t k = config.hol_blocking ? std::min<std::size_t>(reqs.size(), static_cast<std::size_t>(v.seqs_left) + 1)
                                              : reqs.size();
    reorder(reqs, k, [this](const Request& r) { return Key{config.returning_first && r.num_generated > 0 ? 0 : 1, next_token_deadline_s(r), 0}; });
  }

  void order_running(std::vector<Request*>& reqs, const SchedulerView&) const {
    if (!config.order_running || reqs.size() < 2) return;
    reorder(reqs, reqs.size(), [](const Request& r) { return Key{0, next_token_deadline_s(r), 0}; });
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
  void reorder(std::vector<Request*>& reqs, std::size_t k, KeyOf&& key_of) const {
    buf_.resize(reqs.size());
    bool sorted = true;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      buf_[i] = {key_of(*reqs[i]), reqs[i]};
      buf_[i].key.pos = static_cast<std::uint32_t>(i);
      if (i > 0 && buf_[i] < buf_[i - 1]) sorted = false;
    }
    if (sorted) return;
    const auto first = buf_.begin();
    const auto kth = first + static_cast<std::ptrdiff_t>(k);
    if (k < buf_.size()) std::nth_element(first, kth, buf_.end());
    std::sort(first, kth);
    for (std::size_t i = 0; i < reqs.size(); ++i) reqs[i] = buf_[i].r;
  }

  mutable std::vector<Entry> buf_;  // scratch (a const query reorders a caller's vector)
};

}  // namespace kvsched
