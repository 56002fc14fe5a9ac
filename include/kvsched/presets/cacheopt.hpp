// kvsched/presets/cacheopt.hpp: CacheOPT policy bundles, the oracle, and one ablation per
// component (docs/design.md section 3.2). Each is a struct over cacheopt_of<...>: change a member
// (or its config) to reconfigure it.
#pragma once
#include "kvsched/policy/allocator/embedding_allocator.hpp"
#include "kvsched/policy/allocator/estimated_demand_allocator.hpp"
#include "kvsched/policy/allocator/future_peak_allocator.hpp"
#include "kvsched/policy/allocator/on_demand_allocator.hpp"
#include "kvsched/policy/batch/queue_order_batch.hpp"
#include "kvsched/policy/chunker/token_budget_chunker.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/estimator/history_estimator.hpp"
#include "kvsched/policy/estimator/noisy_oracle_estimator.hpp"
#include "kvsched/policy/estimator/oracle_estimator.hpp"
#include "kvsched/policy/estimator/padded_estimator.hpp"
#include "kvsched/policy/mode/fixed_mode.hpp"
#include "kvsched/policy/mode/latency_mode_chooser.hpp"
#include "kvsched/policy/queue/fcfs_queue.hpp"
#include "kvsched/policy/queue/slack_queue.hpp"
#include "kvsched/policy/reserver/proactive_reserver.hpp"
#include "kvsched/policy/reserver/watermark_reserver.hpp"
#include "kvsched/policy/victim/last_admitted_victim.hpp"
#include "kvsched/policy/victim/never_preempt.hpp"
#include "kvsched/policy/victim/slo_victim_selector.hpp"
#include "kvsched/presets/baselines.hpp"

