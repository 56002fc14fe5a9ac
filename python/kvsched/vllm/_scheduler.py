"""kvsched.vllm.Scheduler: a subclass of vLLM 0.32's v1 Scheduler that hands kvsched's policy
decisions to vLLM's own scheduling pass (docs/vllm.md).

Read against vllm 0.32.0 vllm/v1/core/sched/scheduler.py, Scheduler.schedule(): it schedules
``self.running`` in list order, then admits from ``self.waiting`` (an FCFSRequestQueue, a deque)
in queue order, caps every request's tokens this step at
``scheduler_config.long_prefill_token_threshold`` (when > 0 and more than one request), and
under FCFS policy preempts ``self.running[-1]`` (``_preempt_request``) when an allocation fails.
So, around ``super().schedule()`` this class only reorders and filters those lists and sets
that one threshold; block allocation stays in vLLM's KVCacheManager (recompute preemption;
vLLM v1 has no swap).
"""
from __future__ import annotations

import logging
import math
import os
import time
from typing import Any, Dict, List

from vllm.v1.core.sched.request_queue import SchedulingPolicy
from vllm.v1.core.sched.scheduler import Scheduler as _VllmScheduler

from ._policy import (OutputHistory, StepTimer, slo_chunk_tokens, slo_of, victim_key,
                      waiting_key)

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


