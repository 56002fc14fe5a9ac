// kvsched/policy/batch/queue_order_batch.hpp: candidates enter the batch in queue order.
#pragma once
#include <vector>

#include "kvsched/policy/scheduler_view.hpp"

namespace kvsched {

/// Leaves the queue order as it is: admission walks it until the budget, max_num_seqs or
/// KV runs out. Every baseline engine batches this way.
struct QueueOrderBatch {
  static constexpr bool reorders = false;
  void select(std::vector<Request*>&, const SchedulerView&) const {}
};

}  // namespace kvsched
