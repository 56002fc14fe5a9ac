// kvsched/policy/queue/fcfs_queue.hpp: first come, first served.
#pragma once
#include <algorithm>
#include <vector>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Waiting requests in arrival order, recompute-preempted ones back at the front (vLLM
/// `waiting.prepend_request`); running in admission order, or decodes before prefills when
/// `decodes_first` (Sarathi-Serve: decodes, then ongoing chunked prefills, then new ones).
/// Stops admitting at the first request that does not fit (head-of-line blocking, as vLLM).
struct FcfsQueue {
  static constexpr bool reorders_waiting = false;
  bool decodes_first = false;
  bool hol_blocking = true;

  void order_waiting(std::vector<Request*>&, const SchedulerView&) const {}
  void order_running(std::vector<Request*>& running, const SchedulerView&) const {
    if (decodes_first)
      std::stable_partition(running.begin(), running.end(), [](const Request* r) { return !r->is_prefilling(); });
  }
  [[nodiscard]] bool head_of_line_blocking() const { return hol_blocking; }
};

}  // namespace kvsched
