#!/usr/bin/env python3
"""kvsched's benchmark matrix: every preset named below over 20 workloads, swept over the
arrival rate around vllm_v1's knee, 3 seeds each, with kvsched-sim --json.

  python3 scripts/benchmark_matrix.py [--sim build/examples/kvsched-sim] [--jobs 2]
         [--workloads conv_a100-40g,...] [--seeds 3] [--quick] [--out docs]

Writes docs/benchmark_results.md (tables), docs/benchmark/*.png (goodput ratio to vllm_v1
against the rate, per workload; max sustainable rate per preset) and
docs/benchmark/results.json (every figure the tables show, per seed). Every run: clients give
no max_tokens (--max-tokens model-len), latency noise CV 0.05 on a ground truth apart from the
policies' model (--ground-truth profile), CPU overhead async (vLLM v1's default).

Steps:
  1. knee: for each workload, vllm_v1 alone (seed 0) is run at rates doubling from the
     workload's hint, then bisected (4 halvings), for the highest rate whose both-SLO
     attainment is >= 90% of its low-load attainment (relative, so that a workload whose
     every-gap TBT SLO vllm_v1 never meets at 90% still has a knee);
  2. grid: knee x GRID_FACTORS; each (workload, rate, seed) is one kvsched-sim process over
     every preset, plus vllm_v1 with 4x the KV blocks (the KV-bound gap);
  3. tables, plots and JSON from those runs. Max sustainable rate = the highest grid rate at
     which, and at every lower one, both TTFT and TBT attainment (mean over seeds) are >= 90%.
Processes run in parallel (--jobs, default the CPU count).
"""
import argparse
import concurrent.futures as cf
import json
import math
import resource
import os
import subprocess
import sys
import tempfile
import time

try:
    import matplotlib
except ImportError:  # a pyenv python3 first on PATH: retry with the system one (python3-matplotlib)
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = "data/length_distributions_llama2_tokenizer/"
TRACES = {
    "conv": ("data/azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv", "auto"),
    "code": ("data/azure_llm_inference_2023/AzureLLMInferenceTrace_code.csv", "auto"),
    "sharegpt": (D + "sharegpt_8k_filtered_stats_llama2_tokenizer.csv", "lengths"),
    "bwb": (D + "bwb_stats_llama2_tokenizer_filtered_v2.csv", "lengths"),
    "arxiv": (D + "arxiv_summarization_stats_llama2_tokenizer_filtered_v2.csv", "lengths"),
    "mooncake": ("data/mooncake_fast25/synthetic_trace.jsonl", "mooncake"),
}
MIXED = "examples/workloads/mixed_slo.toml"

# SLO per workload class (TTFT s, TBT s every gap) and where it comes from.
SLOS = {
    "conv": (1.0, 0.2, "interactive chat: kvsched's CacheOPT reproduction (scripts/reproduce_cacheopt.py): about 3x "
             "the low-load p99 TTFT, TBT above one 2,048-token chunked-prefill iteration"),
    "code": (2.0, 0.2, "code completion: kvsched's CacheOPT reproduction (scripts/reproduce_cacheopt.py), same rule"),
    "sharegpt": (2.0, 0.2, "chat with long prompts (ShareGPT, prompts mean 2,340 tokens): the CacheOPT reproduction's "
                 "rule, TTFT as its code setting"),
    "bwb": (5.0, 0.2, "document translation: the translation class of examples/workloads/mixed_slo.toml (ours)"),
    "arxiv": (15.0, 0.15, "summarization: DistServe (OSDI'24) LongBench summarization, TTFT 15 s, TPOT 0.15 s"),
    "mooncake": (15.0, 0.15, "long-context: DistServe (OSDI'24) summarization class, as scripts/reproduce_accelgen.py"),
    "mixed": (None, None, "per source (examples/workloads/mixed_slo.toml): chatbot 0.25 s / 0.10 s and summarization "
              "15 s / 0.15 s (DistServe, OSDI'24), translation 5 s / 0.2 s (ours)"),
}

