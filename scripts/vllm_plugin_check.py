"""End-to-end check of kvsched.vllm.Scheduler against a real vLLM on the CPU (docs/vllm.md).

Runs the tiny random-weight Llama (tests/fixtures/llama_tiny, head_dim 32) twice under KV
pressure (--blocks KV blocks of 32 tokens), with vLLM's own scheduler and then with
scheduler_cls="kvsched.vllm.Scheduler", on the same seeded prompts (greedy, ignore_eos), each
run in its own subprocess. Asserts: every request finishes with its max_tokens, the two runs'
output tokens are identical, and the plug-in's log shows admissions and chunks (preemptions are
counted). With --online RATE the requests have Azure conv lengths scaled to the context and
arrive over time at RATE requests/s (LLMEngine.step() driven by wall clock); TTFT, TBT and SLO
attainment per class are printed for both schedulers.
Exit 0 on success, 1 on a failed check, 2 on bad arguments.

  PYTHONPATH=python $KVSCHED_VLLM_VENV/bin/python scripts/vllm_plugin_check.py [--requests 40]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / "tests" / "fixtures" / "llama_tiny"


def make_requests(n: int, seed: int):
    """Seeded prompts (token ids in [3, 1000)), prompt 16..160 tokens, output 8..96 tokens; a
    third get a tight TBT SLO in extra_args, so the plug-in's orders differ from FCFS."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        p = [rng.randrange(3, 1000) for _ in range(rng.randint(16, 160))]
        extra = TIGHT if i % 3 == 0 else {}
        out.append((p, rng.randint(8, 96), extra))
    return out


AZURE_CONV = REPO / "data" / "azure_llm_inference_2023" / "AzureLLMInferenceTrace_conv.csv"
TIGHT = {"tbt_slo_s": 0.05, "ttft_slo_s": 2.0}  # every third request's SLOs; the rest: the defaults
DEFAULT_SLO = {"tbt_slo_s": 0.5, "ttft_slo_s": 10.0}  # the plug-in's defaults (docs/vllm.md)


def azure_requests(n: int, seed: int, rate: float):
    """The first n rows of Azure conv, lengths scaled by 1/8 to the tiny model's 512-token
    context (prompt 16..400, output 4..96, prompt + output <= 500; seeded random token ids), and
    the trace's arrival gaps rescaled to a mean of ``rate`` requests/s. Returns (requests as
    make_requests gives them, arrival offsets in seconds)."""
    import csv
    from datetime import datetime
    rng = random.Random(seed)
    rows = []
    with AZURE_CONV.open() as f:
        for i, row in enumerate(csv.DictReader(f)):
            if i >= n:
                break
            rows.append(row)
    if len(rows) < n:
        raise SystemExit(f"vllm_plugin_check: {AZURE_CONV} has only {len(rows)} rows")
    t = [datetime.fromisoformat(r["TIMESTAMP"][:26]).timestamp() for r in rows]
    span = max(t[-1] - t[0], 1e-9)
    arrivals = [(x - t[0]) * (n - 1) / span / rate for x in t]  # mean gap 1 / rate
    out = []
    for i, r in enumerate(rows):
        prompt_len = min(400, max(16, round(int(r["ContextTokens"]) / 8)))
        out_len = min(96, max(4, round(int(r["GeneratedTokens"]) / 8)), 500 - prompt_len)
        out.append(([rng.randrange(3, 1000) for _ in range(prompt_len)], out_len, TIGHT if i % 3 == 0 else {}))
    return out, arrivals


def drive_online(llm, prompts, params, arrivals):
    """Adds each request to the engine when its arrival time has come (wall clock) and steps
    the engine until every request finished. Returns per request: outputs and the perf_counter
    times of its arrival and of each of its tokens."""
    engine = llm.llm_engine
    n = len(prompts)
    times = [[] for _ in range(n)]
    tokens = [[] for _ in range(n)]
    finished = [False] * n
    t0 = time.perf_counter()
    arrive = [t0 + a for a in arrivals]
    nxt = 0
    while nxt < n or engine.has_unfinished_requests():
        now = time.perf_counter()
        while nxt < n and arrive[nxt] <= now:
            engine.add_request(str(nxt), prompts[nxt], params[nxt])
            nxt += 1
        if not engine.has_unfinished_requests():
            time.sleep(max(0.0, arrive[nxt] - time.perf_counter()))
            continue
        for o in engine.step():
            i = int(o.request_id)
            ids = list(o.outputs[0].token_ids)
            stamp = time.perf_counter()
            times[i].extend([stamp] * (len(ids) - len(tokens[i])))
            tokens[i] = ids
            finished[i] = finished[i] or o.finished
    return tokens, finished, arrive, times


