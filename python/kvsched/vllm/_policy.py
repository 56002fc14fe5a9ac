"""Pure-Python decisions of the kvsched vLLM plug-in (no vLLM import; unit-testable).

Each function mirrors, in simplified form, a kvsched C++ policy component:
- ``SloSpec`` / ``slo_of``: per-request SLOs from ``SamplingParams.extra_args``.
- ``waiting_key`` / ``SlackQueue``: the waiting-queue order of SloSlackQueue
  (include/kvsched/policy/queue/slo_slack_queue.hpp): returning (preempted) requests first,
  then by remaining TTFT slack, most urgent first; kept sorted as requests come and go.
- ``AdmissionGate``: length-aware admission (the kvsched preset's, simplified): new requests
  pass while prompt + estimated output fits the free blocks.
- ``victim_key``: a victim order after CacheOPT's SloVictimSelector
  (include/kvsched/policy/victim/slo_victim_selector.hpp), reduced to what vLLM exposes:
  loosest TBT SLO first, then fewest computed tokens (cheapest recompute), then latest arrival.
- ``OutputHistory``: HistoryEstimator (include/kvsched/policy/estimator/history_estimator.hpp)
  reduced to one group: quantile q of past output lengths longer than what the request
  has produced; cold start: max_tokens.
- ``slo_chunk_tokens``: SloDynamicChunker (include/kvsched/policy/chunker/
  slo_dynamic_chunker.hpp) with a linear latency model learnt online (seconds per token).
"""
from __future__ import annotations

import bisect
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional

#: Default TTFT SLO (seconds) when a request's extra_args has no ``ttft_slo_s``.
DEFAULT_TTFT_SLO_S = 10.0
#: Default TBT SLO (seconds) when a request's extra_args has no ``tbt_slo_s``.
DEFAULT_TBT_SLO_S = 0.5


@dataclass(frozen=True)
class SloSpec:
    """Per-request SLOs in seconds: time to first token and time between tokens."""

    ttft_s: float
    tbt_s: float


def _seconds(v: Any, what: str) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"kvsched.vllm: {what} must be a number of seconds, got {v!r}")
    if not (f > 0 and math.isfinite(f)):
        raise ValueError(f"kvsched.vllm: {what} must be > 0 seconds, got {v!r}")
    return f


def slo_of(extra_args: Optional[Mapping[str, Any]], ttft_default: float = DEFAULT_TTFT_SLO_S,
           tbt_default: float = DEFAULT_TBT_SLO_S, priority: int = 0,
           by_priority: Optional[Mapping[int, SloSpec]] = None) -> SloSpec:
    """SLOs of one request: ``SamplingParams.extra_args`` keys ``ttft_slo_s`` and ``tbt_slo_s``
    (seconds, > 0) first; a missing key takes the request's priority class in ``by_priority``
    (``parse_priority_slos``), else the defaults. Raises ValueError naming the key for a bad value."""
    args = extra_args or {}
    cls = (by_priority or {}).get(priority)
    ttft = args.get("ttft_slo_s", cls.ttft_s if cls else ttft_default)
    tbt = args.get("tbt_slo_s", cls.tbt_s if cls else tbt_default)
    return SloSpec(_seconds(ttft, "extra_args['ttft_slo_s']"), _seconds(tbt, "extra_args['tbt_slo_s']"))


