"""kvsched.vllm.Scheduler: a subclass of vLLM 0.32's v1 Scheduler that hands kvsched's policy
decisions to vLLM's own scheduling pass (docs/vllm.md).

Read against vllm 0.32.0 vllm/v1/core/sched/scheduler.py, Scheduler.schedule(): it schedules
``self.running`` in list order, then admits from ``self.waiting`` (a RequestQueue) while the
queue is true, head first, caps every request's tokens this step at
``scheduler_config.long_prefill_token_threshold`` (when > 0 and more than one request), and
under FCFS policy preempts ``self.running[-1]`` (``_preempt_request``) when an allocation fails.
So this class replaces ``self.waiting`` with a queue kept in kvsched's order (SlackQueue, whose
admission gate holds requests back), orders ``self.running`` when a victim may be needed, and
sets that one threshold around ``super().schedule()``; block allocation stays in vLLM's
KVCacheManager (recompute preemption; vLLM v1 has no swap).

Per-step cost is kept independent of the queue length (issue 12's bound: under 5% of vLLM's own
schedule() at 256 running and 4,096 waiting; scripts/vllm_plugin_cost.py measures it): the queue
is sorted on insertion, the tightest TBT SLO among running requests and the prefilling ones are
tracked as requests are admitted, preempted and freed, and the running list is sorted only in
steps where an allocation can fail or the token budget can run out.
"""
from __future__ import annotations

import logging
import os
import time
from collections import Counter
from operator import attrgetter
from typing import Any, Dict, Set

from vllm.v1.core.sched.request_queue import RequestQueue, SchedulingPolicy
from vllm.v1.core.sched.scheduler import Scheduler as _VllmScheduler
from vllm.v1.request import RequestStatus

from ._policy import (AdmissionGate, OutputHistory, SlackQueue, StepTimer, parse_priority_slos,
                      slo_chunk_tokens, slo_of, waiting_key)

log = logging.getLogger("kvsched.vllm")


def _setup_log_file() -> None:
    """KVSCHED_VLLM_LOG=<path>: the decisions go to that file at INFO (the engine core runs in
    its own process, so a file is how a caller sees them)."""
    path = os.environ.get("KVSCHED_VLLM_LOG")
    if path and not any(getattr(h, "_kvsched", False) for h in log.handlers):
        h = logging.FileHandler(path)
        h._kvsched = True  # type: ignore[attr-defined]
        h.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(h)
        log.setLevel(logging.INFO)


class _WaitingQueue(SlackQueue, RequestQueue):
    """SlackQueue as a vLLM RequestQueue."""


