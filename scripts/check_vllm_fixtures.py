#!/usr/bin/env python3
"""Checks tests/fixtures/vllm_v1/*.json against the format in docs/vllm_fixtures.md, with plain
python3 (no vLLM): replays each file's step records, keeping every request's computed and
output token counts from the records alone, and checks that they agree with one another (the
budgets hold, a request finishes exactly when its max_tokens or max_model_len is reached,
preempted requests restart from their prefix-cache hit, free blocks stay in range, ...).

    python3 scripts/check_vllm_fixtures.py [FILE ...]      exit 0 if all hold, 1 otherwise
"""
import glob
import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def check(path):
    with open(path) as f:
        fx = json.load(f)
    cfg = fx["config"]
    bs, mml = cfg["block_size"], cfg["max_model_len"]
    errs = []

    def err(k, msg):
        errs.append(f"{os.path.basename(path)} step {k}: {msg}")

    reqs = {r["id"]: r for r in fx["requests"]}
    arrivals = {}
    for r in fx["requests"]:
        if len(r["blocks"]) != -(-r["prompt_len"] // bs):
            err("-", f"request {r['id']}: {len(r['blocks'])} blocks for {r['prompt_len']} tokens")
        if r["rejected"] != (r["prompt_len"] >= mml):
            err("-", f"request {r['id']}: rejected flag")
        if not r["rejected"]:
            arrivals.setdefault(r["arrival_step"], []).append(r["id"])
    state = {}  # id -> [status, computed, outputs]
    waiting = []
    for st in fx["steps"]:
        k = st["k"]
        for rid in arrivals.get(k, ()):
            state[rid] = ["waiting", 0, 0]
            waiting.append(rid)
        ids = [x[0] for x in st["s"]]
        if sum(x[1] for x in st["s"]) > cfg["max_num_batched_tokens"]:
            err(k, "token budget exceeded")
        if len(set(ids)) != len(ids) or any(x[1] <= 0 for x in st["s"]):
            err(k, "duplicate id or non-positive count in s")
        if st["pre"] and (st["new"] or st["res"]):
            err(k, "admissions in a step that preempted")
        if set(st["pre"]) & set(ids):
            err(k, "a preempted request was scheduled")
        for rid in st["pre"]:
            if state.get(rid, [None])[0] != "running":
                err(k, f"preempted {rid} was not running")
            state[rid][0:2] = ["preempted", 0]
        # Victims go back to the front of the waiting queue (the last victim first).
        waiting = list(reversed(st["pre"])) + waiting
        admitted = [("new", x) for x in st["new"]] + [("res", x) for x in st["res"]]
        for kind, (rid, hit) in admitted:
            want = "waiting" if kind == "new" else "preempted"
            if state.get(rid, [None])[0] != want:
                err(k, f"{kind} {rid} was {state.get(rid, [None])[0]}")
                continue
            if hit % bs or hit >= reqs[rid]["prompt_len"] + state[rid][2]:
                err(k, f"{kind} {rid}: bad prefix hit {hit}")
            if not cfg["enable_prefix_caching"] and hit:
                err(k, f"{kind} {rid}: hit without prefix caching")
            state[rid][0:2] = ["running", hit]
        # Admissions are in waiting-queue order, from its head.
        adm_ids = [x[1][0] for x in admitted]
        if adm_ids and [i for i in ids if i in set(adm_ids)] != waiting[:len(adm_ids)]:
            err(k, "admissions not from the head of the waiting queue in order")
        waiting = [w for w in waiting if w not in set(adm_ids)]
        if len(ids) > cfg["max_num_seqs"]:
            err(k, "max_num_seqs exceeded")
        finished_now = []
        for rid, n in st["s"]:
            s = state.get(rid)
            if s is None or s[0] != "running":
                err(k, f"scheduled {rid} not running")
                continue
            total = reqs[rid]["prompt_len"] + s[2]
            if s[1] + n > total:
                err(k, f"{rid}: schedules past its tokens")
            s[1] += n
            if s[1] >= total:  # prompt done or decode: one token sampled
                s[2] += 1
                if s[2] >= reqs[rid]["max_tokens"] or reqs[rid]["prompt_len"] + s[2] >= mml:
                    finished_now.append(rid)
        if finished_now != st["fin"]:
            err(k, f"finished {st['fin']} but the counts say {finished_now}")
        for rid in st["fin"]:
            if rid in state:
                state[rid][0] = "finished"
        n_run = sum(1 for s in state.values() if s[0] == "running")
        if n_run != st["run"] or len(waiting) != st["wait"]:
            err(k, f"run/wait {st['run']}/{st['wait']} but the records give {n_run}/{len(waiting)}")
        if not 0 <= st["free"] <= cfg["num_gpu_blocks"] - 1:
            err(k, f"free {st['free']} out of range")
        if len(errs) > 20:
            break
    if not errs:
        left = [rid for rid, s in state.items() if s[0] != "finished"]
        n_live = sum(len(v) for v in arrivals.values())
        if left or len(state) != n_live:
            errs.append(f"{os.path.basename(path)}: {len(state)} of {n_live} requests arrived, "
                        f"unfinished at the end: {left[:10]}")
        if fx["steps"] and fx["steps"][-1]["free"] != cfg["num_gpu_blocks"] - 1:
            errs.append(f"{os.path.basename(path)}: pool not idle at the end")
    return fx, errs


def main(argv):
    files = argv or sorted(glob.glob(os.path.join(REPO, "tests", "fixtures", "vllm_v1", "*.json")))
    bad = 0
    total = 0
    for p in files:
        fx, errs = check(p)
        total += len(fx["steps"])
        print(f"{os.path.basename(p)}: {len(fx['steps'])} steps, "
              f"{'ok' if not errs else str(len(errs)) + ' problems'}")
        for e in errs[:20]:
            print("  " + e)
        bad += bool(errs)
    print(f"{len(files) - bad} passed, {bad} failed ({total} steps)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
