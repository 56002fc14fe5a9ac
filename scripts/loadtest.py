#!/usr/bin/env python3
"""Bounded loopback load test of a running kvsched-server (scripts/loadtest_asan.sh runs it
against an ASan build). For --duration seconds, --workers threads each loop over a mix:
streamed and whole completions, chats, clients that hang up mid-stream or before the answer,
malformed bodies, and bursts beyond the queue bound; a few slowloris sockets trickle headers.
Checks every answer's shape (200 / 400 / 429 / 503 with OpenAI's error body), then that the
server returns to idle: /metrics shows no running or waiting request and an empty KV pool.
Standard library only; loopback only; at most --max-requests requests. Exit 1 on any problem.
"""
import argparse
import http.client
import json
import random
import re
import socket
import sys
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import check_loopback  # noqa: E402

problems, lock = [], threading.Lock()
counts = {}


def note(kind, problem=None):
    with lock:
        counts[kind] = counts.get(kind, 0) + 1
        if problem and len(problems) < 50:
            problems.append(f"{kind}: {problem}")


def metrics(host, port):
    c = http.client.HTTPConnection(host, port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    return {m.group(1): float(m.group(2)) for m in re.finditer(r'^(vllm:[a-z_]+)\{[^}]*\} (\S+)$', text, re.M)}


def post(host, port, path, body, stream=False):
    c = http.client.HTTPConnection(host, port, timeout=120)
    c.request("POST", path, body if isinstance(body, (bytes, str)) else json.dumps(body), {"Content-Type": "application/json"})
    r = c.getresponse()
    return c, r


def check_error(kind, r, statuses):
    data = r.read()
    if r.status not in statuses:
        return note(kind, f"status {r.status}: {data[:120]!r}")
    try:
        err = json.loads(data)["error"]
        assert {"message", "type", "param", "code"} <= set(err)
    except (ValueError, KeyError, AssertionError, TypeError):
        return note(kind, f"not an OpenAI error body: {data[:120]!r}")
    note(kind)


def one(host, port, rng):
    k = rng.random()
    mt = rng.randint(1, 64)
    prompt = "".join(rng.choice("abcdefgh ") for _ in range(rng.randint(1, 400)))
    if k < 0.3:  # streamed completion, read to the end
        c, r = post(host, port, "/v1/completions", {"prompt": prompt, "max_tokens": mt, "stream": True, "ignore_eos": True})
        if r.status in (429, 503):
            return check_error("busy", r, (429, 503))
        body = r.read().decode(errors="replace")
        c.close()
        if r.status != 200 or not body.rstrip().endswith("data: [DONE]"):
            return note("stream", f"status {r.status}, tail {body[-120:]!r}")
        note("stream")
    elif k < 0.5:  # whole chat completion
        c, r = post(host, port, "/v1/chat/completions", {"messages": [{"role": "user", "content": prompt}], "max_tokens": mt,
                                                          "temperature": rng.choice([0, 0.7, 1.0]), "seed": rng.randint(0, 9)})
        if r.status in (429, 503):
            return check_error("busy", r, (429, 503))
        data = r.read()
        c.close()
        try:
            j = json.loads(data)
            assert r.status == 200 and j["choices"][0]["finish_reason"] in ("stop", "length")
            note("chat")
        except (ValueError, KeyError, AssertionError):
            note("chat", f"status {r.status}: {data[:120]!r}")
    elif k < 0.65:  # hang up mid-stream
        c, r = post(host, port, "/v1/completions", {"prompt": prompt, "max_tokens": 1000, "stream": True, "ignore_eos": True})
        if r.status in (429, 503):
            return check_error("busy", r, (429, 503))
        if r.status != 200:
            return note("hangup_stream", f"status {r.status}: {r.read()[:120]!r}")
        r.read1(512)
        c.close()
        note("hangup_stream")
    elif k < 0.75:  # hang up while a whole answer is computed
        s = socket.create_connection((host, port), timeout=10)
        b = json.dumps({"prompt": prompt, "max_tokens": 1000, "ignore_eos": True})
        s.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   f"Content-Length: {len(b)}\r\n\r\n{b}").encode())
        time.sleep(rng.uniform(0.01, 0.3))
        s.close()
        note("hangup_whole")
    elif k < 0.96:  # bad input
        bad = rng.choice(['{', '{"prompt": "x", "max_tokens": 0}', '{"prompt": "x", "stream": "yes"}', b'{"prompt": "\xff"}',
                          '{"prompt": "' + "x" * 3000 + '"}', '{"messages": 3}', '[]', '{"prompt": [1, 99999]}'])
        path = "/v1/chat/completions" if "messages" in str(bad) else "/v1/completions"
        c, r = post(host, port, path, bad)
        check_error("bad_input", r, (400,))
        c.close()
    else:  # burst: many at once, some 429s are expected
        ts = []
        for _ in range(rng.randint(8, 24)):
            def burst():
                try:
                    c, r = post(host, port, "/v1/completions", {"prompt": "burst", "max_tokens": 4})
                    if r.status == 200:
                        r.read()
                        note("burst_ok")
                    else:
                        check_error("burst_busy", r, (429, 503))
                    c.close()
                except OSError as e:
                    note("burst", repr(e))
            ts.append(threading.Thread(target=burst))
            ts[-1].start()
        for t in ts:
            t.join()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--duration", type=float, default=180.0, help="seconds of load (<= 1800)")
    ap.add_argument("--workers", type=int, default=24, help="client threads (<= 256)")
    ap.add_argument("--max-requests", type=int, default=20000)
    ap.add_argument("--slowloris", type=int, default=16, help="sockets that trickle headers (<= 64)")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not (0 < a.duration <= 1800 and 0 < a.workers <= 256 and 0 <= a.slowloris <= 64):
        sys.exit("loadtest: error: bounds: --duration <= 1800, --workers <= 256, --slowloris <= 64")
    check_loopback(a.url)
    u = urllib.parse.urlparse(a.url)
    host, port = u.hostname, u.port
    end = time.monotonic() + a.duration
    budget = [a.max_requests]

    def worker(i):
        rng = random.Random(a.seed * 1000 + i)
        while time.monotonic() < end:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            try:
                one(host, port, rng)
            except (OSError, http.client.HTTPException) as e:
                note("client", repr(e))

    def slowloris(i):
        while time.monotonic() < end:
            try:
                s = socket.create_connection((host, port), timeout=60)
                s.sendall(b"POST /v1/completions HTTP/1.1\r\n")
                while time.monotonic() < end:
                    time.sleep(2)
                    s.sendall(b"X-a: b\r\n")
            except OSError:
                note("slowloris_cut")  # the server shut it down: expected
            time.sleep(0.5)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.workers)]
    ts += [threading.Thread(target=slowloris, args=(i,), daemon=True) for i in range(a.slowloris)]
    for t in ts:
        t.start()
    for t in ts[: a.workers]:
        t.join()
    # /health must answer throughout; then the server must return to idle.
    c = http.client.HTTPConnection(host, port, timeout=10)
    c.request("GET", "/health")
    if c.getresponse().status != 200:
        note("health", "not 200")
    deadline = time.monotonic() + 30
    while True:
        m = metrics(host, port)
        idle = m.get("vllm:num_requests_running") == 0 and m.get("vllm:num_requests_waiting") == 0 and \
            m.get("vllm:kv_cache_usage_perc") == 0
        if idle or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not idle:
        note("idle", f"server not idle after the load: {m}")
    print("loadtest:", json.dumps(counts, sort_keys=True))
    for p in problems:
        print("loadtest: PROBLEM", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