# (name, trace key or "mixed", model, gpu, rate hint req/s)
WORKLOADS = []
for gpu, scale in (("a100-40g", 1.0), ("a100-80g", 1.3), ("h100-80g", 2.0)):
    for key, hint in (("conv", 3.0), ("code", 1.0), ("sharegpt", 1.0), ("bwb", 0.4), ("arxiv", 0.8), ("mixed", 1.0)):
        WORKLOADS.append((f"{key}_{gpu}", key, "llama2-7b", gpu, hint * scale))
WORKLOADS.append(("mooncake_llama3-8b_a100-80g", "mooncake", "llama3-8b", "a100-80g", 0.5))
WORKLOADS.append(("conv_llama3-8b_a100-80g", "conv", "llama3-8b", "a100-80g", 4.0))

BASELINES = ["vllm_v1", "sarathi", "sglang"]
PAPERS = ["cacheopt", "accelgen", "accelgen_paper", "cacheopt_accelgen", "cacheopt_accelgen_paper"]
OURS = ["kvsched"]
ABLATIONS = ["kvsched_no_slo_chunks", "kvsched_no_slack", "kvsched_no_fit", "kvsched_no_late_last", "kvsched_no_shortest_first",
             "kvsched_no_swap", "kvsched_no_lost_first", "kvsched_no_urgent"]
FOURX = "vllm_v1_4xkv"  # vllm_v1 with 4x the KV blocks (a separate engine config)
REF = "vllm_v1"
FLAGSHIP = "kvsched"
GRID_FACTORS = [0.5, 0.75, 0.9, 1.0, 1.1, 1.2, 1.3, 1.5, 2.0]
COMMON = ["--max-tokens", "model-len", "--latency-noise", "0.05", "--ground-truth", "profile", "--cpu-overhead", "async",
          "--no-wall-time", "-q"]
METRICS = ["goodput_rps", "slo_attainment", "ttft_slo_attainment", "tbt_slo_attainment", "tbt_max_p99_s", "ttft_p99_s",
           "preemptions_recompute", "preemptions_swap", "num_requests", "recomputed_tokens", "kv_used_mean_blocks",
           "kv_device_blocks"]


def workload_args(w, duration):
    name, key, model, gpu, _ = w
    args = ["--model", model, "--gpu", gpu, "--duration", str(duration)]
    if key == "mixed":
        return args + ["--workload", os.path.join(ROOT, MIXED)]
    path, fmt = TRACES[key]
    ttft, tbt, _ = SLOS[key]
    return args + ["--trace", os.path.join(ROOT, path), "--trace-format", fmt, "--slo-ttft", str(ttft), "--slo-tbt", str(tbt)]


def run_sim(sim, args):
    """Runs kvsched-sim with --json; returns {policy: {metric: value}} and the engine config."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    try:
        p = subprocess.run([sim] + args + ["--json", out], capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"kvsched-sim failed ({p.returncode}): {' '.join(args)}\n{p.stderr}")
        with open(out) as f:
            j = json.load(f)
    finally:
        os.unlink(out)
    res = {r["policy"]: {k: r["metrics"].get(k) for k in METRICS} for r in j["runs"]}
    return res, j["config"]["engine"]


def knee(sim, w, duration):
    """Highest rate (req/s) at which vllm_v1's both-SLO attainment is >= 90% of its low-load one."""
    hint = w[4]
    base_args = workload_args(w, duration) + COMMON + ["--seed", "0", "--policy", REF]
    cache = {}

    def att(rate):
        if rate not in cache:
            cache[rate] = run_sim(sim, base_args + ["--rate", f"{rate:.6g}"])[0][REF]["slo_attainment"]
        return cache[rate]

    low = att(hint / 4)
    ok = lambda r: att(r) >= 0.9 * low  # noqa: E731
    lo, hi = hint / 4, hint
    while ok(hi) and hi < hint * 64:
        lo, hi = hi, hi * 2
    for _ in range(4):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if ok(mid) else (lo, mid)
    return lo, low


