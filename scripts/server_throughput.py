#!/usr/bin/env python3
"""Throughput of a running kvsched-server, measured through its HTTP API (bench/README.md):
decode tokens/s at batch 1 and at batch B (B concurrent streams, counted while all B decode),
and prefill tokens/s (a long prompt, max_tokens 1: prompt tokens / time to first token).
With --pid, also per CPU second of the server process (all its threads: engine and HTTP), which
a busy machine disturbs less than wall time.
Standard library only; loopback addresses only.

  python3 scripts/server_throughput.py --url http://127.0.0.1:8000 --batch 32
"""
import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))
from loadgen import check_loopback  # noqa: E402


def stream(url, prompt_len, max_tokens, seed):
    """Token times (s, monotonic) of one streamed completion with ignore_eos."""
    u = urllib.parse.urlparse(url)
    prompt = [256] + [32 + (seed * 31 + i * 7) % 90 for i in range(prompt_len - 1)]
    body = {"prompt": prompt, "max_tokens": max_tokens, "stream": True, "ignore_eos": True, "temperature": 0,
            "stream_options": {"continuous_usage_stats": True}}
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    t0 = time.monotonic()
    conn.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    res = conn.getresponse()
    if res.status != 200:
        raise RuntimeError(f"HTTP {res.status}: {res.read()[:200]!r}")
    times, seen = [], 0
    for raw in res:
        line = raw.strip()
        if not line.startswith(b"data: ") or line == b"data: [DONE]":
            continue
        n = (json.loads(line[6:]).get("usage") or {}).get("completion_tokens", seen)
        times.extend([time.monotonic()] * (n - seen))
        seen = max(seen, n)
    conn.close()
    return t0, times


def cpu_s(pid):
    """User + system CPU seconds of process `pid` so far (/proc/PID/stat), or None."""
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


CPU = []  # (tokens, server CPU seconds) of the last measurement


def decode_rate(url, batch, prompt_len, max_tokens, pid=None):
    """Output tokens/s over the window in which every one of `batch` streams is decoding."""
    c0 = cpu_s(pid)
    results = [None] * batch

    def one(i):
        results[i] = stream(url, prompt_len, max_tokens, i)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(batch)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if pid:
        CPU.append((sum(len(r[1]) for r in results), cpu_s(pid) - c0))
    lo = max(r[1][0] for r in results)   # all have their first token
    hi = min(r[1][-1] for r in results)  # none has finished
    n = sum(sum(1 for x in r[1] if lo < x <= hi) for r in results)
    return n / (hi - lo) if hi > lo else float("nan")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--decode-tokens", type=int, default=256, help="output tokens per decode stream")
    ap.add_argument("--prompt", type=int, default=16, help="prompt tokens of the decode streams")
    ap.add_argument("--prefill-prompt", type=int, default=1024, help="prompt tokens of the prefill probe")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pid", type=int, help="the server's pid: also report tokens per CPU second of the server process")
    a = ap.parse_args(argv)
    check_loopback(a.url)
    if not 1 <= a.batch <= 512:
        sys.exit("server_throughput: error: --batch must be in 1..512")
    stream(a.url, 8, 4, 0)  # warm-up
    r1 = [decode_rate(a.url, 1, a.prompt, a.decode_tokens, a.pid) for _ in range(a.reps)]
    c1, CPU[:] = list(CPU), []
    rB = [decode_rate(a.url, a.batch, a.prompt, a.decode_tokens, a.pid) for _ in range(a.reps)]
    cB, CPU[:] = list(CPU), []
    print("decode tok/s per rep: batch 1", [round(x, 1) for x in r1], f"batch {a.batch}", [round(x, 1) for x in rB], file=sys.stderr)
    d1, dB = statistics.median(r1), statistics.median(rB)
    pf, cp = [], []
    for r in range(a.reps):
        c0 = cpu_s(a.pid)
        t0, times = stream(a.url, a.prefill_prompt, 1, 1000 + r)
        pf.append(a.prefill_prompt / (times[0] - t0))
        if a.pid:
            cp.append(a.prefill_prompt / (cpu_s(a.pid) - c0))
    print("prefill tok/s per rep", [round(x, 1) for x in pf], file=sys.stderr)
    p = statistics.median(pf)
    out = {"decode_tok_s_batch1": round(d1, 1), f"decode_tok_s_batch{a.batch}": round(dB, 1),
           f"prefill_tok_s_prompt{a.prefill_prompt}": round(p, 1)}
    if a.pid:  # per CPU second of the server process (all its threads), medians over reps
        out["per_server_cpu_s"] = {"decode_batch1": round(statistics.median(t / c for t, c in c1 if c > 0), 1),
                                   f"decode_batch{a.batch}": round(statistics.median(t / c for t, c in cB if c > 0), 1),
                                   "prefill": round(statistics.median(cp), 1) if cp else None}
    print(json.dumps(out))


if __name__ == "__main__":
    sys.exit(main())