def parse_priority_slos(text: Optional[str], where: str = "KVSCHED_VLLM_PRIORITY_SLOS") -> Dict[int, SloSpec]:
    """Priority classes: JSON object mapping a request priority (vLLM's ``priority``, an
    integer) to ``[ttft_slo_s, tbt_slo_s]``, e.g. ``{"0": [1, 0.05], "1": [10, 0.5]}``. Empty
    or None: no classes. Raises ValueError naming ``where`` and the entry for a bad value."""
    if not text:
        return {}
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"kvsched.vllm: {where} is not JSON: {e}")
    if not isinstance(raw, dict):
        raise ValueError(f"kvsched.vllm: {where} must be a JSON object of priority -> [ttft_s, tbt_s]")
    out = {}
    for k, v in raw.items():
        try:
            prio = int(k)
        except ValueError:
            raise ValueError(f"kvsched.vllm: {where}: priority {k!r} is not an integer")
        if not (isinstance(v, list) and len(v) == 2):
            raise ValueError(f"kvsched.vllm: {where}[{k}] must be [ttft_slo_s, tbt_slo_s], got {v!r}")
        out[prio] = SloSpec(_seconds(v[0], f"{where}[{k}][0] (ttft)"), _seconds(v[1], f"{where}[{k}][1] (tbt)"))
    return out


def waiting_key(returning: bool, arrival_s: float, slo: SloSpec):
    """Sort key of a waiting request (smaller = admitted first): returning requests first,
    then by TTFT slack ``arrival + ttft_slo - now``, i.e. by the deadline ``arrival +
    ttft_slo`` (seconds; ``now`` is the same for all, so the key does not change while the
    request waits), ties by arrival."""
    return (0 if returning else 1, arrival_s + slo.ttft_s, arrival_s)


def victim_key(slo: SloSpec, num_computed_tokens: int, arrival_s: float):
    """Sort key of a running request (larger = preempted first): loosest TBT SLO, then fewest
    computed tokens (recompute is cheapest), then the latest arrival."""
    return (slo.tbt_s, -num_computed_tokens, arrival_s)


class OutputHistory:
    """Output lengths (tokens) of finished requests, a sliding window of ``window`` samples."""

    def __init__(self, quantile: float = 0.5, window: int = 1000, min_samples: int = 4):
        if not 0.0 < quantile <= 1.0:
            raise ValueError(f"kvsched.vllm: history quantile must be in (0, 1], got {quantile}")
        self.quantile, self.window, self.min_samples = quantile, window, min_samples
        self._fifo: List[int] = []
        self._sorted: List[int] = []

    def __len__(self) -> int:
        return len(self._fifo)

    def add(self, output_tokens: int) -> None:
        """Learns one finished request's real output length."""
        self._fifo.append(output_tokens)
        bisect.insort(self._sorted, output_tokens)
        if len(self._fifo) > self.window:
            old = self._fifo.pop(0)
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def estimate(self, generated: int, max_tokens: int) -> int:
        """Predicted total output (tokens) of a request that has produced ``generated``:
        quantile of past outputs > generated; max(2g, g+1) if it outlived them; max_tokens
        before ``min_samples`` finished requests. Capped at max_tokens."""
        if len(self._sorted) < self.min_samples:
            return max_tokens
        first = bisect.bisect_right(self._sorted, generated)  # the longer outputs: _sorted[first:]
        n = len(self._sorted) - first
        if n == 0:
            return min(max_tokens, max(2 * generated, generated + 1))
        return min(max_tokens, self._sorted[first + min(n - 1, int(self.quantile * n))])


class StepTimer:
    """Online seconds-per-token of a step: an exponential mean of (step wall time / tokens)."""

    def __init__(self, alpha: float = 0.2):
        self.alpha = alpha
        self.s_per_token: Optional[float] = None

    def observe(self, seconds: float, tokens: int) -> None:
        """One step of ``tokens`` scheduled tokens that took ``seconds`` of wall time."""
        if tokens <= 0 or seconds <= 0:
            return
        x = seconds / tokens
        self.s_per_token = x if self.s_per_token is None else (1 - self.alpha) * self.s_per_token + self.alpha * x


