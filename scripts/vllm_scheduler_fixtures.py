#!/usr/bin/env python3
"""Drives vLLM v1's own Scheduler (vllm/v1/core/sched/scheduler.py) with no model and records
every step's decisions into tests/fixtures/vllm_v1/*.json, for kvsched's differential test of
its `vllm_v1` preset (issue 10, item 2). The format is in docs/vllm_fixtures.md.

Run with the environment of scripts/setup_vllm.sh:
    $KVSCHED_VLLM_VENV/bin/python scripts/vllm_scheduler_fixtures.py [--out DIR] [--only NAME]

The scheduler is built as vLLM's tests/v1/core/utils.py create_scheduler builds it (a VllmConfig
from SchedulerConfig/ModelConfig/CacheConfig, one full-attention KV group of num_blocks blocks,
cache_config.num_gpu_blocks = num_blocks), with vLLM's synchronous `Scheduler` class. Each step:
add the requests that arrive before it, schedule(), then a fake ModelRunnerOutput in which every
scheduled request whose computed tokens reach its token count (prompt finished, or a decode)
samples exactly one token; requests stop at max_tokens (ignore_eos) or at max_model_len.
"""
import argparse
import csv
import dataclasses
import json
import os
import random
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(REPO, "tests", "fixtures", "llama_tiny")  # config only; no weights read
AZURE_CONV = os.path.join(REPO, "data", "azure_llm_inference_2023", "AzureLLMInferenceTrace_conv.csv")
BLOCK_SIZE = 16
OUTPUT_TOKEN_BASE = 20_000_000   # output token j of request i: OUTPUT_TOKEN_BASE + i * 4096 + j
FORMAT_VERSION = 1


# --------------------------------------------------------------------------------------------
# Streams: each request is a dict {id, arrival_step, prompt_len, blocks, max_tokens}; its prompt
# token at position p is blocks[p // BLOCK_SIZE] * BLOCK_SIZE + p % BLOCK_SIZE (see the doc).

class ContentIds:
    """Hands out block content ids; ids below `shared` are the shared-prefix blocks."""

    def __init__(self, first):
        self.next = first

    def fresh(self, n):
        out = list(range(self.next, self.next + n))
        self.next += n
        return out


