#!/usr/bin/env python3
"""Load generator for kvsched-server: replays a trace (Azure LLM inference 2023 CSV:
TIMESTAMP,ContextTokens,GeneratedTokens) against the server's /v1/completions with streaming,
and reports what kvsched-sim reports for a run (sim/metrics.hpp): TTFT, TBT (every gap between
consecutive output tokens), TPOT, E2E, SLO attainment and goodput over the makespan.

Each request sends exactly ContextTokens prompt token ids (<bos> then random bytes) and asks
for GeneratedTokens tokens with ignore_eos, so that the server does what the trace says
(kvsched-sim's oracle output lengths). Token times come from the stream: the server's
`continuous_usage_stats` chunks carry the token count, so a chunk holding k new tokens stamps
all k with its arrival time. Standard library only. Loopback addresses only; bounded by
--num-requests (at most 5000) and --time-limit.

  python3 scripts/loadgen.py --url http://127.0.0.1:8000 --num-requests 200 --rate 4 \
      --max-prompt 1024 --max-output 256 --slo-ttft 1 --slo-tbt 0.2 --json out.json --write-trace used.csv
"""
import argparse
import csv
import datetime as dt
import http.client
import ipaddress
import json
import math
import random
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRACE = ROOT / "data" / "azure_llm_inference_2023" / "AzureLLMInferenceTrace_conv.csv"


