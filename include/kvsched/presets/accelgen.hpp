// kvsched/presets/accelgen.hpp: AccelGen's policy bundles (docs/design.md section 3.3).
#pragma once
#include "kvsched/policy/allocator/embedding_allocator.hpp"
#include "kvsched/policy/allocator/on_demand_allocator.hpp"
#include "kvsched/policy/batch/multi_resource_batch.hpp"
#include "kvsched/policy/chunker/slo_dynamic_chunker.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/estimator/history_estimator.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/policy/mode/fixed_mode.hpp"
#include "kvsched/policy/mode/latency_mode_chooser.hpp"
#include "kvsched/policy/queue/slo_slack_queue.hpp"
#include "kvsched/policy/reserver/proactive_reserver.hpp"
#include "kvsched/policy/reserver/watermark_reserver.hpp"
#include "kvsched/policy/victim/last_admitted_victim.hpp"
#include "kvsched/policy/victim/slo_victim_selector.hpp"

namespace kvsched::presets {

/// AccelGen (Shen and Sen, arXiv 2503.13737) on vLLM v1's engine structure: SLO-guaranteed
/// dynamic chunking (SloDynamicChunker), iteration-level SLO-based prioritisation with
/// similar-SLO batching (SloSlackQueue, kept incrementally) and multi-resource-aware batch
/// selection (MultiResourceBatch). The paper leaves KV allocation and preemption to the
/// engine it is built on, so these are vLLM v1's: blocks on demand, no admission headroom,
/// preempt the most recently admitted running request by recompute, prefix caching on.
/// Output lengths for the KV demand: the point estimate of CacheOPT's model-free history
/// estimator (online conditional medians by prompt bucket and class; no padding), kvsched's
/// stand-in for the paper's length predictor.
template <class PointEst>
struct accelgen_of {
  static constexpr bool prefix_caching = true;
  PaddedEstimator<PointEst> estimator{PointEst{}, HoeffdingPadding({.enabled = false})};
  OnDemandAllocator allocator{};
  WatermarkReserver reserver{0.0};
  LastAdmittedVictim victim{};
  FixedModeChooser mode{PreemptionMode::kRecompute};
  SloSlackQueue queue{};
  SloDynamicChunker chunker{};
  MultiResourceBatch batch{};
  SchedulerOptions options{.no_admission_after_preemption = true};
};

struct accelgen : accelgen_of<HistoryEstimator> {};

/// AccelGen's Oracle (docs/design.md section 3.3.4): the same policies with true output lengths
/// (OracleEstimator: RequestSpec::oracle_output_tokens, set by the simulator) in the KV
/// demand. Iteration times are exact whenever the policies' LatencyModel is the one the engine
/// (simulator) runs on, which is how kvsched-sim uses it.
struct accelgen_oracle : accelgen_of<OracleEstimator> {};

/// The combination (docs/design.md sections 3.2 and 3.3): CacheOPT's KV policies (padded length
/// estimate, estimated-demand reservations with embedding, proactive top-up and global
/// reserve, SLO victim order, swap-or-recompute by latency) with AccelGen's SLO-guaranteed
/// chunking, SLO-slack prioritisation and multi-resource batch selection. The selector's free
/// KV is available() as it is (the reservations already promise the running requests'
/// expected growth), and it keeps KV-infeasible candidates, last, for the embedding allocator,
/// which may fit them in another request's unused reservation. Est = CacheOPT's estimator.
template <class Est>
struct cacheopt_accelgen_of {
  static constexpr bool prefix_caching = true;
  Est estimator{};
  EmbeddingAllocator allocator{};
  ProactiveReserver reserver{};
  SloVictimSelector victim{};
  LatencyModeChooser mode{};
  SloSlackQueue queue{};
  SloDynamicChunker chunker{};
  MultiResourceBatch batch{};
  SchedulerOptions options{.no_admission_after_preemption = true};
  BundleRules rules{};  // critical requests and global reserve, read by allocator, reserver and victim

  cacheopt_accelgen_of() {
    batch.config.subtract_running_growth = false;
    batch.config.drop_kv_infeasible = false;
  }
};

/// cacheopt_accelgen with CacheOPT's default estimator (history, Hoeffding-padded).
struct cacheopt_accelgen : cacheopt_accelgen_of<PaddedEstimator<HistoryEstimator>> {};

/// cacheopt_accelgen with true output lengths and no padding (as presets::oracle).
struct cacheopt_accelgen_oracle : cacheopt_accelgen_of<PaddedEstimator<OracleEstimator>> {
  cacheopt_accelgen_oracle() { estimator.padding = HoeffdingPadding({.enabled = false}); }
};

static_assert(PolicyBundle<accelgen> && PolicyBundle<accelgen_oracle> && PolicyBundle<cacheopt_accelgen> &&
              PolicyBundle<cacheopt_accelgen_oracle>);

}  // namespace kvsched::presets
