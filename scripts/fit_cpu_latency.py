#!/usr/bin/env python3
"""Fits kvsched's latency model (latency/latency_model.hpp LatencyCoeffs) to the server's own
iteration times (kvsched-server --iteration-log FILE), for kvsched-sim --latency-json.

Model fitted (non-negative least squares, absolute or --relative error, on every iteration with a forward pass):
  t = cpu_overhead_s + cpu_overhead_s_per_seq * num_seqs + linear_s_per_token * tokens
    + prefill_attn_s_per_pair * prefill (query, key) pairs + decode_attn_s_per_ctx_token * decode context
(pivot_tokens = 0: a CPU has no flat region). Swap terms are not fitted (swap_bytes_per_s is
--swap-bytes-per-s, a host memcpy rate). Prints the held-out error (fit on even rows, tested on
odd rows) and writes the fit on all rows. Needs numpy (scripts/setup_pyenv.sh).

  python3 scripts/fit_cpu_latency.py iterations.csv --kv-bytes-per-token 4096 -o cpu_latency.json
"""
import argparse
import csv
import json
import sys

import numpy as np

TERMS = ["cpu_overhead_s", "cpu_overhead_s_per_seq", "linear_s_per_token", "prefill_attn_s_per_pair",
         "decode_attn_s_per_ctx_token"]


def features(rows):
    X, y = [], []
    for r in rows:
        seqs = int(r["num_prefills"]) + int(r["num_decodes"])
        tokens = int(r["prefill_tokens"]) + int(r["num_decodes"])
        if tokens == 0:
            continue
        X.append([1.0, seqs, tokens, float(r["prefill_attn_pairs"]), float(r["decode_context_tokens"])])
        y.append(float(r["duration_s"]))
    return np.array(X), np.array(y)


def nnls(X, y, relative=False):
    """Least squares with coefficients >= 0 (drop the most negative term, refit). Absolute
    error by default: long iterations weigh most, which keeps the summed time (what queueing
    follows) right; `relative` weighs rows 1/y (a 1 ms decode counts as much as a 100 ms prefill)."""
    w = 1.0 / np.maximum(y, 1e-6) if relative else np.ones_like(y)
    Xw, yw = X * w[:, None], y * w
    active = list(range(X.shape[1]))
    while True:
        c, *_ = np.linalg.lstsq(Xw[:, active], yw, rcond=None)
        if (c >= 0).all():
            out = np.zeros(X.shape[1])
            out[active] = c
            return out
        active.pop(int(np.argmin(c)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", help="CSV of kvsched-server --iteration-log")
    ap.add_argument("-o", "--output", required=True, help="latency coefficients JSON to write")
    ap.add_argument("--kv-bytes-per-token", type=int, required=True, help="2 x layers x kv_heads x head_dim x dtype bytes")
    ap.add_argument("--swap-bytes-per-s", type=float, default=5e9, help="host copy rate for swap (bytes/s)")
    ap.add_argument("--relative", action="store_true", help="fit the relative error instead of the absolute one")
    ap.add_argument("--skip", type=int, default=5, help="leading iterations to drop (warm-up)")
    a = ap.parse_args(argv)
    with open(a.log, newline="") as f:
        rows = [r for r in csv.DictReader(f) if None not in r.values()][a.skip:]  # a live log may end mid-row
    X, y = features(rows)
    if len(y) < 2 * len(TERMS):
        sys.exit(f"fit_cpu_latency: error: {a.log}: {len(y)} iterations with a forward pass, need >= {2 * len(TERMS)}")
    c_even = nnls(X[0::2], y[0::2], a.relative)
    pred = X[1::2] @ c_even
    rel = np.abs(pred - y[1::2]) / np.maximum(y[1::2], 1e-9)
    total_err = abs(pred.sum() - y[1::2].sum()) / y[1::2].sum()
    c = nnls(X, y, a.relative)
    # Every key is written: kvsched-sim --latency-json overlays the file on its GPU fit, so a
    # key left out would keep a GPU value.
    coeffs = {k: 0.0 for k in ("linear_base_s", "pivot_tokens", "prefill_attn_s_per_chunk", "prefill_attn_s_per_token",
                                "prefill_attn_s_per_sq_token", "decode_attn_base_s", "decode_attn_s_per_seq",
                                "prefill_attn_s_per_kv_token")}
    coeffs["linear_table"] = []               # no profile table: the linear fit
    coeffs["cpu_overhead_mode"] = "serial"    # the server's loop is synchronous: schedule, then execute
    coeffs.update({k: float(v) for k, v in zip(TERMS, c)})
    coeffs.update({"kv_bytes_per_token": a.kv_bytes_per_token, "swap_bytes_per_s": a.swap_bytes_per_s, "swap_latency_s": 0.0})
    with open(a.output, "w") as f:
        json.dump(coeffs, f, indent=1)
    print(f"fit_cpu_latency: {len(y)} iterations; held-out: median |error| {100 * np.median(rel):.1f}%, "
          f"p90 {100 * np.percentile(rel, 90):.1f}%, error of the summed time {100 * total_err:.1f}%")
    for k in TERMS:
        print(f"  {k} = {coeffs[k]:.4g}")


if __name__ == "__main__":
    sys.exit(main())