class Scheduler(_VllmScheduler):
    """vLLM v1 Scheduler whose waiting order, admission, chunk sizes and preemption victims
    come from kvsched's policy (see _policy.py for the sources of each decision).

    Knobs (environment, read once at start): KVSCHED_VLLM_TTFT_SLO_S / KVSCHED_VLLM_TBT_SLO_S
    (defaults for requests without extra_args SLOs; 10 s / 0.5 s), KVSCHED_VLLM_ADMISSION
    ("length", the default: length-aware admission; "off": vLLM's), KVSCHED_VLLM_QUANTILE
    (history quantile, 0.5), KVSCHED_VLLM_CHUNK ("slo", the default, when chunked prefill is on;
    "off"), KVSCHED_VLLM_MODE ("policy", the default; "observe": vLLM's own decisions, only
    logged, for a baseline), KVSCHED_VLLM_LOG (log file). Needs scheduler policy "fcfs" (ValueError otherwise).
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
        self._slo_cache: Dict[str, Any] = {}
        self._last_step: Any = None  # (start time, tokens) of the previous schedule()
        self._last_hold: Any = None  # (count, first id) of the last logged hold-back
        # held_back counts request-steps; total_s / super_s: perf_counter seconds of the whole
        # schedule() and of vLLM's part of it.
        self.kvsched_stats = {"calls": 0, "admitted": 0, "held_back": 0, "preempted": 0,
                              "chunks": 0, "total_s": 0.0, "super_s": 0.0}
        log.info("kvsched.vllm.Scheduler start: block_size=%d blocks=%d admission=%s chunk=%s "
                 "chunked_prefill=%s max_num_batched_tokens=%d", self.block_size,
                 self.kv_cache_manager.block_pool.get_num_free_blocks(), self._admission,
                 self._chunking, self.scheduler_config.enable_chunked_prefill,
                 self.max_num_scheduled_tokens)

    def _slo(self, request):
        s = self._slo_cache.get(request.request_id)
        if s is None:
            extra = request.sampling_params.extra_args if request.sampling_params else None
            s = slo_of(extra, self._ttft_default, self._tbt_default)
            self._slo_cache[request.request_id] = s
        return s

    def _admit_filter(self, ordered: List[Any]) -> List[Any]:
        """Length-aware admission: the prefix of new requests in ``ordered`` whose predicted
        footprint (prompt + history-estimated output, in blocks) fits the free blocks less one
        per running request; returning (preempted) requests always pass; at least one request
        passes when nothing runs. Returns the held-back ones (removed from ``ordered``)."""
        free = self.kv_cache_manager.block_pool.get_num_free_blocks() - len(self.running)
        keep, held = [], []
        for r in ordered:
            if held:
                held.append(r)
                continue
            if r.num_preemptions > 0 or r.num_computed_tokens > 0:
                keep.append(r)
                continue
            est = self._history.estimate(r.num_output_tokens, r.max_tokens)
            need = math.ceil((r.num_prompt_tokens + est) / self.block_size)
            if need <= free or (not self.running and not keep):
                free -= need
                keep.append(r)
            else:
                held.append(r)
        ordered[:] = keep
        return held

    def schedule(self, *args: Any, **kwargs: Any):
        """One vLLM step with kvsched's orders, admission and chunk cap applied around
        vLLM's own Scheduler.schedule (same arguments, same SchedulerOutput)."""
        t0 = time.perf_counter()
        if self._last_step is not None:
            self._timer.observe(t0 - self._last_step[0], self._last_step[1])
        if self._observe:
            return self._observed_schedule(t0, *args, **kwargs)
        now = time.time()
        # Victim order: vLLM (FCFS) preempts running[-1] first, so the most preemptible last.
        self.running.sort(key=lambda r: victim_key(self._slo(r), r.num_computed_tokens, r.arrival_time))
        # Waiting order: returning first, then TTFT slack.
        ordered = sorted(self.waiting, key=lambda r: waiting_key(
            r.num_preemptions > 0, r.arrival_time, self._slo(r), now))
        held = self._admit_filter(ordered) if self._admission == "length" else []
        self.waiting.clear()
        self.waiting.extend(ordered)
        cfg = self.scheduler_config
        old_thr = cfg.long_prefill_token_threshold
        chunk = None
        if self._chunking == "slo" and cfg.enable_chunked_prefill and (self.running or ordered):
            reqs = self.running + ordered[:1]
            tight = min(self._slo(r).tbt_s for r in reqs)
            decodes = sum(1 for r in self.running if r.num_computed_tokens >= r.num_prompt_tokens)
            chunk = slo_chunk_tokens(tight, self._timer.s_per_token, decodes, self.block_size,
                                     self.max_num_scheduled_tokens)
            cfg.long_prefill_token_threshold = chunk
        t1 = time.perf_counter()
        try:
            out = super().schedule(*args, **kwargs)
        finally:
            cfg.long_prefill_token_threshold = old_thr
            t2 = time.perf_counter()
            self.waiting.extend(held)  # held-back requests keep their place after the rest
        self._log_step(out, held, chunk)
        t3 = time.perf_counter()
        st = self.kvsched_stats
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
        self._log_step(out, [], None)
        st = self.kvsched_stats
        st["calls"] += 1
        st["total_s"] += time.perf_counter() - t0
        st["super_s"] += t2 - t0
        return out

    def _log_step(self, out, held, chunk) -> None:
        st = self.kvsched_stats
        for nr in out.scheduled_new_reqs:
            st["admitted"] += 1
            log.info("admit %s tokens=%d", nr.req_id, out.num_scheduled_tokens[nr.req_id])
        for rid in out.scheduled_cached_reqs.resumed_req_ids:
            st["admitted"] += 1
            log.info("readmit %s tokens=%d", rid, out.num_scheduled_tokens[rid])
        for rid, n in out.num_scheduled_tokens.items():
            if n > 1:
                st["chunks"] += 1
                log.info("chunk %s tokens=%d cap=%s", rid, n, chunk)
        st["held_back"] += len(held)
        sig = (len(held), held[0].request_id) if held else None
        if sig != self._last_hold:  # logged when the held-back set changes, not every step
            self._last_hold = sig
            if held:
                log.info("hold %d requests (first %s)", len(held), held[0].request_id)

    def _log_stats(self) -> None:
        st = self.kvsched_stats
        n = max(1, st["calls"])
        log.info("stats calls=%d admitted=%d held_back=%d preempted=%d chunks=%d "
                 "added_us_per_call=%.1f super_us_per_call=%.1f", st["calls"], st["admitted"],
                 st["held_back"], st["preempted"], st["chunks"],
                 1e6 * (st["total_s"] - st["super_s"]) / n, 1e6 * st["super_s"] / n)

    def _preempt_request(self, request, *args: Any, **kwargs: Any) -> None:
        """vLLM's preemption (recompute), logged: the victim was chosen by our running order."""
        self.kvsched_stats["preempted"] += 1
        log.info("preempt %s computed=%d tbt_slo=%.3g", request.request_id,
                 request.num_computed_tokens, self._slo(request).tbt_s)
        super()._preempt_request(request, *args, **kwargs)

    def _free_request(self, request, *args: Any, **kwargs: Any):
        """vLLM's free, plus: the finished request's output length feeds the history."""
        self._history.add(request.num_output_tokens)
        self._slo_cache.pop(request.request_id, None)
        return super()._free_request(request, *args, **kwargs)

    def shutdown(self) -> None:
        self._log_stats()
        super().shutdown()