namespace kvsched::presets {

/// The CacheOPT bundle with its five components as type parameters:
///  1. Est: output-length estimate + Hoeffding padding (PaddedEstimator<...>)
///  2-3. Alloc: padded estimated demand as a reservation, reuse of unused reservations
///  4. ProactiveReserver: proactive top-up and the global reserve
///  5. Queue (slack order, critical requests), Victim (SLO victim order), Mode (swap or recompute)
/// Loop shape as vLLM v1 (chunked prefill within max_num_batched_tokens, running first, no
/// admission in a step that preempted) with prefix caching on, so that it compares with
/// vllm_v1 on equal terms.
/// Padding of the CacheOPT presets (ours): Hoeffding's t(p) with R = the 90th percentile of
/// the under-estimates (x_true - x_hat > 0) of the last 1,000 finished requests. The paper's
/// R = max - min of all errors (HoeffdingPaddingConfig's default, preset
/// cacheopt_paper_padding) pads a history estimate on Azure conv by about 1,200 tokens, which
/// is close to reserving max_tokens; see docs/cacheopt.md.
inline constexpr HoeffdingPaddingConfig kCacheoptPadding{.range = ErrorRange::kUnderOnly, .q_hi = 0.9};

template <class Est = PaddedEstimator<HistoryEstimator>, class Alloc = EmbeddingAllocator, class Victim = SloVictimSelector,
          class Mode = LatencyModeChooser, class Queue = SlackQueue>
struct cacheopt_of {
  cacheopt_of() {
    if constexpr (requires { estimator.padding; }) estimator.padding = HoeffdingPadding(kCacheoptPadding);
  }
  static constexpr bool prefix_caching = true;
  Est estimator{};
  Alloc allocator{};
  ProactiveReserver reserver{};
  Victim victim{};
  Mode mode{};
  Queue queue{};
  TokenBudgetChunker chunker{0, true};
  QueueOrderBatch batch{};
  SchedulerOptions options{.no_admission_after_preemption = true};
  BundleRules rules{};  // critical requests and global reserve, read by allocator, reserver, queue and victim
};

/// CacheOPT with the history estimator (online conditional quantiles by prompt bucket and
/// class; no oracle, no model). The default.
struct cacheopt : cacheopt_of<> {};

/// cacheopt with the paper's error range for the padding: R = max - min of the last 1,000
/// errors (CacheOPT section 3.2.1 as written).
struct cacheopt_paper_padding : cacheopt {
  cacheopt_paper_padding() { estimator.padding = HoeffdingPadding(HoeffdingPaddingConfig{}); }
};

/// CacheOPT with the true output length and no padding: the upper bound of any estimator.
struct oracle : cacheopt_of<PaddedEstimator<OracleEstimator>> {
  oracle() { estimator.padding = HoeffdingPadding({.enabled = false}); }
};

/// CacheOPT with a predictor of known accuracy: x_hat = x_true x (1 + level x N(0, 1)),
/// level = Percent / 100 (noisy_oracle_estimator.hpp), padded as cacheopt.
template <int Percent>
struct cacheopt_noisy : cacheopt_of<PaddedEstimator<NoisyOracleEstimator>> {
  cacheopt_noisy() { estimator.base.config.level = Percent / 100.0; }
};
using cacheopt_noisy_10 = cacheopt_noisy<10>;
using cacheopt_noisy_30 = cacheopt_noisy<30>;
using cacheopt_noisy_50 = cacheopt_noisy<50>;

/// CacheOPT with the future-peak admission (future_peak_allocator.hpp, ours): components 2-3
/// generalised from one host to every running request; nothing is reserved, so the top-up is
/// off; estimator, reserve, slack order, victim order and mode choice as cacheopt.
struct cacheopt_peak : cacheopt_of<PaddedEstimator<HistoryEstimator>, FuturePeakAllocator> {
  cacheopt_peak() { reserver.config.top_up = false; }
};

/// cacheopt_peak with the true output length and no padding: the ceiling of length-aware
/// admission.
struct oracle_peak : cacheopt_of<PaddedEstimator<OracleEstimator>, FuturePeakAllocator> {
  oracle_peak() {
    estimator.padding = HoeffdingPadding({.enabled = false});
    reserver.config.top_up = false;
  }
};

// ---- ablations: one component off at a time ---------------------------------------------

/// Component 1 off: the history estimate is reserved as it is, with no confidence padding.
struct cacheopt_no_padding : cacheopt {
  cacheopt_no_padding() { estimator.padding = HoeffdingPadding({.enabled = false}); }
};

/// Component 2 off: blocks on demand (as vLLM), no reservation. Reuse has nothing to reuse and
/// the top-up is off too (it would re-create the reservation one step later); the global
/// reserve, slack order, victim order and mode choice stay.
struct cacheopt_no_alloc : cacheopt_of<PaddedEstimator<HistoryEstimator>, OnDemandAllocator> {
  cacheopt_no_alloc() { reserver.config.top_up = false; }
};

/// Component 3 off: no embedding of waiting requests in unused reservations.
struct cacheopt_no_reuse : cacheopt {
  cacheopt_no_reuse() { allocator.config.reuse = false; }
};

/// Component 4a off: no proactive top-up; a request that outgrows its reservation grows one
/// block at a time from the free pool (and preempts when it is empty).
struct cacheopt_no_topup : cacheopt {
  cacheopt_no_topup() { reserver.config.top_up = false; }
};

/// Component 4b off: no global reserve (G = 0).
struct cacheopt_no_reserve : cacheopt {
  cacheopt_no_reserve() { rules.reserve.enabled = false; }
};

/// Component 5a off: FCFS queue with head-of-line blocking (vLLM's order) and no
/// critical-request handling.
struct cacheopt_no_slack : cacheopt_of<PaddedEstimator<HistoryEstimator>, EmbeddingAllocator, SloVictimSelector,
                                       LatencyModeChooser, FcfsQueue> {
  cacheopt_no_slack() { rules.critical.enabled = false; }
};

/// Component 5b off: victim = the most recently admitted running request (vLLM's order).
struct cacheopt_no_slo_victim
    : cacheopt_of<PaddedEstimator<HistoryEstimator>, EmbeddingAllocator, LastAdmittedVictim> {};

/// Component 5c off: always recompute (vLLM v1's mode), never swap.
struct cacheopt_no_mode_choice
    : cacheopt_of<PaddedEstimator<HistoryEstimator>, EmbeddingAllocator, SloVictimSelector, FixedModeChooser> {};

/// Not CacheOPT: TensorRT-LLM's GUARANTEED_NO_EVICT admission with the true output length in
/// place of max_tokens (reserve prompt + x_true, never preempt, FCFS, no chunked prefill, no
/// prefix caching). Shows what a plain exact reservation does without reuse and top-up.
struct trtllm_oracle_lengths
    : baseline_of<false, EstimatedDemandAllocator, WatermarkReserver, NeverPreempt, PaddedEstimator<OracleEstimator>> {
  trtllm_oracle_lengths() {
    estimator.padding = HoeffdingPadding({.enabled = false});
    reserver.watermark = 0.0;
    chunker.chunked_prefill = false;
    engine_defaults.batched_tokens_at_least_max_model_len = true;  // as trtllm_guaranteed_no_evict
    rules.critical.enabled = false;
  }
};

static_assert(PolicyBundle<cacheopt> && PolicyBundle<cacheopt_paper_padding> && PolicyBundle<oracle> && PolicyBundle<cacheopt_noisy_10> &&
              PolicyBundle<cacheopt_no_padding> && PolicyBundle<cacheopt_no_alloc> && PolicyBundle<cacheopt_no_reuse> &&
              PolicyBundle<cacheopt_no_topup> && PolicyBundle<cacheopt_no_reserve> && PolicyBundle<cacheopt_no_slack> &&
              PolicyBundle<cacheopt_no_slo_victim> && PolicyBundle<cacheopt_no_mode_choice> &&
              PolicyBundle<trtllm_oracle_lengths> && PolicyBundle<cacheopt_peak> && PolicyBundle<oracle_peak>);

}  // namespace kvsched::presets