def parse_ts(s: str) -> float:
    """Azure timestamp 'YYYY-MM-DD hh:mm:ss[.fffffff]' -> seconds (fraction cut to microseconds)."""
    base, _, frac = s.strip().partition(".")
    t = dt.datetime.strptime(base, "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.timezone.utc).timestamp()
    return t + (float("0." + frac) if frac else 0.0)


def read_trace(path: Path, n: int, max_prompt: int, max_output: int):
    """First n rows as (arrival offset s, prompt tokens, output tokens), lengths clipped."""
    rows = []
    with open(path, newline="") as f:
        for i, r in enumerate(csv.DictReader(f)):
            if len(rows) >= n:
                break
            try:
                t, p, o = parse_ts(r["TIMESTAMP"]), int(r["ContextTokens"]), int(r["GeneratedTokens"])
            except (KeyError, ValueError) as e:
                sys.exit(f"loadgen: error: {path}:{i + 2}: {e}")
            rows.append((t, max(2, min(p, max_prompt)), max(1, min(o, max_output))))
    if not rows:
        sys.exit(f"loadgen: error: {path}: no request")
    t0 = rows[0][0]
    return [(t - t0, p, o) for t, p, o in rows]


def percentile(xs, q):
    """Type-7 percentile (linear interpolation), as kvsched-sim's percentile_sorted."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    h = (len(s) - 1) * q
    lo = math.floor(h)
    return s[lo] + (h - lo) * (s[min(lo + 1, len(s) - 1)] - s[lo])


class Outcome:
    def __init__(self, arrival, prompt, output):
        self.arrival, self.prompt, self.output = arrival, prompt, output
        self.times = []          # one time per output token (s, loadgen clock)
        self.finish = None       # finish_reason, or None
        self.error = None


def run_one(url, model, o: Outcome, t_start, rng_seed, timeout):
    u = urllib.parse.urlparse(url)
    rng = random.Random(rng_seed)
    prompt = [256] + [rng.randrange(32, 127) for _ in range(o.prompt - 1)]
    body = {"prompt": prompt, "max_tokens": o.output, "stream": True, "ignore_eos": True, "temperature": 0,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True}}
    if model:
        body["model"] = model
    delay = t_start + o.arrival - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    try:
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout)
        conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
        res = conn.getresponse()
        if res.status != 200:
            o.error = f"HTTP {res.status}: {res.read()[:200]!r}"
            return
        seen = 0
        for raw in res:
            line = raw.strip()
            if not line.startswith(b"data: "):
                continue
            now = time.monotonic() - t_start
            data = line[6:]
            if data == b"[DONE]":
                break
            ev = json.loads(data)
            if "error" in ev:
                o.error = ev["error"].get("message")
                break
            n = (ev.get("usage") or {}).get("completion_tokens", seen)
            o.times.extend([now] * (n - seen))
            seen = max(seen, n)
            for ch in ev.get("choices", []):
                if ch.get("finish_reason"):
                    o.finish = ch["finish_reason"]
        conn.close()
    except (OSError, http.client.HTTPException, ValueError) as e:
        o.error = f"{type(e).__name__}: {e}"


def summarize(outs, slo_ttft, slo_tbt):
    """Metrics as kvsched-sim computes them (sim/metrics.hpp compute_metrics)."""
    n = len(outs)
    fin = [o for o in outs if o.finish in ("length", "stop") and o.error is None]
    ttft = [o.times[0] - o.arrival for o in outs if o.times]
    gaps, tbt_max, tpot, e2e = [], [], [], []
    ttft_ok = tbt_ok = both = gaps_ok = 0
    for o in outs:
        g = [b - a for a, b in zip(o.times, o.times[1:])]
        gaps += g
        gaps_ok += sum(1 for x in g if slo_tbt <= 0 or x <= slo_tbt)
        if len(o.times) >= 2:
            tbt_max.append(max(g))
            tpot.append((o.times[-1] - o.times[0]) / (len(o.times) - 1))
        done = o in fin
        if done:
            e2e.append(o.times[-1] - o.arrival)
        t_ok = bool(o.times) and (slo_ttft <= 0 or o.times[0] - o.arrival <= slo_ttft)
        b_ok = done and (slo_tbt <= 0 or all(x <= slo_tbt for x in g))
        ttft_ok += t_ok
        tbt_ok += b_ok
        both += t_ok and b_ok
    last = max((o.times[-1] for o in outs if o.times), default=0.0)
    makespan = last - min(o.arrival for o in outs)

    def summ(xs):
        return {"mean": sum(xs) / len(xs) if xs else float("nan"), "p50": percentile(xs, 0.5), "p90": percentile(xs, 0.9),
                "p99": percentile(xs, 0.99), "max": max(xs) if xs else float("nan")}

    return {
        "num_requests": n, "num_finished": len(fin), "num_errors": sum(1 for o in outs if o.error),
        "output_tokens": sum(len(o.times) for o in outs),
        "ttft_s": summ(ttft), "tbt_s": summ(gaps), "tbt_max_s": summ(tbt_max), "tpot_s": summ(tpot), "e2e_s": summ(e2e),
        "ttft_slo_attainment": ttft_ok / n, "tbt_slo_attainment": tbt_ok / n,
        "tbt_gap_slo_attainment": gaps_ok / len(gaps) if gaps else 1.0, "slo_attainment": both / n,
        "makespan_s": makespan, "goodput_rps": both / makespan if makespan > 0 else 0.0,
        "throughput_rps": len(fin) / makespan if makespan > 0 else 0.0,
        "throughput_tok_s": sum(len(o.times) for o in outs) / makespan if makespan > 0 else 0.0,
    }


def check_loopback(url):
    host = urllib.parse.urlparse(url).hostname or ""
    try:
        ok = all(ipaddress.ip_address(a[4][0]).is_loopback for a in socket.getaddrinfo(host, None))
    except (socket.gaierror, ValueError):
        ok = False
    if not ok:
        sys.exit(f"loadgen: error: --url {url}: only loopback addresses are allowed")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--model", default="", help="model id (default: the server's)")
    ap.add_argument("--trace", type=Path, default=DEFAULT_TRACE, help="Azure-format trace CSV")
    ap.add_argument("--num-requests", type=int, default=100, help="first N requests of the trace (<= 5000)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--rate-scale", type=float, default=1.0, help="replay arrivals X times faster")
    g.add_argument("--rate", type=float, help="rescale arrivals to this mean rate (req/s)")
    ap.add_argument("--max-prompt", type=int, default=1024, help="clip prompt lengths (tokens)")
    ap.add_argument("--max-output", type=int, default=256, help="clip output lengths (tokens)")
    ap.add_argument("--slo-ttft", type=float, default=0.0, help="TTFT target (s); 0 = none")
    ap.add_argument("--slo-tbt", type=float, default=0.0, help="TBT target for every gap (s); 0 = none")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=900.0, help="abandon the run after S seconds")
    ap.add_argument("--json", type=Path, help="write metrics (and per-request outcomes) here")
    ap.add_argument("--write-trace", type=Path, help="write the replayed requests as an Azure CSV (for kvsched-sim)")
    a = ap.parse_args(argv)
    if not 1 <= a.num_requests <= 5000:
        sys.exit("loadgen: error: --num-requests must be in 1..5000")
    if (a.rate is not None and a.rate <= 0) or a.rate_scale <= 0:
        sys.exit("loadgen: error: --rate / --rate-scale must be > 0")
    check_loopback(a.url)
    rows = read_trace(a.trace, a.num_requests, a.max_prompt, a.max_output)
    span = rows[-1][0]
    scale = (a.rate * span / max(1, len(rows) - 1)) if a.rate is not None and span > 0 else a.rate_scale
    rows = [(t / scale, p, o) for t, p, o in rows]
    if a.write_trace:
        base = dt.datetime(2023, 11, 16, tzinfo=dt.timezone.utc)
        with open(a.write_trace, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["TIMESTAMP", "ContextTokens", "GeneratedTokens"])
            for t, p, o in rows:
                w.writerow([(base + dt.timedelta(seconds=t)).strftime("%Y-%m-%d %H:%M:%S.%f") + "0", p, o])
    outs = [Outcome(*r) for r in rows]
    t_start = time.monotonic() + 0.2
    threads = [threading.Thread(target=run_one, args=(a.url, a.model, o, t_start, a.seed * 100003 + i, a.time_limit), daemon=True)
               for i, o in enumerate(outs)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + a.time_limit
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    m = summarize(outs, a.slo_ttft, a.slo_tbt)
    m["config"] = {"trace": str(a.trace), "num_requests": len(rows), "arrival_scale": scale, "max_prompt": a.max_prompt,
                   "max_output": a.max_output, "slo_ttft_s": a.slo_ttft, "slo_tbt_s": a.slo_tbt}
    errors = [o.error for o in outs if o.error]
    print(f"requests {m['num_requests']}  finished {m['num_finished']}  errors {m['num_errors']}  makespan {m['makespan_s']:.2f} s")
    for k in ("ttft_s", "tbt_s", "tpot_s", "e2e_s"):
        s = m[k]
        print(f"{k:8s} mean {s['mean']:.4f}  p50 {s['p50']:.4f}  p90 {s['p90']:.4f}  p99 {s['p99']:.4f}")
    print(f"attainment ttft {m['ttft_slo_attainment']:.3f}  tbt {m['tbt_slo_attainment']:.3f}  both {m['slo_attainment']:.3f}"
          f"  goodput {m['goodput_rps']:.3f} req/s  throughput {m['throughput_rps']:.3f} req/s, {m['throughput_tok_s']:.1f} tok/s")
    if errors:
        print("first errors:", errors[:3])
    if a.json:
        a.json.write_text(json.dumps(m, indent=1))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
