#!/usr/bin/env python3
"""CPU cost of kvsched.vllm.Scheduler per schedule() call against vLLM's own Scheduler, at
--running running and --waiting waiting requests (issue 12: the plug-in must add under 5% of
vLLM 0.32's own 3.1-4.7 ms per iteration at 256 running and 4,096 waiting).

No model: both schedulers are built as scripts/vllm_scheduler_fixtures.py builds vLLM's (a
VllmConfig, one full-attention KV group), fed the same requests (prompts of 64-512 tokens,
ignore_eos, max_tokens 4096 so that none finishes), warmed up until --running requests decode,
then timed over --steps steps of schedule() + a fake model output (one token per request).
Reported per schedule() call (perf_counter, medians over the steps): vLLM's own, the plug-in's
and their difference, and what the plug-in spends outside vLLM's schedule(). With a small
--blocks and --warmup the two schedulers run under KV pressure, where their decisions (and so
their states) differ: then only the last figure compares like with like.

    PYTHONPATH=python $KVSCHED_VLLM_VENV/bin/python scripts/vllm_plugin_cost.py [--steps 200]
"""
import argparse
import os
import random
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(REPO, "tests", "fixtures", "llama_tiny")  # config only; no weights read
BLOCK_SIZE = 16


def build(cls, args):
    import torch
    from vllm.config import CacheConfig, ModelConfig, SchedulerConfig, VllmConfig
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
    from vllm.v1.structured_output import StructuredOutputManager

    scheduler_config = SchedulerConfig(max_num_seqs=args.running, max_num_batched_tokens=args.batched_tokens,
                                       max_model_len=args.max_model_len, enable_chunked_prefill=True,
                                       async_scheduling=False, is_encoder_decoder=False)
    model_config = ModelConfig(model=MODEL_DIR, skip_tokenizer_init=True, max_model_len=args.max_model_len,
                               dtype="float32", seed=0)
    cache_config = CacheConfig(block_size=BLOCK_SIZE, enable_prefix_caching=False)
    vllm_config = VllmConfig(scheduler_config=scheduler_config, model_config=model_config, cache_config=cache_config)
    kv = KVCacheConfig(num_blocks=args.blocks, kv_cache_tensors=[],
                       kv_cache_groups=[KVCacheGroupSpec(["layer"], FullAttentionSpec(
                           block_size=BLOCK_SIZE, num_kv_heads=1, head_size=1, dtype=torch.float32))])
    vllm_config.cache_config.num_gpu_blocks = args.blocks
    return cls(vllm_config=vllm_config, kv_cache_config=kv, structured_output_manager=StructuredOutputManager(vllm_config),
               block_size=BLOCK_SIZE, log_stats=False)


def run(cls, args):
    """Per timed step: schedule() seconds, and for the plug-in the seconds it adds outside
    vLLM's part (kvsched_stats; None for vLLM's own); then the warm-up steps."""
    from vllm.sampling_params import SamplingParams
    from vllm.v1.outputs import ModelRunnerOutput
    from vllm.v1.request import Request

    sched = build(cls, args)
    rng = random.Random(args.seed)
    n = args.running + args.waiting
    for i in range(n):
        prompt = [rng.randrange(3, 1000) for _ in range(rng.randint(64, 512))]
        extra = {"tbt_slo_s": 0.05, "ttft_slo_s": 2.0} if i % 3 == 0 else None
        sp = SamplingParams(max_tokens=4096, ignore_eos=True, extra_args=extra)
        sched.add_request(Request(request_id=str(i), prompt_token_ids=prompt, sampling_params=sp,
                                  pooling_params=None, arrival_time=float(i) * 1e-3))
    stats = getattr(sched, "kvsched_stats", None)
    times, added = [], []
    warm = 0
    while len(times) < args.steps:
        before = (stats["total_s"], stats["super_s"]) if stats else None
        t0 = time.perf_counter()
        out = sched.schedule()
        dt = time.perf_counter() - t0
        ids = list(out.num_scheduled_tokens)
        sampled = [[7] if sched.requests[r].num_computed_tokens >= sched.requests[r].num_tokens else [] for r in ids]
        sched.update_from_output(out, ModelRunnerOutput(req_ids=ids, req_id_to_index={r: i for i, r in enumerate(ids)},
                                                         sampled_token_ids=sampled))
        decoding = sum(1 for r in sched.running if r.num_computed_tokens >= r.num_prompt_tokens)
        warmed = warm >= args.warmup if args.warmup else (decoding >= args.running and len(ids) >= args.running)
        if warmed:
            times.append(dt)
            if stats:
                added.append(stats["total_s"] - before[0] - (stats["super_s"] - before[1]))
        elif (warm := warm + 1) > 10_000:
            sys.exit(f"vllm_plugin_cost: {cls.__name__} never reached {args.running} decoding requests")
    return times, added, warm


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--running", type=int, default=256, help="running requests (max_num_seqs)")
    ap.add_argument("--waiting", type=int, default=4096, help="waiting requests")
    ap.add_argument("--steps", type=int, default=200, help="timed steps")
    ap.add_argument("--blocks", type=int, default=40_000, help="KV blocks of 16 tokens")
    ap.add_argument("--batched-tokens", type=int, default=8192, help="max_num_batched_tokens")
    ap.add_argument("--max-model-len", type=int, default=8192)
    ap.add_argument("--warmup", type=int, default=0,
                    help="time every step after this many (default 0: once --running requests decode)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if min(args.running, args.waiting, args.steps, args.blocks) < 1:
        ap.error("every count must be >= 1")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    os.environ["VLLM_ALLOW_LONG_MAX_MODEL_LEN"] = "1"  # no model runs: only the config is read
    import vllm
    from vllm.v1.core.sched.scheduler import Scheduler as VllmScheduler

    sys.path.insert(0, os.path.join(REPO, "python"))
    from kvsched.vllm import Scheduler as KvschedScheduler

    ms = lambda xs: 1e3 * statistics.median(xs)
    base, _, warm_v = run(VllmScheduler, args)
    ours, added, warm_k = run(KvschedScheduler, args)
    print(f"vLLM {vllm.__version__}, {args.running} running, {args.waiting} waiting, {args.blocks} blocks; "
          f"median over {args.steps} steps after {warm_v} (vLLM) / {warm_k} (plug-in) warm-up steps")
    print(f"  vLLM Scheduler.schedule():          {ms(base):.3f} ms")
    print(f"  kvsched.vllm.Scheduler.schedule():  {ms(ours):.3f} ms")
    print(f"  difference of the medians:          {ms(ours) - ms(base):.3f} ms = {100 * (ms(ours) / ms(base) - 1):.1f}%")
    print(f"  added by the plug-in outside vLLM's part (median): {ms(added):.3f} ms = {100 * ms(added) / ms(base):.1f}% of vLLM's own")


if __name__ == "__main__":
    main()