def run_one(mode: str, args) -> dict:
    """Child process: one LLM(...) run; returns outputs and wall time."""
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    kw = {} if mode == "vllm" else {"scheduler_cls": "kvsched.vllm.Scheduler"}
    if mode == "observe":  # the plug-in passing vLLM's own decisions through, logged
        os.environ["KVSCHED_VLLM_MODE"] = "observe"
    t0 = time.perf_counter()
    llm = LLM(model=str(MODEL), skip_tokenizer_init=True, max_model_len=512, enforce_eager=True,
              block_size=32, num_gpu_blocks_override=args.blocks, max_num_seqs=args.max_seqs,
              max_num_batched_tokens=args.batched_tokens, enable_prefix_caching=False,
              dtype="float32", seed=0, gpu_memory_utilization=0.3,
              disable_log_stats=False, **kw)
    t1 = time.perf_counter()
    if args.online:
        reqs, arrivals = azure_requests(args.requests, args.seed, args.online)
    else:
        reqs = make_requests(args.requests, args.seed)
    prompts = [TokensPrompt(prompt_token_ids=p) for p, _, _ in reqs]
    params = [SamplingParams(temperature=0.0, max_tokens=m, ignore_eos=True, detokenize=False,
                             extra_args=e or None) for _, m, e in reqs]
    common = {"max_tokens": [m for _, m, _ in reqs], "tight": [bool(e) for _, _, e in reqs]}
    if args.online:
        tokens, finished, arrive, times = drive_online(llm, prompts, params, arrivals)
        return {"startup_s": t1 - t0, "generate_s": time.perf_counter() - t1, "tokens": tokens,
                "finished": finished, **common,
                "ttft_s": [ts[0] - a if ts else None for ts, a in zip(times, arrive)],
                "gaps_s": [[b - a for a, b in zip(ts, ts[1:])] for ts in times],
                "tpot_s": [(ts[-1] - ts[0]) / max(1, len(ts) - 1) if ts else None for ts in times]}
    outs = llm.generate(prompts, params, use_tqdm=False)
    t2 = time.perf_counter()
    return {"startup_s": t1 - t0, "generate_s": t2 - t1,
            "tokens": [list(o.outputs[0].token_ids) for o in outs],
            "finished": [bool(o.finished) for o in outs], **common,
            # engine-core monotonic timestamps (RequestStateStats), seconds
            "ttft_s": [o.metrics.first_token_ts - o.metrics.queued_ts if o.metrics else None for o in outs],
            "tpot_s": [(o.metrics.last_token_ts - o.metrics.first_token_ts) / max(1, len(o.outputs[0].token_ids) - 1)
                       if o.metrics else None for o in outs]}