def round_rate(r):
    return float(f"{r:.3g}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", default=os.path.join(ROOT, "build", "examples", "kvsched-sim"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--workloads", default="", help="comma-separated workload names (default: all)")
    ap.add_argument("--presets", default="", help="comma-separated presets (default: the matrix's)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--duration", type=float, default=300.0, help="seconds of arrivals per run")
    ap.add_argument("--quick", action="store_true", help="1 seed, 120 s of arrivals, 5 rates (a smoke run)")
    ap.add_argument("--factors", default="", help="comma-separated multiples of the knee (default: GRID_FACTORS)")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"), help="folder of benchmark_results.md")
    a = ap.parse_args()
    if not os.path.exists(a.sim):
        sys.exit(f"kvsched-sim not found at {a.sim}; build it (cmake --build build --target kvsched-sim) or pass --sim")
    factors = GRID_FACTORS
    if a.quick:
        a.seeds, a.duration, factors = 1, 120.0, [0.7, 1.0, 1.3, 1.5, 2.0]
    if a.factors:
        factors = [float(x) for x in a.factors.split(",")]
    workloads = WORKLOADS
    if a.workloads:
        names = a.workloads.split(",")
        unknown = [n for n in names if n not in [w[0] for w in WORKLOADS]]
        if unknown:
            sys.exit(f"unknown workload(s) {unknown}; known: {[w[0] for w in WORKLOADS]}")
        workloads = [w for w in WORKLOADS if w[0] in names]
    presets = a.presets.split(",") if a.presets else BASELINES + PAPERS + OURS + ABLATIONS
    if REF not in presets:
        presets = [REF] + presets
    t0 = time.time()
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        knees = dict(zip([w[0] for w in workloads], ex.map(lambda w: knee(a.sim, w, a.duration), workloads)))
        t_knee = time.time() - t0
        grids = {w[0]: sorted({round_rate(knees[w[0]][0] * f) for f in factors}) for w in workloads}
        jobs = {}
        for w in workloads:
            for rate in grids[w[0]]:
                for seed in range(a.seeds):
                    base = workload_args(w, a.duration) + COMMON + ["--seed", str(seed), "--rate", f"{rate:.6g}"]
                    jobs[ex.submit(run_sim, a.sim, base + ["--policy", ",".join(presets)])] = (w[0], rate, seed, False)
                    jobs[ex.submit(run_4x, a.sim, base, w)] = (w[0], rate, seed, True)
        runs = {}  # (workload, rate, seed) -> {policy: metrics}
        engines = {}
        for fut in cf.as_completed(jobs):
            wname, rate, seed, is4x = jobs[fut]
            res, eng = fut.result()
            runs.setdefault((wname, rate, seed), {}).update(res)
            if not is4x:
                engines[wname] = eng
    wall = time.time() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = ru.ru_utime + ru.ru_stime
    presets_all = presets + [FOURX]
    results = summarise(workloads, grids, runs, presets_all, a.seeds)
    meta = {"wall_s": wall, "cpu_s": cpu_s, "knee_wall_s": t_knee, "jobs": a.jobs, "seeds": a.seeds, "duration_s": a.duration,
            "grid_factors": factors, "common_flags": COMMON, "presets": presets_all,
            "knees": {k: {"rate_rps": v[0], "low_load_slo_attainment": v[1]} for k, v in knees.items()},
            "engines": engines, "slos": {k: {"ttft_s": v[0], "tbt_s": v[1], "source": v[2]} for k, v in SLOS.items()},
            "workloads": {w[0]: {"trace": w[1], "model": w[2], "gpu": w[3]} for w in workloads}}
    os.makedirs(os.path.join(a.out, "benchmark"), exist_ok=True)
    with open(os.path.join(a.out, "benchmark", "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    plots = plot(results, workloads, presets_all, os.path.join(a.out, "benchmark"))
    write_markdown(results, meta, workloads, presets_all, plots, os.path.join(a.out, "benchmark_results.md"))
    print(f"benchmark matrix: {len(runs)} runs in {wall:.0f} s ({a.jobs} jobs, {cpu_s:.0f} CPU-s); wrote {a.out}/benchmark_results.md")


def run_4x(sim, base, w):
    """vllm_v1 with 4x the device KV blocks of the workload's engine (its --kv-blocks), on a
    what-if GPU of the same speed with 4x the memory (--gpu-memory-gib; kvsched-sim refuses a
    pool larger than the GPU)."""
    name, key, model, gpu, _ = w
    blocks, mem_gib = kv_blocks_of(sim, model, gpu)
    res, eng = run_sim(sim, base + ["--policy", REF, "--kv-blocks", str(4 * blocks), "--gpu-memory-gib", str(4 * mem_gib)])
    return {FOURX: res[REF]}, eng


_BLOCKS = {}


def kv_blocks_of(sim, model, gpu):
    """(device KV blocks of the default engine, GPU memory in GiB) for model on gpu."""
    if (model, gpu) not in _BLOCKS:
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "one.json")
            subprocess.run([sim, "--model", model, "--gpu", gpu, "--trace", os.path.join(ROOT, TRACES["conv"][0]),
                            "--num-requests", "1", "--policy", REF, "-q", "--json", out],
                           capture_output=True, text=True, check=True)
            with open(out, encoding="utf-8") as f:
                cfg = json.load(f)["config"]
        _BLOCKS[(model, gpu)] = (cfg["engine"]["num_device_blocks"], cfg["gpu"]["memory_bytes"] / 2**30)
    return _BLOCKS[(model, gpu)]


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def max_sustainable(points, threshold=0.9):
    best = None
    for p in points:
        if p["ttft_slo_attainment"] < threshold or p["tbt_slo_attainment"] < threshold:
            break
        best = p["rate_rps"]
    return best


def summarise(workloads, grids, runs, presets, seeds):
    out = {}
    for w in workloads:
        wn = w[0]
        per = {}
        for p in presets:
            pts = []
            for rate in grids[wn]:
                seeds_m = [runs[(wn, rate, s)][p] for s in range(seeds) if p in runs.get((wn, rate, s), {})]
                refs = [runs[(wn, rate, s)][REF] for s in range(seeds)]
                pt = {"rate_rps": rate}
                for k in METRICS:
                    pt[k] = mean([m[k] for m in seeds_m])
                pt["preempted_share"] = mean([(m["preemptions_recompute"] + m["preemptions_swap"]) / max(1, m["num_requests"])
                                              for m in seeds_m])
                ratios = [m["goodput_rps"] / r["goodput_rps"] for m, r in zip(seeds_m, refs) if r["goodput_rps"] > 0]
                ref_good = mean([r["goodput_rps"] for r in refs])
                pt["goodput_ratio"] = pt["goodput_rps"] / ref_good if ref_good else None
                pt["goodput_ratio_min_seed"] = min(ratios) if ratios else None
                pt["seeds"] = [{k: m[k] for k in ("goodput_rps", "slo_attainment", "ttft_slo_attainment",
                                                  "tbt_slo_attainment", "tbt_max_p99_s")} for m in seeds_m]
                pts.append(pt)
            per[p] = {"points": pts, "max_sustainable_rps": max_sustainable(pts)}
        out[wn] = per
    return out


STYLE = {"vllm_v1": ("k-", 2.0), FOURX: ("k:", 1.5), "kvsched": ("r-", 2.4), "accelgen": ("b--", 1.4),
         "cacheopt": ("g--", 1.4), "cacheopt_accelgen": ("m--", 1.4), "sarathi": ("c-.", 1.2), "sglang": ("y-.", 1.2)}


def plot(results, workloads, presets, outdir):
    shown = [p for p in presets if p in STYLE]
    n = len(workloads)
    cols = 4
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for i, w in enumerate(workloads):
        ax = axes[i // cols][i % cols]
        for p in shown:
            pts = results[w[0]][p]["points"]
            xs = [q["rate_rps"] for q in pts if q["goodput_ratio"] is not None]
            ys = [q["goodput_ratio"] for q in pts if q["goodput_ratio"] is not None]
            st, lw = STYLE[p]
            ax.plot(xs, ys, st, label=p, linewidth=lw)
        ax.axhline(1.0, color="grey", linewidth=0.6)
        ax.set_title(w[0], fontsize=9)
        ax.set_xlabel("arrival rate (req/s)", fontsize=8)
        ax.set_ylabel("goodput / vllm_v1", fontsize=8)
        ax.tick_params(labelsize=7)
    for j in range(n, rows * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    p1 = os.path.join(outdir, "goodput_ratio.png")
    fig.savefig(p1, dpi=80)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(8, 0.6 * n), 4.5))
    ms = [p for p in presets if p in (REF, FOURX, FLAGSHIP, "accelgen", "cacheopt", "cacheopt_accelgen", "sarathi")]
    width = 0.8 / len(ms)
    for k, p in enumerate(ms):
        ys = []
        for w in workloads:
            ref = results[w[0]][REF]["max_sustainable_rps"]
            v = results[w[0]][p]["max_sustainable_rps"]
            ys.append((v or 0.0) / ref if ref else 0.0)
        ax.bar([i + k * width for i in range(n)], ys, width, label=p)
    ax.axhline(1.0, color="grey", linewidth=0.6)
    ax.axhline(1.3, color="red", linewidth=0.6, linestyle=":")
    ax.set_xticks([i + 0.4 for i in range(n)])
    ax.set_xticklabels([w[0] for w in workloads], rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("max sustainable rate / vllm_v1's")
    ax.legend(fontsize=7)
    fig.tight_layout()
    p2 = os.path.join(outdir, "max_rate.png")
    fig.savefig(p2, dpi=80)
    plt.close(fig)
    return ["benchmark/goodput_ratio.png", "benchmark/max_rate.png"]


def fmt(x, spec=".3g"):
    return "-" if x is None else format(x, spec)


def targets(results, workloads):
    """The issue's targets for the flagship against vllm_v1, measured."""
    t = {}
    worst_mean, worst_seed, where_mean, where_seed = 9.0, 9.0, None, None
    for w in workloads:
        for q in results[w[0]][FLAGSHIP]["points"]:
            if q["goodput_ratio"] is not None and q["goodput_ratio"] < worst_mean:
                worst_mean, where_mean = q["goodput_ratio"], (w[0], q["rate_rps"])
            if q["goodput_ratio_min_seed"] is not None and q["goodput_ratio_min_seed"] < worst_seed:
                worst_seed, where_seed = q["goodput_ratio_min_seed"], (w[0], q["rate_rps"])
    t["goodput_mean_min"] = (worst_mean, where_mean)
    t["goodput_seed_min"] = (worst_seed, where_seed)
    rate_ratios = {}
    for w in workloads:
        ref = results[w[0]][REF]["max_sustainable_rps"]
        v = results[w[0]][FLAGSHIP]["max_sustainable_rps"]
        rate_ratios[w[0]] = (v, ref)
    t["max_rate"] = rate_ratios
    tbt = []
    for w in workloads:
        for qk, qr in zip(results[w[0]][FLAGSHIP]["points"], results[w[0]][REF]["points"]):
            if qr["tbt_slo_attainment"] >= 0.99:
                tbt.append((w[0], qr["rate_rps"], qk["tbt_slo_attainment"]))
    t["tbt"] = tbt
    stall = []
    for w in workloads:
        for qk, qr in zip(results[w[0]][FLAGSHIP]["points"], results[w[0]][REF]["points"]):
            if qr["preempted_share"] > 0.01:
                stall.append((w[0], qr["rate_rps"], qr["tbt_max_p99_s"], qk["tbt_max_p99_s"]))
    t["stall"] = stall
    gap = []
    for wn in ("conv_a100-40g", "sharegpt_a100-40g", "bwb_a100-40g"):
        if wn in results:
            r = results[wn]
            gap.append((wn, r[REF]["max_sustainable_rps"], r[FOURX]["max_sustainable_rps"], r[FLAGSHIP]["max_sustainable_rps"]))
    t["kv_gap"] = gap
    return t


def ablation_gain(results, workloads, ablation, knees):
    """(geometric mean of kvsched's goodput over `ablation`'s at the grid rates at and past
    vllm_v1's knee, workloads where kvsched's max sustainable rate is higher, lower)."""
    logs, hi, lo = [], 0, 0
    for w in workloads:
        r = results[w[0]]
        knee = round_rate(knees[w[0]]["rate_rps"])
        for qk, qa in zip(r[FLAGSHIP]["points"], r[ablation]["points"]):
            if qk["rate_rps"] < knee:
                continue
            if qk["goodput_rps"] and qa["goodput_rps"]:
                logs.append(math.log(qk["goodput_rps"] / qa["goodput_rps"]))
        k, a = r[FLAGSHIP]["max_sustainable_rps"] or 0.0, r[ablation]["max_sustainable_rps"] or 0.0
        hi += k > a
        lo += k < a
    return (math.exp(sum(logs) / len(logs)) if logs else None), hi, lo


def write_markdown(results, meta, workloads, presets, plots, path):
    L = ["# kvsched benchmark matrix", "",
         "Generated by `python3 scripts/benchmark_matrix.py` from kvsched-sim runs; do not edit by hand. The policy and "
         "what each component earns: [kvsched_policy.md](kvsched_policy.md).", "",
         f"Every run: `{' '.join(meta['common_flags'])}`, {meta['duration_s']:g} s of arrivals, seeds 0..{meta['seeds'] - 1}; "
         f"rates = vllm_v1's knee x {meta['grid_factors']} (knee: the highest rate at which vllm_v1's both-SLO attainment "
         "is >= 90% of its low-load one, seed 0, doubling then 4 bisections). Figures are means over the seeds. "
         f"`{FOURX}` = vllm_v1 with 4x the device KV blocks. Wall time {meta['wall_s']:.0f} s with {meta['jobs']} jobs "
         f"({meta['cpu_s']:.0f} CPU-seconds of kvsched-sim processes).", "",
         "## SLOs (TTFT, TBT applied to every gap) and their source", "", "| workload class | TTFT s | TBT s | source |",
         "| --- | ---: | ---: | --- |"]
    for k, v in meta["slos"].items():
        L.append(f"| {k} | {fmt(v['ttft_s'], 'g')} | {fmt(v['tbt_s'], 'g')} | {v['source']} |")
    t = targets(results, workloads)
    L += ["", "## The flagship (`kvsched`) against the issue's targets", ""]
    gm, gs = t["goodput_mean_min"], t["goodput_seed_min"]
    L.append(f"- goodput >= 0.99x vllm_v1 at every point (mean over seeds): worst {gm[0]:.3f}x at {gm[1]} "
             f"-> {'met' if gm[0] >= 0.99 else 'NOT met'}")
    L.append(f"- never < 0.97x in a single seed: worst {gs[0]:.3f}x at {gs[1]} -> {'met' if gs[0] >= 0.97 else 'NOT met'}")
    wins = [(k, v, r) for k, (v, r) in t["max_rate"].items() if v is not None and r is not None and v >= 1.3 * r]
    inf_wins = [k for k, (v, r) in t["max_rate"].items() if v is not None and r is None]
    L.append(f"- max sustainable rate >= 1.3x on >= 5 workloads: {len(wins)} workloads with a finite ratio "
             f"({', '.join(f'{k} {v:g}/{r:g}' for k, v, r in wins) or 'none'}), plus {len(inf_wins)} where vllm_v1 "
             f"sustains no grid rate and kvsched does ({', '.join(inf_wins) or 'none'}) -> "
             f"{'met' if len(wins) >= 5 else ('met only counting the unbounded ratios' if len(wins) + len(inf_wins) >= 5 else 'NOT met')}")
    bad = [x for x in t["tbt"] if x[2] < 0.99]
    L.append(f"- TBT-SLO attainment >= 99% wherever vllm_v1 reaches it: {len(t['tbt'])} points, {len(bad)} below "
             f"({', '.join(f'{a} @{b:g}: {c:.3f}' for a, b, c in bad[:8])}) -> {'met' if not bad else 'NOT met'}")
    bad = [x for x in t["stall"] if not (x[3] * 2 <= x[2])]
    L.append(f"- tbt_max_p99_s >= 2x lower wherever vllm_v1 preempts > 1% of requests: {len(t['stall'])} points, "
             f"{len(bad)} not ({', '.join(f'{a} @{b:g}: {c:.2f} vs {d:.2f} s' for a, b, c, d in bad[:8])}) -> "
             f"{'met' if not bad else 'NOT met'}")
    for wn, r, r4, k in t["kv_gap"]:
        closed = (k - r) / (r4 - r) if (r and r4 and k and r4 > r) else None
        L.append(f"- KV-bound gap on {wn}: vllm_v1 {fmt(r)}, 4x KV {fmt(r4)}, kvsched {fmt(k)} req/s -> "
                 f"{'closed ' + format(closed * 100, '.0f') + '%' if closed is not None else 'n/a'} "
                 f"({'met' if closed is not None and closed >= 0.5 else 'NOT met'})")
    L += ["", "## What each component earns", "",
          "Each ablation turns one component of `kvsched` off ([kvsched_policy.md](kvsched_policy.md)). Goodput: geometric "
          "mean of kvsched's goodput over the ablation's at the rates at and past vllm_v1's knee (points where both are "
          "positive); max rate: workloads where kvsched's max sustainable rate is higher / lower than the ablation's.", "",
          "| ablation | goodput kvsched / ablation | max rate higher / lower |", "| --- | ---: | ---: |"]
    for a in [p for p in presets if p in ABLATIONS]:
        g, hi, lo = ablation_gain(results, workloads, a, meta["knees"])
        L.append(f"| `{a}` | {fmt(g, '.2f')}x | {hi} / {lo} |")
    L += ["", "## Maximum sustainable rate (req/s; both attainments >= 90% there and at every lower grid rate)", ""]
    L.append("| workload | " + " | ".join(presets) + " |")
    L.append("| --- |" + " ---: |" * len(presets))
    for w in workloads:
        L.append(f"| {w[0]} | " + " | ".join(fmt(results[w[0]][p]["max_sustainable_rps"], "g") for p in presets) + " |")
    L += ["", "## Goodput ratio to vllm_v1 (mean over seeds), per workload and rate", ""]
    L += [f"![goodput ratio]({plots[0]})", "", f"![max rate]({plots[1]})", ""]
    for w in workloads:
        r = results[w[0]]
        L += [f"### {w[0]} ({w[2]} on {w[3]}; knee {meta['knees'][w[0]]['rate_rps']:.3g} req/s)", ""]
        L.append("| preset | " + " | ".join(f"{q['rate_rps']:g}" for q in r[REF]["points"]) + " |")
        L.append("| --- |" + " ---: |" * len(r[REF]["points"]))
        L.append("| vllm_v1 goodput (req/s) | " + " | ".join(fmt(q["goodput_rps"]) for q in r[REF]["points"]) + " |")
        for p in presets:
            if p == REF:
                continue
            L.append(f"| {p} | " + " | ".join(fmt(q["goodput_ratio"], ".2f") for q in r[p]["points"]) + " |")
        L.append("")
        L.append("| kvsched vs vllm_v1 | " + " | ".join(f"{q['rate_rps']:g}" for q in r[REF]["points"]) + " |")
        L.append("| --- |" + " ---: |" * len(r[REF]["points"]))
        for lab, p in (("vllm_v1", REF), ("kvsched", FLAGSHIP)):
            L.append(f"| TBT att. {lab} | " + " | ".join(fmt(q["tbt_slo_attainment"], ".3f") for q in r[p]["points"]) + " |")
            L.append(f"| preempted share {lab} | " + " | ".join(fmt(q["preempted_share"], ".3f") for q in r[p]["points"]) + " |")
            L.append(f"| tbt_max p99 s {lab} | " + " | ".join(fmt(q["tbt_max_p99_s"], ".2f") for q in r[p]["points"]) + " |")
        L.append(f"| min-seed goodput ratio kvsched | " + " | ".join(fmt(q["goodput_ratio_min_seed"], ".2f")
                                                                 for q in r[FLAGSHIP]["points"]) + " |")
        L.append("")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
