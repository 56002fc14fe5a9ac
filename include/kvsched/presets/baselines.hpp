// kvsched/presets/baselines.hpp: policy bundles that reproduce today's engines
// (docs/design.md section 3.1), each a struct over baseline_of: change a member to reconfigure it.
#pragma once
#include "kvsched/policy/allocator/full_length_allocator.hpp"
#include "kvsched/policy/allocator/on_demand_allocator.hpp"
#include "kvsched/policy/batch/queue_order_batch.hpp"
#include "kvsched/policy/chunker/token_budget_chunker.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/estimator/max_tokens_estimator.hpp"
#include "kvsched/policy/mode/fixed_mode.hpp"
#include "kvsched/policy/queue/fcfs_queue.hpp"
#include "kvsched/policy/reserver/sglang_ratio_reserver.hpp"
#include "kvsched/policy/reserver/watermark_reserver.hpp"
#include "kvsched/policy/victim/fewest_generated_victim.hpp"
#include "kvsched/policy/victim/last_admitted_victim.hpp"
#include "kvsched/policy/victim/never_preempt.hpp"

namespace kvsched::presets {

/// The shape every engine baseline shares: an estimator (max_tokens unless given), one
/// allocator, reserver and victim order, fixed recompute preemption, an FCFS queue, a token
/// budget chunker (engine budget, chunked prefill), batches in queue order, vLLM v1's loop
/// unless `options` says otherwise. Each preset below is a struct over it that sets the
/// members its engine differs in; change a member to reconfigure it.
template <bool PrefixCaching, class Alloc = OnDemandAllocator, class Reserver = WatermarkReserver,
          class Victim = LastAdmittedVictim, class Est = MaxTokensEstimator>
struct baseline_of {
  static constexpr bool prefix_caching = PrefixCaching;
  Est estimator{};
  Alloc allocator{};
  Reserver reserver{};
  Victim victim{};
  FixedModeChooser mode{PreemptionMode::kRecompute};
  FcfsQueue queue{};
  TokenBudgetChunker chunker{};
  QueueOrderBatch batch{};
  SchedulerOptions options{};
  BundleRules rules{};
};

/// vLLM v1 (vllm/v1/core/sched/scheduler.py): chunked prefill within max_num_batched_tokens,
/// running requests first, then waiting FCFS with head-of-line blocking; blocks on demand;
/// when a running request cannot grow, preempt the most recently admitted one by recompute;
/// no admission in a step that preempted. Prefix caching on (EngineConfig switch).
struct vllm_v1 : baseline_of<true> {
  vllm_v1() {
    reserver.watermark = 0.0;
    options.no_admission_after_preemption = true;
  }
};

/// vLLM v0 default scheduler (vllm/core/scheduler.py, chunked prefill off): whole prompts,
/// prefill-priority steps (a step with new prefills runs no decodes), admission needs the
/// prompt's blocks plus a 1% watermark, no admission while any request is swapped out,
/// victim = tail of the running queue, recompute (single-sequence requests). No prefix caching.
struct vllm_v0 : baseline_of<false> {
  vllm_v0() {
    reserver.watermark = 0.01;
    chunker.chunked_prefill = false;
    options.prefill_first_exclusive = true;
    options.no_prefill_while_swapped = true;
  }
};

/// Sarathi-Serve (microsoft/sarathi-serve): vLLM v0 admission (1% watermark) with a fixed
/// token budget of 512 per iteration filled by decodes first, then ongoing chunked prefills,
/// then new ones (stall-free batching); recompute only.
struct sarathi : baseline_of<false> {
  sarathi() {
    reserver.watermark = 0.01;
    queue.decodes_first = true;
    chunker.budget = 512;
    options.no_prefill_while_swapped = true;
  }
};

/// Sarathi-Serve with a token budget of 2048 per iteration instead of 512 (the larger budget
/// Sarathi-Serve's paper also evaluates; the AccelGen paper compares against both).
struct sarathi_2048 : sarathi {
  sarathi_2048() { chunker.budget = 2048; }
};

/// TensorRT-LLM GUARANTEED_NO_EVICT capacity scheduler: admit a request only if the blocks of
/// its prompt + max_tokens fit beside every running request's full reservation; never preempts.
/// Context chunking off (the engine's default), in-flight batching of contexts and generations.
struct trtllm_guaranteed_no_evict : baseline_of<false, FullLengthAllocator, WatermarkReserver, NeverPreempt> {
  trtllm_guaranteed_no_evict() {
    reserver.watermark = 0.0;
    chunker.chunked_prefill = false;
  }
};

/// SGLang (python/sglang/srt/managers/scheduler.py): prefill batches take priority over
/// decode batches; admission by the decaying new-token ratio; retraction victim = fewest
/// generated tokens, ties to the longest prompt, by recompute; radix (prefix) cache on.
struct sglang : baseline_of<true, OnDemandAllocator, SglangRatioReserver, FewestGeneratedVictim> {
  sglang() { options.prefill_first_exclusive = true; }
};

static_assert(PolicyBundle<vllm_v1> && PolicyBundle<vllm_v0> && PolicyBundle<sarathi> && PolicyBundle<sarathi_2048> &&
              PolicyBundle<trtllm_guaranteed_no_evict> && PolicyBundle<sglang>);

}  // namespace kvsched::presets