def make_prompt_blocks(rng, prompt_len, prefixes, p_shared, ids):
    n_blocks = -(-prompt_len // BLOCK_SIZE)
    blocks = []
    if prefixes and rng.random() < p_shared:
        pre = rng.choice(prefixes)
        # Only whole blocks are shared, and at least one token of the prompt stays unshared.
        k = min(len(pre), (prompt_len - 1) // BLOCK_SIZE)
        blocks = list(pre[:k])
    blocks += ids.fresh(n_blocks - len(blocks))
    return blocks


def random_stream(seed, n_requests, prompt_range, output_range, mean_gap, max_model_len,
                  n_prefixes=0, prefix_blocks=(1, 8), p_shared=0.0, n_overlong=0):
    rng = random.Random(seed)
    ids = ContentIds(1)
    prefixes = [ids.fresh(rng.randint(*prefix_blocks)) for _ in range(n_prefixes)]
    reqs, step = [], 0
    for i in range(n_requests):
        if i > 0 and mean_gap > 0:
            # Bursty arrivals: geometric gaps with mean `mean_gap` steps (0 = same step).
            while rng.random() > 1.0 / (1.0 + mean_gap):
                step += 1
        prompt_len = rng.randint(*prompt_range)
        max_tokens = rng.randint(*output_range)
        reqs.append({"id": i, "arrival_step": step, "prompt_len": prompt_len,
                     "blocks": make_prompt_blocks(rng, prompt_len, prefixes, p_shared, ids),
                     "max_tokens": max_tokens})
    # A few prompts that vLLM's input processor rejects (length >= max_model_len), placed at
    # seeded positions; they never reach the scheduler.
    for _ in range(n_overlong):
        r = rng.choice(reqs)
        r["prompt_len"] = max_model_len + rng.randint(0, 64)
        r["blocks"] = ids.fresh(-(-r["prompt_len"] // BLOCK_SIZE))
    return reqs


def azure_stream(first_row, n_requests, scale, steps_per_second, max_model_len, n_prefixes=0,
                 prefix_blocks=(1, 8), p_shared=0.0, seed=0):
    """Rows [first_row, first_row + n) of Azure conv; prompt and output lengths divided by
    `scale` (rounded up); arrival step = floor((t - t0) * steps_per_second)."""
    from datetime import datetime
    rng = random.Random(seed)
    ids = ContentIds(1)
    prefixes = [ids.fresh(rng.randint(*prefix_blocks)) for _ in range(n_prefixes)]
    with open(AZURE_CONV, newline="") as f:
        rows = list(csv.DictReader(f))[first_row:first_row + n_requests]
    t0 = None
    reqs = []
    for i, row in enumerate(rows):
        t = datetime.strptime(row["TIMESTAMP"][:26], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        t0 = t if t0 is None else t0
        prompt_len = max(1, -(-int(row["ContextTokens"]) // scale))
        max_tokens = max(1, -(-int(row["GeneratedTokens"]) // scale))
        reqs.append({"id": i, "arrival_step": int((t - t0) * steps_per_second),
                     "prompt_len": prompt_len,
                     "blocks": make_prompt_blocks(rng, prompt_len, prefixes, p_shared, ids),
                     "max_tokens": max_tokens})
    return reqs


# name -> (stream builder, scheduler knobs)
def streams():
    s = {}
    # Random streams. Pools are small (a few max-length requests) so that decode growth forces
    # preemption; prefix-caching streams share whole-block prefixes between requests.
    s["random_s1_nopc"] = (lambda: random_stream(
        1, 260, (1, 300), (1, 160), 3.0, 1024, n_overlong=2),
        dict(num_gpu_blocks=96, max_num_batched_tokens=256, max_num_seqs=16,
             max_model_len=1024, enable_prefix_caching=False))
    s["random_s2_pc"] = (lambda: random_stream(
        2, 260, (1, 300), (1, 160), 3.0, 1024, n_prefixes=6, p_shared=0.6, n_overlong=2),
        dict(num_gpu_blocks=96, max_num_batched_tokens=256, max_num_seqs=16,
             max_model_len=1024, enable_prefix_caching=True))
    s["random_s3_nopc_wide"] = (lambda: random_stream(
        3, 220, (16, 700), (1, 300), 8.0, 2048),
        dict(num_gpu_blocks=200, max_num_batched_tokens=512, max_num_seqs=32,
             max_model_len=2048, enable_prefix_caching=False))
    s["random_s4_pc_tight"] = (lambda: random_stream(
        4, 200, (1, 200), (1, 120), 4.0, 512, n_prefixes=4, prefix_blocks=(2, 6), p_shared=0.8),
        dict(num_gpu_blocks=40, max_num_batched_tokens=64, max_num_seqs=6,
             max_model_len=512, enable_prefix_caching=True))
    s["random_s5_pc_wide"] = (lambda: random_stream(
        5, 220, (16, 700), (1, 300), 3.0, 2048, n_prefixes=8, prefix_blocks=(4, 24), p_shared=0.5),
        dict(num_gpu_blocks=200, max_num_batched_tokens=512, max_num_seqs=32,
             max_model_len=2048, enable_prefix_caching=True))
    # Variants of vLLM's own knobs (not its defaults), for kvsched's first-chunk admission and
    # watermark: the full-prompt gate off, and a 5% watermark.
    s["random_s6_nopc_firstchunk"] = (lambda: random_stream(
        6, 220, (1, 300), (1, 160), 3.0, 1024),
        dict(num_gpu_blocks=96, max_num_batched_tokens=256, max_num_seqs=16,
             max_model_len=1024, enable_prefix_caching=False, scheduler_reserve_full_isl=False))
    s["random_s7_pc_watermark"] = (lambda: random_stream(
        7, 220, (1, 300), (1, 160), 3.0, 1024, n_prefixes=6, p_shared=0.6),
        dict(num_gpu_blocks=96, max_num_batched_tokens=256, max_num_seqs=16,
             max_model_len=1024, enable_prefix_caching=True, watermark=0.05))
    # Azure conv: lengths / 4 so that they fit max_model_len 1024 (the longest prompts, over
    # 4096 tokens before scaling, are rejected as vLLM rejects them).
    s["azure_conv_nopc"] = (lambda: azure_stream(0, 400, 4, 4.0, 1024),
        dict(num_gpu_blocks=160, max_num_batched_tokens=512, max_num_seqs=32,
             max_model_len=1024, enable_prefix_caching=False))
    s["azure_conv_pc"] = (lambda: azure_stream(
        400, 400, 4, 4.0, 1024, n_prefixes=8, prefix_blocks=(2, 12), p_shared=0.5, seed=9),
        dict(num_gpu_blocks=160, max_num_batched_tokens=512, max_num_seqs=32,
             max_model_len=1024, enable_prefix_caching=True))
    return s


# --------------------------------------------------------------------------------------------
# vLLM

def prompt_tokens(req):
    L = req["prompt_len"]
    b = req["blocks"]
    return [b[p // BLOCK_SIZE] * BLOCK_SIZE + p % BLOCK_SIZE for p in range(L)]


def config_dict(cfg):
    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[f.name] = v
    return out


def run_stream(name, build, knobs):
    import torch
    import vllm
    from vllm.config import CacheConfig, ModelConfig, SchedulerConfig, VllmConfig
    from vllm.sampling_params import SamplingParams
    from vllm.utils.hashing import get_hash_fn_by_name
    from vllm.v1.core.kv_cache_utils import get_request_block_hasher, init_none_hash
    from vllm.v1.core.sched.scheduler import Scheduler
    from vllm.v1.kv_cache_interface import FullAttentionSpec, KVCacheConfig, KVCacheGroupSpec
    from vllm.v1.outputs import ModelRunnerOutput
    from vllm.v1.request import Request
    from vllm.v1.structured_output import StructuredOutputManager

    knobs = dict(knobs)
    num_blocks = knobs.pop("num_gpu_blocks")
    max_model_len = knobs.pop("max_model_len")
    enable_pc = knobs.pop("enable_prefix_caching")
    sched_kwargs = dict(
        max_num_seqs=knobs.pop("max_num_seqs"),
        max_num_batched_tokens=knobs.pop("max_num_batched_tokens"),
        max_model_len=max_model_len,
        long_prefill_token_threshold=0,
        enable_chunked_prefill=True,
        async_scheduling=False,
        is_encoder_decoder=False,
    )
    sched_kwargs.update(knobs)  # scheduler_reserve_full_isl, watermark
    scheduler_config = SchedulerConfig(**sched_kwargs)
    model_config = ModelConfig(model=MODEL_DIR, skip_tokenizer_init=True,
                               max_model_len=max_model_len, dtype="float32", seed=0)
    cache_config = CacheConfig(block_size=BLOCK_SIZE, enable_prefix_caching=enable_pc)
    vllm_config = VllmConfig(scheduler_config=scheduler_config, model_config=model_config,
                             cache_config=cache_config)
    kv_cache_config = KVCacheConfig(
        num_blocks=num_blocks, kv_cache_tensors=[],
        kv_cache_groups=[KVCacheGroupSpec(["layer"], FullAttentionSpec(
            block_size=BLOCK_SIZE, num_kv_heads=1, head_size=1, dtype=torch.float32))])
    vllm_config.cache_config.num_gpu_blocks = num_blocks

    preempt_order = []

    class RecordingScheduler(Scheduler):
        """vLLM's Scheduler, unchanged, noting the order of its preemption victims."""

        def _preempt_request(self, request, timestamp, drop_stale_output=False):
            preempt_order.append(request.request_id)
            return super()._preempt_request(request, timestamp, drop_stale_output)

    sched = RecordingScheduler(
        vllm_config=vllm_config, kv_cache_config=kv_cache_config,
        structured_output_manager=StructuredOutputManager(vllm_config),
        block_size=BLOCK_SIZE, log_stats=False)
    assert type(sched).__mro__[1] is Scheduler
    assert not sched.use_v2_model_runner

    hash_fn = get_hash_fn_by_name(vllm_config.cache_config.prefix_caching_hash_algo)
    init_none_hash(hash_fn)
    block_hasher = get_request_block_hasher(BLOCK_SIZE, hash_fn) if enable_pc else None

    requests = build()
    by_step = {}
    for r in requests:
        # vLLM's InputProcessor._validate_prompt_len rejects prompt_len > max_model_len, and
        # prompt_len == max_model_len for generate models (no room for one output token).
        r["rejected"] = r["prompt_len"] >= max_model_len
        if not r["rejected"]:
            by_step.setdefault(r["arrival_step"], []).append(r)
    n_live = sum(1 for r in requests if not r["rejected"])
    last_arrival = max(by_step) if by_step else 0

    steps = []
    n_finished = 0
    n_preempt = 0
    k = 0
    while n_finished < n_live:
        if k > 200_000:
            raise RuntimeError(f"{name}: no progress after {k} steps")
        for r in by_step.get(k, ()):
            sp = SamplingParams(max_tokens=r["max_tokens"], ignore_eos=True)
            sched.add_request(Request(
                request_id=str(r["id"]), prompt_token_ids=prompt_tokens(r),
                sampling_params=sp, pooling_params=None, arrival_time=float(r["arrival_step"]),
                block_hasher=block_hasher))
        preempt_order.clear()
        out = sched.schedule()
        new = [[int(d.req_id), d.num_computed_tokens] for d in out.scheduled_new_reqs]
        cached = out.scheduled_cached_reqs
        resumed = [[int(rid), cached.num_computed_tokens[i]]
                   for i, rid in enumerate(cached.req_ids) if rid in cached.resumed_req_ids]
        scheduled = [[int(rid), n] for rid, n in out.num_scheduled_tokens.items()]
        preempted = [int(x) for x in preempt_order]
        assert set(preempted) == {int(x) for x in out.preempted_req_ids}

        req_ids = list(out.num_scheduled_tokens)
        sampled = []
        for rid in req_ids:
            req = sched.requests[rid]
            if req.num_computed_tokens >= req.num_tokens:
                sampled.append([OUTPUT_TOKEN_BASE + int(rid) * 4096 + req.num_output_tokens])
            else:
                sampled.append([])
        mro = ModelRunnerOutput(req_ids=req_ids,
                                req_id_to_index={rid: i for i, rid in enumerate(req_ids)},
                                sampled_token_ids=sampled)
        engine_outputs = sched.update_from_output(out, mro)
        finished = []
        for eco in engine_outputs.values():
            for o in eco.outputs:
                if o.finish_reason is not None:
                    finished.append(int(o.request_id))
        n_finished += len(finished)
        n_preempt += len(preempted)
        steps.append({
            "k": k, "s": scheduled, "new": new, "res": resumed, "pre": preempted,
            "fin": finished, "free": sched.kv_cache_manager.block_pool.get_num_free_blocks(),
            "run": len(sched.running), "wait": len(sched.waiting),
        })
        k += 1
        if n_finished == n_live and k <= last_arrival:
            continue

    return {
        "format": FORMAT_VERSION,
        "name": name,
        "generator": "scripts/vllm_scheduler_fixtures.py",
        "vllm_version": vllm.__version__,
        "scheduler_class": "vllm.v1.core.sched.scheduler.Scheduler",
        "config": {
            "block_size": BLOCK_SIZE,
            "num_gpu_blocks": num_blocks,
            "max_model_len": max_model_len,
            "max_num_batched_tokens": scheduler_config.max_num_batched_tokens,
            "max_num_seqs": scheduler_config.max_num_seqs,
            "enable_prefix_caching": enable_pc,
            "enable_chunked_prefill": scheduler_config.enable_chunked_prefill,
            "long_prefill_token_threshold": scheduler_config.long_prefill_token_threshold,
            "scheduler_reserve_full_isl": scheduler_config.scheduler_reserve_full_isl,
            "watermark": scheduler_config.watermark,
            "policy": scheduler_config.policy,
            "output_token_base": OUTPUT_TOKEN_BASE,
        },
        "vllm_scheduler_config": config_dict(vllm_config.scheduler_config),
        "vllm_cache_config": config_dict(vllm_config.cache_config),
        "summary": {"requests": len(requests), "rejected": len(requests) - n_live,
                    "steps": len(steps), "preemptions": n_preempt},
        "requests": [{"id": r["id"], "arrival_step": r["arrival_step"],
                      "prompt_len": r["prompt_len"], "blocks": r["blocks"],
                      "max_tokens": r["max_tokens"], "rejected": r["rejected"]}
                     for r in requests],
        "steps": steps,
    }


def write_fixture(path, fx):
    """One JSON object; `requests` and `steps` one element a line so diffs stay readable."""
    head = {k: v for k, v in fx.items() if k not in ("requests", "steps")}
    dump = lambda o: json.dumps(o, separators=(",", ":"))
    with open(path, "w") as f:
        f.write("{\n")
        for k, v in head.items():
            f.write(f"{json.dumps(k)}:{dump(v)},\n")
        for key in ("requests", "steps"):
            f.write(f'"{key}":[\n')
            items = fx[key]
            for i, it in enumerate(items):
                f.write(dump(it) + (",\n" if i + 1 < len(items) else "\n"))
            f.write("]" + (",\n" if key == "requests" else "\n"))
        f.write("}\n")
    with open(path) as f:
        assert json.load(f)["summary"] == fx["summary"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "vllm_v1"))
    ap.add_argument("--only", action="append", help="stream name (repeatable); default all")
    args = ap.parse_args()
    # The model config is only read for its architecture (no forward pass runs); its 512
    # max_position_embeddings must not cap the streams' max_model_len.
    os.environ["VLLM_ALLOW_LONG_MAX_MODEL_LEN"] = "1"
    os.makedirs(args.out, exist_ok=True)
    all_streams = streams()
    names = args.only or list(all_streams)
    for n in names:
        if n not in all_streams:
            print(f"unknown stream {n!r}; known: {', '.join(all_streams)}", file=sys.stderr)
            return 2
    total_steps = 0
    for n in names:
        build, knobs = all_streams[n]
        fx = run_stream(n, build, knobs)
        path = os.path.join(args.out, n + ".json")
        write_fixture(path, fx)
        total_steps += fx["summary"]["steps"]
        s = fx["summary"]
        print(f"{n}: {s['requests']} requests ({s['rejected']} rejected), {s['steps']} steps, "
              f"{s['preemptions']} preemptions, {os.path.getsize(path) / 1e6:.2f} MB", flush=True)
    print(f"total: {total_steps} steps")
    return 0


if __name__ == "__main__":
    sys.exit(main())