class Scheduler(_VllmScheduler):
    """vLLM v1 Scheduler whose waiting order, admission, chunk sizes and preemption victims
    come from kvsched's policy (see _policy.py for the sources of each decision).

    Knobs (environment, read once at start): KVSCHED_VLLM_TTFT_SLO_S / KVSCHED_VLLM_TBT_SLO_S
    (defaults for requests without extra_args SLOs; 10 s / 0.5 s), KVSCHED_VLLM_PRIORITY_SLOS
    (JSON, priority -> [ttft_s, tbt_s]: SLOs by the request's priority when extra_args has none),
    KVSCHED_VLLM_ADMISSION ("length", the default: length-aware admission; "off": vLLM's),
    KVSCHED_VLLM_QUANTILE (history quantile, 0.5), KVSCHED_VLLM_CHUNK ("slo", the default, when
    chunked prefill is on; "off"), KVSCHED_VLLM_MODE ("policy", the default; "observe": vLLM's own
    decisions, only logged, for a baseline), KVSCHED_VLLM_LOG (log file). Needs scheduler policy
    "fcfs" (ValueError otherwise).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _setup_log_file()
        if self.policy != SchedulingPolicy.FCFS:
            raise ValueError("kvsched.vllm.Scheduler needs --scheduling-policy fcfs "
                             f"(got {self.policy.value}): it orders the queue itself")
        env = os.environ.get
        self._ttft_default = float(env("KVSCHED_VLLM_TTFT_SLO_S", "10"))
        self._tbt_default = float(env("KVSCHED_VLLM_TBT_SLO_S", "0.5"))
        self._by_priority = parse_priority_slos(env("KVSCHED_VLLM_PRIORITY_SLOS"))
        self._admission = env("KVSCHED_VLLM_ADMISSION", "length")
        self._chunking = env("KVSCHED_VLLM_CHUNK", "slo")
        self._observe = env("KVSCHED_VLLM_MODE", "policy") == "observe"
        for name, v, ok in (("KVSCHED_VLLM_ADMISSION", self._admission, ("length", "off")),
                            ("KVSCHED_VLLM_CHUNK", self._chunking, ("slo", "off")),
                            ("KVSCHED_VLLM_MODE", env("KVSCHED_VLLM_MODE", "policy"),
                             ("policy", "observe"))):
            if v not in ok:
                raise ValueError(f"kvsched.vllm: {name}={v!r}, expected one of {ok}")
        self._history = OutputHistory(quantile=float(env("KVSCHED_VLLM_QUANTILE", "0.5")))
        self._timer = StepTimer()
        if not self._observe:
            assert not self.waiting, "the waiting queue is replaced before any request arrives"
            self.waiting = _WaitingQueue(lambda r: waiting_key(r.num_preemptions > 0, r.arrival_time, self._slo(r)))
        self._slos: Dict[str, Any] = {}           # request id -> SloSpec, until freed
        self._running_tbt: Dict[str, float] = {}  # running request id -> its TBT SLO (s)
        self._tbt_count: Counter = Counter()      # TBT SLO (s) -> running requests with it
        self._prefilling: Set[str] = set()        # running requests whose prompt is not all computed
        self._last_step: Any = None  # (start time, tokens) of the previous schedule()
        self._last_hold: Any = None  # (count, first id) of the last logged hold-back
        # held_back counts request-steps; total_s / super_s: perf_counter seconds of the whole
        # schedule() and of vLLM's part of it; sorts: steps that put running in victim order.
        self.kvsched_stats = {"calls": 0, "admitted": 0, "held_back": 0, "preempted": 0,
                              "chunks": 0, "sorts": 0, "total_s": 0.0, "super_s": 0.0}
        log.info("kvsched.vllm.Scheduler start: block_size=%d blocks=%d admission=%s chunk=%s "
                 "chunked_prefill=%s max_num_batched_tokens=%d", self.block_size,
                 self.kv_cache_manager.block_pool.get_num_free_blocks(), self._admission,
                 self._chunking, self.scheduler_config.enable_chunked_prefill,
                 self.max_num_scheduled_tokens)

    def _slo(self, request):
        """The request's SloSpec, computed once (kept by request id until it is freed: not on
        the vLLM Request, whose attribute layout vLLM's hot loops rely on)."""
        s = self._slos.get(request.request_id)
        if s is None:
            extra = request.sampling_params.extra_args if request.sampling_params else None
            s = slo_of(extra, self._ttft_default, self._tbt_default, request.priority, self._by_priority)
            self._slos[request.request_id] = s
        return s

    def _untrack(self, request_id: str) -> None:
        """The request left the running set (preempted or freed)."""
        tbt = self._running_tbt.pop(request_id, None)
        if tbt is not None:
            self._tbt_count[tbt] -= 1
            if not self._tbt_count[tbt]:
                del self._tbt_count[tbt]
        self._prefilling.discard(request_id)

    def _track_admitted(self, out) -> None:
        """Requests admitted (new or resumed) by this step enter the running set."""
        ids = [nr.req_id for nr in out.scheduled_new_reqs]
        ids.extend(out.scheduled_cached_reqs.resumed_req_ids)
        for rid in ids:
            r = self.requests[rid]
            tbt = self._slo(r).tbt_s
            self._running_tbt[rid] = tbt
            self._tbt_count[tbt] += 1
            if r.num_computed_tokens < r.num_prompt_tokens:
                self._prefilling.add(rid)

    def _victim_order(self) -> None:
        """Puts self.running in victim order, the most preemptible last (vLLM's FCFS victim is
        running[-1]): loosest TBT SLO, then fewest computed tokens (cheapest recompute), then
        latest arrival (victim_key). Stable sorts, least significant key first (C-level keys
        but the TBT SLO's)."""
        run, tbt = self.running, self._running_tbt
        run.sort(key=attrgetter("arrival_time"))
        run.sort(key=attrgetter("num_computed_tokens"), reverse=True)
        run.sort(key=lambda r: tbt.get(r.request_id) or self._slo(r).tbt_s)

    def _may_need_victims(self) -> bool:
        """Whether this step can preempt or run out of token budget among running requests:
        free blocks below one per running request plus the budget's worth, or the prefilling
        requests' remaining prompt tokens plus one per decode above the budget. Otherwise the
        running order decides nothing and the sort is skipped."""
        budget = self.max_num_scheduled_tokens
        free = self.kv_cache_manager.block_pool.get_num_free_blocks()
        if free < len(self.running) + -(-budget // self.block_size) + 1:
            return True
        demand = len(self.running) - len(self._prefilling)
        for rid in self._prefilling:
            r = self.requests[rid]
            demand += r.num_prompt_tokens - r.num_computed_tokens
        return demand > budget

    def schedule(self, *args: Any, **kwargs: Any):
        """One vLLM step with kvsched's orders, admission and chunk cap applied around
        vLLM's own Scheduler.schedule (same arguments, same SchedulerOutput)."""
        t0 = time.perf_counter()
        if self._last_step is not None:
            self._timer.observe(t0 - self._last_step[0], self._last_step[1])
        if self._observe:
            return self._observed_schedule(t0, *args, **kwargs)
        st = self.kvsched_stats
        reqs = self.requests
        self._prefilling = {rid for rid in self._prefilling
                            if rid in reqs and reqs[rid].num_computed_tokens < reqs[rid].num_prompt_tokens}
        if self.running and self._may_need_victims():
            self._victim_order()
            st["sorts"] += 1
        gate = None
        if self._admission == "length":
            gate = AdmissionGate(self.kv_cache_manager.block_pool.get_num_free_blocks() - len(self.running),
                                 self.block_size, self._history, idle=not self.running)
            self.waiting.gate = gate
        cfg = self.scheduler_config
        old_thr = cfg.long_prefill_token_threshold
        chunk = None
        admit_head = bool(self.waiting)  # with the gate set: the head will be admitted
        if self._chunking == "slo" and cfg.enable_chunked_prefill and (self.running or admit_head):
            tight = min(self._tbt_count) if self._tbt_count else float("inf")
            if admit_head:
                tight = min(tight, self._slo(self.waiting.peek_request()).tbt_s)
            decodes = len(self.running) - len(self._prefilling)
            chunk = slo_chunk_tokens(tight, self._timer.s_per_token, decodes, self.block_size,
                                     self.max_num_scheduled_tokens)
            cfg.long_prefill_token_threshold = chunk
        t1 = time.perf_counter()
        try:
            out = super().schedule(*args, **kwargs)
        finally:
            cfg.long_prefill_token_threshold = old_thr
            t2 = time.perf_counter()
            self.waiting.gate = None
        self._track_admitted(out)
        held = len(self.waiting) if gate is not None and gate.held is not None else 0
        self._log_step(out, held, gate.held if held else None, chunk)
        t3 = time.perf_counter()
        st["calls"] += 1
        st["total_s"] += t3 - t0
        st["super_s"] += t2 - t1
        self._last_step = (t0, out.total_num_scheduled_tokens)
        if st["calls"] % 200 == 0:
            self._log_stats()
        return out

    def _observed_schedule(self, t0: float, *args: Any, **kwargs: Any):
        """KVSCHED_VLLM_MODE=observe: vLLM's own schedule(), decisions logged as in policy mode."""
        out = super().schedule(*args, **kwargs)
        t2 = time.perf_counter()
        self._log_step(out, 0, None, None, every_request=True)
        st = self.kvsched_stats
        st["calls"] += 1
        st["total_s"] += time.perf_counter() - t0
        st["super_s"] += t2 - t0
        return out

    def _log_step(self, out, held: int, first_held, chunk, every_request: bool = False) -> None:
        """Logs admissions, chunks (requests given more than one token: the new and resumed ones
        and the prefilling ones, or with ``every_request`` all) and hold-backs."""
        st = self.kvsched_stats
        n_tok = out.num_scheduled_tokens
        for nr in out.scheduled_new_reqs:
            st["admitted"] += 1
            log.info("admit %s tokens=%d", nr.req_id, n_tok[nr.req_id])
        resumed = out.scheduled_cached_reqs.resumed_req_ids
        for rid in resumed:
            st["admitted"] += 1
            log.info("readmit %s tokens=%d", rid, n_tok[rid])
        cands = n_tok if every_request else set(self._prefilling).union(
            resumed, (nr.req_id for nr in out.scheduled_new_reqs))
        for rid in cands:
            n = n_tok.get(rid, 0)
            if n > 1:
                st["chunks"] += 1
                log.info("chunk %s tokens=%d cap=%s", rid, n, chunk)
        st["held_back"] += held
        sig = (held, first_held.request_id) if held else None
        if sig != self._last_hold:  # logged when the held-back set changes, not every step
            self._last_hold = sig
            if held:
                log.info("hold %d requests (first %s)", held, first_held.request_id)

    def _log_stats(self) -> None:
        st = self.kvsched_stats
        n = max(1, st["calls"])
        log.info("stats calls=%d admitted=%d held_back=%d preempted=%d chunks=%d sorts=%d "
                 "added_us_per_call=%.1f super_us_per_call=%.1f", st["calls"], st["admitted"],
                 st["held_back"], st["preempted"], st["chunks"], st["sorts"],
                 1e6 * (st["total_s"] - st["super_s"]) / n, 1e6 * st["super_s"] / n)

    def _preempt_request(self, request, *args: Any, **kwargs: Any) -> None:
        """vLLM's preemption (recompute), logged: the victim was chosen by our running order."""
        self.kvsched_stats["preempted"] += 1
        log.info("preempt %s computed=%d tbt_slo=%.3g", request.request_id,
                 request.num_computed_tokens, self._slo(request).tbt_s)
        self._untrack(request.request_id)
        super()._preempt_request(request, *args, **kwargs)

    def _free_request(self, request, *args: Any, **kwargs: Any):
        """vLLM's free, plus: a request that ended by a stop condition or its length cap feeds
        its output length to the history (an aborted or failed one says nothing about lengths)."""
        if request.status in (RequestStatus.FINISHED_STOPPED, RequestStatus.FINISHED_LENGTH_CAPPED):
            self._history.add(request.num_output_tokens)
        self._untrack(request.request_id)
        self._slos.pop(request.request_id, None)
        return super()._free_request(request, *args, **kwargs)

    def shutdown(self) -> None:
        self._log_stats()
        super().shutdown()
