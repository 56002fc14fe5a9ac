#!/usr/bin/env python3
"""Plots a kvsched-sim --json file: TTFT and TBT CDFs per policy, SLO attainment against
arrival rate (when the run has a --sweep-rate). Needs matplotlib (Debian: python3-matplotlib).

Usage: plot_sim.py RESULT.json OUT_DIR
Writes OUT_DIR/ttft_cdf.png, OUT_DIR/tbt_cdf.png, OUT_DIR/kv_usage.png, with a sweep
OUT_DIR/attainment_vs_rate.png, and with --find-replicas OUT_DIR/replicas_needed.png.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _title(cfg):
    model = cfg.get("model", {}).get("name", "?")
    gpu = cfg.get("gpu", {}).get("name", "?")
    return f"{cfg.get('num_requests', '?')} requests, {model} on {gpu}"


def _slo_lines(ax, cfg, key, scale):
    for c in cfg.get("slo_classes", []):
        v = c.get(key, 0)
        if v and v > 0:
            ax.axvline(v * scale, color="grey", linestyle=":", linewidth=1)
            ax.text(v * scale, 0.02, f" {c['name']} SLO", rotation=90, color="grey", fontsize=8, va="bottom")


def _cdf(ax, runs, key, scale, xlabel):
    for run in runs:
        cdf = run.get("cdf", {})
        xs = [x * scale for x in cdf.get(key, []) if x is not None]
        ps = cdf.get("p", [])[: len(xs)]
        if xs:
            ax.plot(xs, ps, label=run["policy"], linewidth=1.5)
    ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.set_ylim(0, 1.01)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def main(argv):
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        result = json.load(f)
    out = argv[2]
    os.makedirs(out, exist_ok=True)
    cfg, runs = result.get("config", {}), result.get("runs", [])

    fig, ax = plt.subplots(figsize=(7, 4.5))
    _cdf(ax, runs, "ttft_s", 1.0, "TTFT (s)")
    _slo_lines(ax, cfg, "ttft_s", 1.0)
    ax.set_title("Time to first token, " + _title(cfg), fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "ttft_cdf.png"), dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    _cdf(axes[0], runs, "tbt_s", 1e3, "gap between consecutive tokens (ms)")
    _slo_lines(axes[0], cfg, "tbt_s", 1e3)
    axes[0].set_title("TBT, every gap", fontsize=10)
    _cdf(axes[1], runs, "tbt_max_s", 1e3, "largest gap of each request (ms)")
    _slo_lines(axes[1], cfg, "tbt_s", 1e3)
    axes[1].set_title("TBT, each request's longest stall", fontsize=10)
    fig.suptitle(_title(cfg), fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "tbt_cdf.png"), dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    for run in runs:
        kv = run.get("kv_timeline", {})
        if kv.get("t_s"):
            line = ax.plot(kv["t_s"], kv["used_blocks"], label=run["policy"], linewidth=1)[0]
            if any(kv.get("promised_blocks", [])):
                ax.plot(kv["t_s"], kv["promised_blocks"], linestyle="--", color=line.get_color(), linewidth=0.8)
    blocks = cfg.get("engine", {}).get("num_device_blocks")
    if blocks:
        ax.axhline(blocks, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("simulated time (s)")
    ax.set_ylabel("device KV blocks: used (solid), promised (dashed)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("KV cache occupancy, " + _title(cfg), fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "kv_usage.png"), dpi=120)
    plt.close(fig)

    sweep = result.get("sweep", [])
    if sweep:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        for s in sweep:
            rates = [p["rate_rps"] for p in s["points"]]
            line = ax.plot(rates, [100 * p["slo_attainment"] for p in s["points"]], marker="o", label=s["policy"])[0]
            ax.plot(rates, [100 * p["ttft_slo_attainment"] for p in s["points"]], linestyle="--",
                    color=line.get_color(), alpha=0.5, linewidth=1)
            ax.plot(rates, [100 * p["tbt_slo_attainment"] for p in s["points"]], linestyle=":",
                    color=line.get_color(), alpha=0.5, linewidth=1)
        ax.axhline(90, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("arrival rate (requests/s)")
        ax.set_ylabel("SLO attainment (%): both solid, TTFT dashed, TBT dotted")
        ax.set_ylim(0, 101)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title("SLO attainment against rate, " + _title(cfg), fontsize=10)
        fig.tight_layout()
        fig.savefig(os.path.join(out, "attainment_vs_rate.png"), dpi=120)
        plt.close(fig)

    if result.get("capacity"):
        _capacity(result["capacity"], cfg, out)
    return 0


def _capacity(cap, cfg, out):
    """replicas_needed.png: per policy, one bar per router; hatched bars where even the largest
    size tried misses the SLOs (drawn at that size)."""
    policies = list(dict.fromkeys(e["policy"] for e in cap))
    routers = list(dict.fromkeys(e["router"] for e in cap))
    by = {(e["policy"], e["router"]): e for e in cap}
    width = 0.8 / max(1, len(routers))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(policies)), 4.5))
    for k, r in enumerate(routers):
        xs, hs, missed = [], [], []
        for i, p in enumerate(policies):
            e = by.get((p, r))
            if e is None:
                continue
            n = e["replicas"]
            xs.append(i + (k - (len(routers) - 1) / 2) * width)
            hs.append(n if n is not None else max(q["replicas"] for q in e["probes"]))
            missed.append(n is None)
        bars = ax.bar(xs, hs, width=width, label=r)
        for b, m in zip(bars, missed):
            if m:
                b.set_hatch("//")
                b.set_alpha(0.5)
    ax.set_xticks(range(len(policies)))
    ax.set_xticklabels(policies, fontsize=8)
    ax.set_ylabel("replicas needed (both SLO attainments >= 90%)")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(fontsize=8, title="router")
    ax.set_title("Capacity, " + _title(cfg) + " (hatched: not reached)", fontsize=10)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "replicas_needed.png"), dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
