"""Pure-Python decisions of the kvsched vLLM plug-in (no vLLM import; unit-testable).

Each function mirrors, in simplified form, a kvsched C++ policy component:
- ``SloSpec`` / ``slo_of``: per-request SLOs from ``SamplingParams.extra_args``.
- ``waiting_key``: the waiting-queue order of SloSlackQueue
  (include/kvsched/policy/queue/slo_slack_queue.hpp): returning (preempted) requests first,
  then by remaining TTFT slack, most urgent first.
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
import math
from dataclasses import dataclass
from typing import Any, List, Mapping, Optional

#: Default TTFT SLO (seconds) when a request's extra_args has no ``ttft_slo_s``.
DEFAULT_TTFT_SLO_S = 10.0
#: Default TBT SLO (seconds) when a request's extra_args has no ``tbt_slo_s``.
DEFAULT_TBT_SLO_S = 0.5


@dataclass(frozen=True)
class SloSpec:
    """Per-request SLOs in seconds: time to first token and time between tokens."""

    ttft_s: float
    tbt_s: float


def slo_of(extra_args: Optional[Mapping[str, Any]], ttft_default: float = DEFAULT_TTFT_SLO_S,
           tbt_default: float = DEFAULT_TBT_SLO_S) -> SloSpec:
    """SLOs from ``SamplingParams.extra_args`` keys ``ttft_slo_s`` and ``tbt_slo_s`` (seconds,
    > 0); missing keys take the defaults. Raises ValueError naming the key for a bad value."""
    args = extra_args or {}
    out = []
    for key, default in (("ttft_slo_s", ttft_default), ("tbt_slo_s", tbt_default)):
        v = args.get(key, default)
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"kvsched.vllm: extra_args['{key}'] must be a number of seconds, got {v!r}")
        if not (f > 0 and math.isfinite(f)):
            raise ValueError(f"kvsched.vllm: extra_args['{key}'] must be > 0 seconds, got {v!r}")
        out.append(f)
    return SloSpec(out[0], out[1])


def waiting_key(returning: bool, arrival_s: float, slo: SloSpec, now_s: float):
    """Sort key of a waiting request (smaller = admitted first): returning requests first,
    then by TTFT slack ``arrival + ttft_slo - now`` (seconds), ties by arrival."""
    return (0 if returning else 1, arrival_s + slo.ttft_s - now_s, arrival_s)


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
        longer = self._sorted[bisect.bisect_right(self._sorted, generated):]
        if not longer:
            return min(max_tokens, max(2 * generated, generated + 1))
        return min(max_tokens, longer[min(len(longer) - 1, int(self.quantile * len(longer)))])


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
