#!/usr/bin/env python3
"""Generates docs/cluster.md's results section: the replicas each policy needs under each
router (kvsched-sim --find-replicas), llama3-8b on a100-80g, on
  1. the Azure conversation trace replayed 8x faster (the whole trace), and
  2. the Mooncake synthetic trace at its own rate.
Rerun it after the baselines change; it rewrites the part of the report between the markers
<!-- cluster_report:begin --> and <!-- cluster_report:end --> (or prints it with --stdout).

Usage: scripts/cluster_report.py [--sim build/examples/kvsched-sim] [--out docs/cluster.md]
                                 [--json-dir build/cluster_report] [--threads N] [--plot]
--sim may be a command line (split with shlex), e.g. a loader and the binary.
"""
import argparse
import json
import os
import shlex
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLICIES = ["vllm_v1", "sarathi", "accelgen", "cacheopt"]
FLAGSHIP = "kvsched"  # added when the preset exists
ROUTERS = ["round_robin", "least_loaded", "kv_aware", "prefix_aware"]
# SLO: TTFT 1 s, TBT 0.2 s (every gap), one class. The traces' default class (chatbot, TTFT
# 0.25 s / TBT 0.1 s) is infeasible here: about 10% of Azure conv's prompts and most of
# Mooncake's take longer than 0.25 s to prefill on llama3-8b even on an idle replica, so TTFT
# attainment saturates near 90% whatever the replica count and the capacity search returns
# noise. With many replicas TTFT p99 is 0.35 s (conv, 32 replicas) and 0.71 s (Mooncake, 64),
# and the largest gaps stay under 0.2 s (vllm_v1's 2,048-token chunks: 0.17 s at p99.9).
COMMON = ["--model", "llama3-8b", "--gpu", "a100-80g", "-q", "--no-wall-time", "--slo-ttft", "1", "--slo-tbt", "0.2"]
SCENARIOS = [
    ("azure_conv_8x", "Azure conv (19,366 requests, 1 h) replayed 8x faster",
     ["--trace", "data/azure_llm_inference_2023/AzureLLMInferenceTrace_conv.csv", "--rate-scale", "8"]),
    ("mooncake_synthetic", "Mooncake synthetic trace at its own rate (prefix hash_ids)",
     ["--trace", "data/mooncake_fast25/synthetic_trace.jsonl"]),
]
BEGIN, END = "<!-- cluster_report:begin -->", "<!-- cluster_report:end -->"


def has_policy(sim, name):
    r = subprocess.run(sim + ["-q", "--policy", name, "--num-requests", "1"], cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return r.returncode == 0


def run(sim, args, json_path):
    cmd = sim + args + ["--json", json_path]
    print("+", " ".join(shlex.quote(c) for c in cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with open(json_path, encoding="utf-8") as f:
        return json.load(f)


def cell(entry):
    if entry["replicas"] is not None:
        return str(entry["replicas"])
    return "> " + str(max(p["replicas"] for p in entry["probes"]))


def at(entry, n):
    for p in entry["probes"]:
        if p["replicas"] == n:
            return p
    return None


def section(title, cmd_args, result):
    cfg = result["config"]
    cap = result["capacity"]
    policies = list(dict.fromkeys(e["policy"] for e in cap))
    routers = list(dict.fromkeys(e["router"] for e in cap))
    by = {(e["policy"], e["router"]): e for e in cap}
    slo = ", ".join(f"{c['name']} TTFT {c['ttft_s']} s / TBT {c['tbt_s']} s" for c in cfg["slo_classes"])
    out = [f"### {title}", "",
           f"{cfg['num_requests']} requests over {cfg['last_arrival_s'] - cfg['first_arrival_s']:.0f} s; "
           f"{cfg['model']['name']} on {cfg['gpu']['name']}, {cfg['engine']['num_device_blocks']} KV blocks of "
           f"{cfg['engine']['block_size']} tokens per replica; SLO {slo}.", "",
           "Replicas needed (fewest with TTFT and TBT SLO attainment both >= 90%):", "",
           "| policy | " + " | ".join(routers) + " |",
           "| --- |" + " --- |" * len(routers)]
    for p in policies:
        out.append(f"| {p} | " + " | ".join(cell(by[(p, r)]) for r in routers) + " |")
    out += ["", "TTFT / TBT attainment at that size (and one replica fewer):", "",
            "| policy | router | replicas | TTFT ok | TBT ok | at one fewer |", "| --- | --- | --- | --- | --- | --- |"]
    for p in policies:
        for r in routers:
            e = by[(p, r)]
            n = e["replicas"]
            if n is None:
                out.append(f"| {p} | {r} | {cell(e)} | - | - | - |")
                continue
            a, b = at(e, n), at(e, n - 1)
            fewer = f"{100 * b['ttft_slo_attainment']:.1f}% / {100 * b['tbt_slo_attainment']:.1f}%" if b else "-"
            out.append(f"| {p} | {r} | {n} | {100 * a['ttft_slo_attainment']:.1f}% | "
                       f"{100 * a['tbt_slo_attainment']:.1f}% | {fewer} |")
    out += ["", "Command:", "", "```sh", "build/examples/kvsched-sim " + " ".join(shlex.quote(c) for c in cmd_args), "```", ""]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sim", default=os.path.join(ROOT, "build/examples/kvsched-sim"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/cluster.md"))
    ap.add_argument("--json-dir", default=os.path.join(ROOT, "build/cluster_report"))
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--max-replicas", type=int, default=64)
    ap.add_argument("--plot", action="store_true", help="also write capacity plots into --json-dir")
    ap.add_argument("--stdout", action="store_true", help="print the section instead of rewriting --out")
    a = ap.parse_args()
    sim = shlex.split(a.sim)
    os.makedirs(a.json_dir, exist_ok=True)
    policies = POLICIES + ([FLAGSHIP] if has_policy(sim, FLAGSHIP) else [])
    parts = [BEGIN, "", "Generated by `scripts/cluster_report.py` (policies: " + ", ".join(policies) + ").", ""]
    for key, title, args in SCENARIOS:
        cmd_args = args + COMMON + ["--policy", ",".join(policies), "--router", ",".join(ROUTERS), "--find-replicas",
                                    "--max-replicas", str(a.max_replicas)]
        extra = ["--threads", str(a.threads)]
        if a.plot:
            extra += ["--plot", os.path.join(a.json_dir, key)]
        result = run(sim, cmd_args + extra, os.path.join(a.json_dir, key + ".json"))
        parts.append(section(title, cmd_args, result))
    parts.append(END)
    text = "\n".join(parts) + "\n"
    if a.stdout:
        sys.stdout.write(text)
        return 0
    with open(a.out, encoding="utf-8") as f:
        doc = f.read()
    if BEGIN in doc and END in doc:
        doc = doc[: doc.index(BEGIN)] + text + doc[doc.index(END) + len(END) + 1:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    with open(a.out, "w", encoding="utf-8") as f:
        f.write(doc)
    print("wrote", a.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