def _pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def latency_summary(r: dict) -> str:
    """TTFT p50/p90 and mean TPOT (seconds) per SLO class: tight (ttft 2 s, tbt 0.05 s) / default;
    online: also TTFT p99, TBT (every gap) p50/p99 and the SLO attainments (TTFT within its SLO;
    TBT: every gap within its SLO, as kvsched-sim counts it)."""
    parts = []
    for name, want, slo in (("tight", True, TIGHT), ("default", False, DEFAULT_SLO)):
        idx = [i for i, c in enumerate(r["tight"]) if c == want and r["ttft_s"][i] is not None]
        if not idx:
            continue
        ttft = [r["ttft_s"][i] for i in idx]
        tpot = [r["tpot_s"][i] for i in idx]
        line = (f"{name}: n={len(idx)} ttft p50 {_pct(ttft, .5):.3f} p90 {_pct(ttft, .9):.3f} "
                f"tpot mean {sum(tpot) / len(tpot) * 1e3:.1f} ms")
        if "gaps_s" in r:
            gaps = [g for i in idx for g in r["gaps_s"][i]]
            ttft_ok = sum(t <= slo["ttft_slo_s"] for t in ttft) / len(idx)
            tbt_ok = sum(all(g <= slo["tbt_slo_s"] for g in r["gaps_s"][i]) for i in idx) / len(idx)
            line += (f" ttft p99 {_pct(ttft, .99):.3f} tbt p50 {_pct(gaps, .5) * 1e3:.1f} ms p99 "
                     f"{_pct(gaps, .99) * 1e3:.1f} ms; attainment ttft {ttft_ok:.1%} tbt {tbt_ok:.1%}")
        parts.append(line)
    return "; ".join(parts) or "no metrics"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=24, help="KV blocks (32 tokens each)")
    ap.add_argument("--max-seqs", type=int, default=16)
    ap.add_argument("--batched-tokens", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--child-timeout", type=float, default=300, help="seconds per LLM run")
    ap.add_argument("--retries", type=int, default=1,
                    help="runs again a run that timed out (engine startup stalls, docs/vllm.md)")
    ap.add_argument("--observe", action="store_true",
                    help="also run the plug-in in observe mode (vLLM's decisions, logged): "
                         "vLLM's own preemption count")
    ap.add_argument("--online", type=float, metavar="RATE",
                    help="online: Azure conv lengths scaled to the context, arriving at RATE "
                         "requests/s (the trace's gaps rescaled), through LLMEngine.step()")
    ap.add_argument("--child", choices=["vllm", "kvsched", "observe"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.online is not None and not (args.online > 0 and math.isfinite(args.online)):
        print(f"vllm_plugin_check: --online must be a rate > 0, got {args.online}", file=sys.stderr)
        return 2
    if args.retries < 0:
        print("vllm_plugin_check: --retries must be >= 0", file=sys.stderr)
        return 2
    if args.requests < 1 or args.blocks < 16:
        print("vllm_plugin_check: --requests must be >= 1 and --blocks >= 16 (a 512-token "
              "request needs 16 blocks)", file=sys.stderr)
        return 2
    if args.child:
        Path(args.out).write_text(json.dumps(run_one(args.child, args)))
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="kvsched_vllm_"))
    logf = tmp / "kvsched.log"
    env = dict(os.environ, VLLM_CPU_KVCACHE_SPACE="1",
               PYTHONPATH=os.pathsep.join([str(REPO / "python"), os.environ.get("PYTHONPATH", "")]))
    res = {}
    modes = ("vllm", "kvsched") + (("observe",) if args.observe else ())
    for mode in modes:
        out = tmp / f"{mode}.json"
        env["KVSCHED_VLLM_LOG"] = str(tmp / f"{mode}.log")
        cmd = [sys.executable, __file__, "--child", mode, "--out", str(out),
               "--requests", str(args.requests), "--blocks", str(args.blocks),
               "--max-seqs", str(args.max_seqs), "--batched-tokens", str(args.batched_tokens),
               "--seed", str(args.seed)] + (["--online", str(args.online)] if args.online else [])
        for attempt in range(1 + args.retries):
            t0 = time.perf_counter()
            try:  # a run takes ~25-35 s here; startup has been seen to stall (docs/vllm.md)
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.child_timeout)
                break
            except subprocess.TimeoutExpired:
                print(f"{'FAIL' if attempt == args.retries else 'retry'}: the {mode} run did not finish "
                      f"within {args.child_timeout} s (attempt {attempt + 1} of {1 + args.retries})")
        else:
            return 1
        wall = time.perf_counter() - t0
        if p.returncode != 0:
            print(p.stdout[-4000:], p.stderr[-8000:], sep="\n")
            print(f"FAIL: the {mode} run exited {p.returncode}")
            return 1
        res[mode] = json.loads(out.read_text())
        res[mode]["wall_s"] = wall
    ok = True

    def check(cond: bool, what: str) -> None:
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what)
        ok = ok and cond

    for mode, r in res.items():
        check(all(r["finished"]) and all(len(t) == m for t, m in zip(r["tokens"], r["max_tokens"])),
              f"{mode}: all {len(r['tokens'])} requests finished with max_tokens tokens")
    for mode in modes[1:]:
        same = sum(a == b for a, b in zip(res["vllm"]["tokens"], res[mode]["tokens"]))
        check(same == args.requests, f"{mode}: outputs token-identical to vllm's: {same}/{args.requests}")
    if args.observe:
        otext = (tmp / "observe.log").read_text()
        print(f"observe (vLLM's decisions): {len(re.findall(r' preempt ', otext))} preemptions")
    text = logf.read_text() if logf.exists() else ""
    counts = {k: len(re.findall(rf"\] ?{k} |\s{k} ", text)) for k in ("admit", "chunk", "preempt", "hold")}
    check(counts["admit"] >= args.requests, f"log: {counts['admit']} admissions")
    check(counts["chunk"] > 0, f"log: {counts['chunk']} prefill chunks")
    # Not a check: length-aware admission often leaves no preemption at all (0 to 8 seen in runs
    # of 40 and 200 requests, against 82 with vLLM's own decisions); the count depends on timing.
    print(f"log: {counts['preempt']} preemptions")
    stats = re.findall(r"stats .*", text)
    print(f"log: {counts['hold']} hold-back steps; last stats: {stats[-1] if stats else 'none'}")
    for mode, r in res.items():
        print(f"{mode}: wall {r['wall_s']:.1f} s (startup {r['startup_s']:.1f} s, generate "
              f"{r['generate_s']:.2f} s)")
    for mode, r in res.items():
        print(f"{mode}: " + latency_summary(r))
    print(f"log file: {logf}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
