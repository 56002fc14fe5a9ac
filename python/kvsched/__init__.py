"""kvsched: KV-cache scheduling policies for LLM inference engines (docs/python.md).

- ``Scheduler``: any preset by name (``preset_names()``), driven as an engine drives it:
  ``add_request``, ``schedule(now)`` -> ``SchedulePlan``, ``on_step_done(now, eos=...)``.
- ``simulate``: the trace-driven simulator of kvsched-sim (same settings, same metrics).
- ``sweep_rate``: arrival-rate sweeps on any ``concurrent.futures.Executor``.
- ``read_trace``: trace files as numpy columns.

Errors are Python exceptions carrying the C++ messages: ``ValueError`` for bad input
(unknown preset, unknown config key, wrong type, bad trace), ``IndexError`` for an unknown
request id.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

try:
    from . import _kvsched
    from ._kvsched import RequestSpec, Slo
except ImportError as _err:  # compiled module not built: pure-Python kvsched.vllm still imports
    _import_error = _err

    class _Missing:
        """Stands in for the unbuilt compiled module: any use raises the original ImportError."""

        def __getattr__(self, name: str) -> Any:
            raise ImportError(f"kvsched's compiled module is not built ({_import_error})")

        def __call__(self, *a: Any, **k: Any) -> Any:
            raise ImportError(f"kvsched's compiled module is not built ({_import_error})")

    _kvsched = _Missing()  # type: ignore[assignment]
    RequestSpec = Slo = _Missing()  # type: ignore[assignment,misc]

__all__ = [
    "RequestSpec",
    "Slo",
    "Scheduler",
    "SchedulePlan",
    "SimResult",
    "preset_names",
    "preset_config",
    "simulate",
    "sweep_rate",
    "read_trace",
]
__version__ = "0.1.0"


def preset_names() -> List[str]:
    """Names of every preset, in report order."""
    return list(_kvsched.preset_names())


def preset_config(preset: str, overrides: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
    """The full bundle config of ``preset`` (every slot's every field) with ``overrides``."""
    return json.loads(_kvsched.preset_config_json(preset, None if overrides is None else json.dumps(overrides)))


@dataclass
class SchedulePlan:
    """One iteration's decision. Per scheduled request (arrays of equal length, batch order):
    ``request_ids``, ``num_tokens`` (this step), ``num_computed_before`` (KV tokens already
    cached), ``is_prefill``, ``samples_token``. Block tables of those requests as CSR (FlashInfer's
    layout, int32): ``indptr`` [n + 1], ``indices`` [indptr[-1]] device block ids,
    ``last_page_len`` [n]; each table covers num_computed_before + num_tokens tokens.
    ``swap_out``, ``swap_in``, ``copy``: (k, 2) int32 arrays of (src, dst) blocks, applied in
    that order before the forward pass. ``preempted``: (id, "swap"|"recompute", context tokens);
    ``rejected``: (id, reason); ``finished``: ids finished by the previous step."""

    now_s: float
    request_ids: np.ndarray
    num_tokens: np.ndarray
    num_computed_before: np.ndarray
    is_prefill: np.ndarray
    samples_token: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    last_page_len: np.ndarray
    block_size: int
    swap_out: np.ndarray
    swap_in: np.ndarray
    copy: np.ndarray
    preempted: List[tuple] = field(default_factory=list)
    rejected: List[tuple] = field(default_factory=list)
    finished: List[int] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.request_ids.shape[0])

    def block_table(self, i: int) -> np.ndarray:
        """Device blocks of the i-th scheduled request."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]


def _dumps(x: Optional[Mapping[str, Any]]) -> Optional[str]:
    return None if x is None else json.dumps(x)


class Scheduler:
    """A kvsched scheduler over preset ``preset`` (see ``preset_names()``).

    ``engine``: EngineConfig fields (``num_device_blocks`` is required; ``block_size``,
    ``num_host_blocks``, ``max_num_seqs``, ``max_num_batched_tokens``, ``max_model_len``,
    ``enable_prefix_caching``). ``latency``: LatencyCoeffs fields overriding the defaults
    (policies that predict time read them). ``config``: overrides of the preset's bundle config
    (``preset_config(preset)`` shows every key). ``name``: the name it reports.
    Raises ValueError naming the key for an unknown key, a wrong type or an invalid value."""

    def __init__(self, preset: str, engine: Mapping[str, Any], latency: Optional[Mapping[str, Any]] = None,
                 config: Optional[Mapping[str, Any]] = None, name: Optional[str] = None) -> None:
        self._s = _kvsched.Scheduler(preset, json.dumps(dict(engine)), _dumps(latency), _dumps(config), name)

    @property
    def name(self) -> str:
        return self._s.name

    @property
    def config(self) -> Dict[str, Any]:
        """The full bundle config this scheduler runs with."""
        return json.loads(self._s.config_json())

    @property
    def engine(self) -> Dict[str, Any]:
        return json.loads(self._s.engine_json())

    def add_request(self, spec: Optional[RequestSpec] = None, **fields: Any) -> None:
        """Queues a request: a RequestSpec, or its fields as keywords (``id``, ``prompt_tokens``,
        ``max_tokens``, ``arrival_s``, ``slo=(ttft_s, tbt_s)``, ...). ValueError for a bad spec."""
        if spec is None:
            spec = RequestSpec()
            for k, v in fields.items():
                if k == "slo" and isinstance(v, (tuple, list)):
                    s = Slo()
                    s.ttft_s, s.tbt_s = float(v[0]), float(v[1])
                    v = s
                if not hasattr(spec, k):
                    raise ValueError(f"RequestSpec has no field '{k}'")
                setattr(spec, k, v)
        elif fields:
            raise ValueError("give a RequestSpec or keyword fields, not both")
        self._s.add_request(spec)

    def abort(self, request_id: int) -> None:
        """Aborts a live request and frees its blocks. IndexError for an unknown id."""
        self._s.abort(int(request_id))

    def schedule(self, now_s: float) -> SchedulePlan:
        """Decides the next iteration at time ``now_s`` (s)."""
        return SchedulePlan(**self._s.schedule(float(now_s)))

    def on_step_done(self, now_s: float, eos: Iterable[int] = ()) -> None:
        """Reports the executed plan at ``now_s`` (s); ``eos``: ids whose sampled token was a stop token."""
        self._s.on_step_done(float(now_s), [int(i) for i in eos])

    def num_unfinished(self) -> int:
        return self._s.num_unfinished()

    def request_state(self, request_id: int) -> Optional[Dict[str, Any]]:
        """{"state", "num_computed_tokens", "num_generated", "num_preemptions"} or None if unknown."""
        return self._s.request_state(int(request_id))

    def take_terminal(self) -> List[Dict[str, Any]]:
        """Requests that ended since the last call: id, state, num_generated, token_times_s, ..."""
        return list(self._s.take_terminal())

    def stats(self) -> Dict[str, int]:
        return json.loads(self._s.stats_json())

    def num_free_blocks(self) -> int:
        return self._s.num_free_blocks()


PolicyArg = Union[str, Mapping[str, Any]]


def _policy_specs(policies: Optional[Sequence[PolicyArg]]) -> Optional[List[Dict[str, Any]]]:
    if policies is None:
        return None
    if isinstance(policies, (str, Mapping)):
        policies = [policies]
    out = []
    for p in policies:
        if isinstance(p, str):
            out.append({"preset": p})
        elif isinstance(p, Mapping):
            out.append(dict(p))
        else:
            raise ValueError(f"policies: expected a preset name or a dict, got {p!r}")
    return out


@dataclass
class SimResult:
    """What ``simulate`` returns. ``metrics``: per policy name, the metric dict of kvsched-sim
    --json (runs[i].metrics); ``per_class``: per policy, per class; ``requests``: per policy,
    per-request records (a pandas DataFrame when pandas is installed, else a dict of numpy
    arrays); ``config``: the run's full config (config.rerun reruns it); ``runs``: the raw
    JSON runs."""

    metrics: Dict[str, Dict[str, Any]]
    per_class: Dict[str, Dict[str, Any]]
    requests: Dict[str, Any]
    config: Dict[str, Any]
    runs: List[Dict[str, Any]]

    def __getitem__(self, policy: str) -> Dict[str, Any]:
        return self.metrics[policy]


def _records(d: Dict[str, Any], as_dataframe: Optional[bool]):
    cols = {k: (v if isinstance(v, np.ndarray) else np.asarray(v)) for k, v in d.items()}
    if as_dataframe is False:
        return cols
    try:
        import pandas as pd  # noqa: PLC0415
    except ImportError:
        if as_dataframe:
            raise
        return cols
    return pd.DataFrame(cols)


def simulate(trace: Union[None, str, Sequence[str]] = None, workload: Optional[str] = None,
             policies: Optional[Sequence[PolicyArg]] = None, model: str = "llama2-7b", gpu: str = "h100-80g",
             *, engine: Optional[Mapping[str, Any]] = None, latency: Optional[Mapping[str, Any]] = None,
             wall_time: bool = False, as_dataframe: Optional[bool] = None, **options: Any) -> SimResult:
    """Runs kvsched-sim's simulation in process (the GIL is released while it runs).

    ``trace``: one or more trace files (Azure, Vidur/Splitwise, length-only CSV, Mooncake JSONL);
    ``workload``: a workload file instead; neither: the bundled default run. ``policies``: preset
    names or {"preset", "overrides", "name"} dicts (default: every preset). ``engine``,
    ``latency``: overrides of the engine config and of the fitted latency coefficients.
    ``options``: kvsched-sim's flags with '_' for '-': rate, rate_scale, duration, num_requests,
    seed, arrival, cv, trace_format, slo_class, slo_ttft, slo_tbt, gpu_memory_gib, gpu_memory_utilization,
    kv_blocks, block_size, swap_space_gib, max_num_seqs, max_num_batched_tokens, max_model_len,
    no_prefix_caching, context_overflow, max_tokens, overlap_swap, cpu_overhead ("async",
    "serial", "off", "engine"), latency_noise (CV in [0, 10]), ground_truth ("model", "profile"),
    slo_margin (in [0, 1)), data_dir. ``wall_time``:
    record sim_wall_s (off: metrics are deterministic). ValueError for a bad setting or file."""
    setup: Dict[str, Any] = dict(options)
    if trace is not None:
        setup["traces"] = [str(trace)] if isinstance(trace, (str, bytes)) or hasattr(trace, "__fspath__") else [str(t) for t in trace]
    if workload is not None:
        setup["workload"] = str(workload)
    setup["model"] = model
    setup["gpu"] = gpu
    if "max_tokens" in setup and isinstance(setup["max_tokens"], int):
        setup["max_tokens"] = str(setup["max_tokens"])
    if "data_dir" in setup:
        setup["data_dir"] = str(setup["data_dir"])
    if engine is not None:
        setup["engine_overrides"] = dict(engine)
    if latency is not None:
        setup["latency_overrides"] = dict(latency)
    specs = _policy_specs(policies)
    if specs is not None:
        setup["policies"] = specs
    text, recs = _kvsched.simulate(json.dumps(setup), bool(wall_time))
    out = json.loads(text)
    runs = out["runs"]
    names = [r["policy"] for r in runs]
    return SimResult(
        metrics={r["policy"]: r["metrics"] for r in runs},
        per_class={r["policy"]: r["per_class"] for r in runs},
        requests={n: _records(dict(rec), as_dataframe) for n, rec in zip(names, recs)},
        config=out["config"],
        runs=runs,
    )


def _sweep_point(kwargs: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """One rate of a sweep (module level, so that process pools can pickle it)."""
    res = simulate(**kwargs, as_dataframe=False)
    keys = ("ttft_slo_attainment", "tbt_slo_attainment", "slo_attainment", "goodput_rps", "ttft_p99_s",
            "tbt_max_p99_s", "num_requests")
    return {p: {k: m[k] for k in keys} for p, m in res.metrics.items()}


def sweep_rate(rates: Iterable[float], trace: Union[None, str, Sequence[str]] = None, workload: Optional[str] = None,
               policies: Optional[Sequence[PolicyArg]] = None, *, executor: Any = None, threshold: float = 0.9,
               **options: Any) -> Dict[str, Dict[str, Any]]:
    """Simulates every policy at every total arrival rate (requests/s), as kvsched-sim
    --sweep-rate does (requests rebuilt at each rate, rate_scale 1), one ``simulate`` call per
    rate. ``executor``: any concurrent.futures.Executor (a ProcessPoolExecutor, Ray's or Dask's
    executors); None runs the rates here, one after another. Returns, per policy,
    {"points": [{"rate_rps", attainments, goodput, p99s}], "max_sustainable_rate_rps": the highest
    rate at which it and every lower rate keep both attainments >= threshold, or None}."""
    rates = sorted(float(r) for r in rates)
    if not rates:
        raise ValueError("sweep_rate: no rates")
    base = dict(options, trace=trace, workload=workload, policies=policies, rate_scale=1.0)
    jobs = [dict(base, rate=r) for r in rates]
    if executor is None:
        results = [_sweep_point(j) for j in jobs]
    else:
        futures = [executor.submit(_sweep_point, j) for j in jobs]
        results = [f.result() for f in futures]
    out: Dict[str, Dict[str, Any]] = {}
    for rate, res in zip(rates, results):
        for p, m in res.items():
            out.setdefault(p, {"points": []})["points"].append(dict(m, rate_rps=rate))
    for p, s in out.items():
        pts = s["points"]
        s["max_sustainable_rate_rps"] = _kvsched.max_sustainable_rate(
            [q["rate_rps"] for q in pts], [q["ttft_slo_attainment"] for q in pts],
            [q["tbt_slo_attainment"] for q in pts], float(threshold))
    return out


def read_trace(path: str, format: str = "auto") -> Dict[str, Any]:
    """A trace file's rows: {"format", "timed", "arrival_s", "prompt_tokens", "output_tokens",
    "line"} (numpy arrays; arrival_s in s from the first request, 0 when untimed). ValueError
    naming the file, line and column for a malformed file."""
    return dict(_kvsched.read_trace(str(path), format))