def slo_chunk_tokens(tightest_tbt_s: float, s_per_token: Optional[float], num_decodes: int,
                     block_size: int, max_tokens: int, margin: float = 0.1) -> int:
    """Prefill chunk (tokens) so that a step of ``num_decodes`` decodes plus the chunk is
    predicted to take <= (1 - margin) x the tightest TBT SLO; a multiple of block_size in
    [block_size, max_tokens]. Without a timing yet: max_tokens."""
    if s_per_token is None or s_per_token <= 0:
        return max_tokens
    fit = int((1 - margin) * tightest_tbt_s / s_per_token) - num_decodes
    fit = (fit // block_size) * block_size
    return max(block_size, min(max_tokens, fit))


class AdmissionGate:
    """Length-aware admission for one scheduling pass: a new request passes while its
    predicted footprint, ceil((prompt + estimated output) / block_size) blocks, fits
    ``free_blocks`` (what is left after the ones passed before it); returning requests
    (preempted, or with computed tokens) always pass; the first request passes when nothing
    runs (``idle``). Once one is held, every later one is held too (no overtaking)."""

    def __init__(self, free_blocks: int, block_size: int, history: "OutputHistory", idle: bool):
        self.free, self.block_size, self.history, self.idle = free_blocks, block_size, history, idle
        self.passed = 0
        self.held: Any = None  # the first request held, once one is
        self._last: Any = None  # the last request passed (asked again: passes again, no charge)

    def admits(self, r: Any) -> bool:
        """Whether ``r`` (a vLLM Request: num_preemptions, num_computed_tokens,
        num_prompt_tokens, num_output_tokens, max_tokens) may be admitted now."""
        if self.held is not None:
            return False
        if r is self._last:
            return True
        if r.num_preemptions == 0 and r.num_computed_tokens == 0:
            est = self.history.estimate(r.num_output_tokens, r.max_tokens)
            need = -(-(r.num_prompt_tokens + est) // self.block_size)
            if need > self.free and not (self.idle and self.passed == 0):
                self.held = r
                return False
            self.free -= need
        self.passed += 1
        self._last = r
        return True


class SlackQueue:
    """vLLM's waiting ``RequestQueue`` interface (vllm/v1/core/sched/request_queue.py) in
    kvsched's order, kept sorted: each request's ``key(request)`` (``waiting_key``) is taken
    once when it enters, so admitting, re-queueing and removing cost O(log n) comparisons (plus
    a list shift), never a re-sort of the queue. ``prepend_request(s)`` puts a request at its
    sorted place, as vLLM's PriorityRequestQueue does. While ``gate`` is set (an
    AdmissionGate, during one scheduling pass), the queue is false once its head is held, which
    ends vLLM's admission loop there; ``len`` and iteration always see every request."""

    def __init__(self, key: Callable[[Any], tuple]):
        self._key = key
        self._items: List[tuple] = []  # (key, seq, request), sorted
        self._entry: Dict[int, tuple] = {}  # id(request) -> its item
        self._seq = itertools.count()
        self.gate: Optional[AdmissionGate] = None

    def add_request(self, request: Any) -> None:
        if id(request) in self._entry:
            self.remove_request(request)
        item = (self._key(request), next(self._seq), request)
        bisect.insort(self._items, item)
        self._entry[id(request)] = item

    def pop_request(self) -> Any:
        if not self._items:
            raise IndexError("pop from an empty queue")
        item = self._items.pop(0)
        del self._entry[id(item[2])]
        return item[2]

    def peek_request(self) -> Any:
        if not self._items:
            raise IndexError("peek from an empty queue")
        return self._items[0][2]

    def prepend_request(self, request: Any) -> None:
        self.add_request(request)

    def prepend_requests(self, requests: Iterable[Any]) -> None:
        for r in requests:
            self.add_request(r)

    def remove_request(self, request: Any) -> None:
        item = self._entry.pop(id(request), None)
        if item is None:
            raise ValueError("request not in the queue")
        del self._items[bisect.bisect_left(self._items, item)]

    def remove_requests(self, requests: Iterable[Any]) -> None:
        for r in requests:
            if id(r) in self._entry:
                self.remove_request(r)

    def __bool__(self) -> bool:
        if not self._items:
            return False
        return self.gate is None or self.gate.admits(self._items[0][2])

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return (item[2] for item in list(self._items))
