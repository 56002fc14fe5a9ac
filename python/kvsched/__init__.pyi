"""Type stubs of the kvsched package (python/kvsched/__init__.py has the docs)."""
from concurrent.futures import Executor
from os import PathLike
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import numpy as np

from ._kvsched import RequestSpec as RequestSpec, Slo as Slo

__version__: str
PolicyArg = Union[str, Mapping[str, Any]]
TraceArg = Union[None, str, PathLike[str], Sequence[Union[str, PathLike[str]]]]

def preset_names() -> List[str]: ...
def preset_config(preset: str, overrides: Optional[Mapping[str, Any]] = ...) -> Dict[str, Any]: ...

class SchedulePlan:
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
    preempted: List[tuple]
    rejected: List[tuple]
    finished: List[int]
    def __len__(self) -> int: ...
    def block_table(self, i: int) -> np.ndarray: ...

class Scheduler:
    def __init__(self, preset: str, engine: Mapping[str, Any], latency: Optional[Mapping[str, Any]] = ...,
                 config: Optional[Mapping[str, Any]] = ..., name: Optional[str] = ...) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def config(self) -> Dict[str, Any]: ...
    @property
    def engine(self) -> Dict[str, Any]: ...
    def add_request(self, spec: Optional[RequestSpec] = ..., **fields: Any) -> None: ...
    def abort(self, request_id: int) -> None: ...
    def schedule(self, now_s: float) -> SchedulePlan: ...
    def on_step_done(self, now_s: float, eos: Iterable[int] = ...) -> None: ...
    def num_unfinished(self) -> int: ...
    def request_state(self, request_id: int) -> Optional[Dict[str, Any]]: ...
    def take_terminal(self) -> List[Dict[str, Any]]: ...
    def stats(self) -> Dict[str, int]: ...
    def num_free_blocks(self) -> int: ...

class SimResult:
    metrics: Dict[str, Dict[str, Any]]
    per_class: Dict[str, Dict[str, Any]]
    requests: Dict[str, Any]
    config: Dict[str, Any]
    runs: List[Dict[str, Any]]
    def __getitem__(self, policy: str) -> Dict[str, Any]: ...

def simulate(trace: TraceArg = ..., workload: Optional[str] = ..., policies: Optional[Sequence[PolicyArg]] = ...,
             model: str = ..., gpu: str = ..., *, engine: Optional[Mapping[str, Any]] = ...,
             latency: Optional[Mapping[str, Any]] = ..., wall_time: bool = ..., as_dataframe: Optional[bool] = ...,
             rate: Optional[float] = ..., rate_scale: Optional[float] = ..., duration: Optional[float] = ...,
             num_requests: Optional[int] = ..., seed: int = ..., arrival: str = ..., cv: float = ...,
             trace_format: str = ..., slo_class: str = ..., slo_ttft: Optional[float] = ...,
             slo_tbt: Optional[float] = ..., gpu_memory_gib: Optional[float] = ...,
             gpu_memory_utilization: float = ..., kv_blocks: Optional[int] = ...,
             block_size: int = ..., swap_space_gib: float = ..., max_num_seqs: int = ...,
             max_num_batched_tokens: int = ..., max_model_len: Optional[int] = ..., no_prefix_caching: bool = ...,
             context_overflow: str = ..., max_tokens: Union[str, int] = ..., overlap_swap: bool = ...,
             cpu_overhead: str = ..., latency_noise: float = ..., ground_truth: str = ...,
             slo_margin: Optional[float] = ..., data_dir: Optional[str] = ...) -> SimResult: ...
def sweep_rate(rates: Iterable[float], trace: TraceArg = ..., workload: Optional[str] = ...,
               policies: Optional[Sequence[PolicyArg]] = ..., *, executor: Optional[Executor] = ...,
               threshold: float = ..., **options: Any) -> Dict[str, Dict[str, Any]]: ...
def read_trace(path: Union[str, PathLike[str]], format: str = ...) -> Dict[str, Any]: ...
