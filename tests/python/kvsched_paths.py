"""Paths the kvsched Python tests share: the repository root and the kvsched-sim binary."""
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "data" / "azure_llm_inference_2023" / "AzureLLMInferenceTrace_conv.csv"


def sim_exe() -> str:
    """kvsched-sim (env KVSCHED_SIM_EXE, else build/examples/kvsched-sim); skips when absent."""
    exe = os.environ.get("KVSCHED_SIM_EXE", str(ROOT / "build" / "examples" / "kvsched-sim"))
    if not Path(exe).exists():
        pytest.skip(f"kvsched-sim not built at {exe} (set KVSCHED_SIM_EXE)")
    return exe
