"""kvsched.vllm: a kvsched scheduling policy inside vLLM v1 (docs/vllm.md).

Use: ``LLM(..., scheduler_cls="kvsched.vllm.Scheduler")`` or ``vllm serve --scheduler-cls
kvsched.vllm.Scheduler``. Needs vLLM; supported versions: ``SUPPORTED_VLLM_VERSIONS``. Pure
Python: it does not import kvsched's compiled module.
"""
from __future__ import annotations

#: vLLM versions whose Scheduler internals this plug-in was read against and tested with.
SUPPORTED_VLLM_VERSIONS = ("0.32.0",)

try:
    import vllm as _vllm
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "kvsched.vllm needs vLLM installed (supported: " + ", ".join(SUPPORTED_VLLM_VERSIONS)
        + "); scripts/setup_vllm.sh makes a venv with it") from e

if _vllm.__version__ not in SUPPORTED_VLLM_VERSIONS:
    raise ImportError(
        f"kvsched.vllm supports vLLM {', '.join(SUPPORTED_VLLM_VERSIONS)}, found vLLM "
        f"{_vllm.__version__}: the plug-in relies on that Scheduler's internals "
        "(self.waiting, self.running, running[-1] as the FCFS victim)")

from ._scheduler import Scheduler  # noqa: E402

__all__ = ["Scheduler", "SUPPORTED_VLLM_VERSIONS"]
