"""kvsched.vllm: its pure-Python decisions (always run) and the end-to-end check against a real
vLLM (scripts/vllm_plugin_check.py, run with the venv in $KVSCHED_VLLM_VENV, else <repo>/.venv-vllm;
skipped when there is none)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _policy():
    """python/kvsched/vllm/_policy.py loaded by path: it needs neither vLLM nor _kvsched."""
    spec = importlib.util.spec_from_file_location(
        "kvsched_vllm_policy", ROOT / "python" / "kvsched" / "vllm" / "_policy.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_slo_from_extra_args_and_defaults():
    p = _policy()
    assert p.slo_of(None) == p.SloSpec(p.DEFAULT_TTFT_SLO_S, p.DEFAULT_TBT_SLO_S)
    assert p.slo_of({"tbt_slo_s": 0.05}).tbt_s == 0.05
    with pytest.raises(ValueError, match="ttft_slo_s"):
        p.slo_of({"ttft_slo_s": -1})
    with pytest.raises(ValueError, match="tbt_slo_s"):
        p.slo_of({"tbt_slo_s": "fast"})


def test_orders():
    p = _policy()
    tight, loose = p.SloSpec(1.0, 0.05), p.SloSpec(10.0, 0.5)
    # returning first; then the earlier deadline (arrival + ttft), even if it arrived later
    keys = {"late_tight": p.waiting_key(False, 5.0, tight, 6.0),
            "early_loose": p.waiting_key(False, 0.0, loose, 6.0),
            "returning": p.waiting_key(True, 9.0, loose, 6.0)}
    assert sorted(keys, key=keys.get) == ["returning", "late_tight", "early_loose"]
    # victim: the loosest TBT first, then the fewest computed tokens
    v = {"a": p.victim_key(tight, 10, 0.0), "b": p.victim_key(loose, 100, 0.0),
         "c": p.victim_key(loose, 10, 0.0)}
    assert max(v, key=v.get) == "c"
    assert sorted(v, key=v.get)[0] == "a"


def test_history_estimate():
    p = _policy()
    h = p.OutputHistory(quantile=0.5, min_samples=4)
    assert h.estimate(0, 77) == 77  # cold start: max_tokens
    for n in (10, 20, 30, 40):
        h.add(n)
    assert h.estimate(0, 100) in (20, 30)
    assert h.estimate(35, 100) == 40  # only the longer outputs count
    assert h.estimate(50, 100) == 100  # outlived the history: doubles
    assert h.estimate(50, 60) == 60  # capped at max_tokens


def test_slo_chunk():
    p = _policy()
    assert p.slo_chunk_tokens(0.1, None, 3, 32, 256) == 256
    c = p.slo_chunk_tokens(0.1, 1e-3, 4, 32, 256, margin=0.1)  # 90 tokens - 4 decodes
    assert c % 32 == 0 and 32 <= c <= 86
    assert p.slo_chunk_tokens(1e-6, 1e-3, 4, 32, 256) == 32
    assert p.slo_chunk_tokens(100.0, 1e-3, 4, 32, 256) == 256


def _vllm_python():
    env = os.environ.get("KVSCHED_VLLM_VENV")
    cands = [Path(env)] if env else [ROOT / ".venv-vllm"]
    for c in cands:
        if (c / "bin" / "python").exists():
            return c / "bin" / "python"
    pytest.skip("no vLLM venv (set KVSCHED_VLLM_VENV; scripts/setup_vllm.sh makes one): "
                f"looked at {', '.join(map(str, cands))}")


def test_plugin_against_real_vllm():
    py = _vllm_python()
    env = dict(os.environ, PYTHONPATH=str(ROOT / "python"))
    p = subprocess.run([str(py), str(ROOT / "scripts" / "vllm_plugin_check.py")], env=env,
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-4000:]


@pytest.mark.parametrize("version, message", [
    ("0.0.1", "supports vLLM 0.32.0, found vLLM 0.0.1"),
    (None, "needs vLLM installed"),
])
def test_unsupported_or_missing_vllm_fails_clearly(version, message):
    """Importing kvsched.vllm with another vLLM version (a stub module) or none: ImportError."""
    stub = ("import sys, types; m = types.ModuleType('vllm'); m.__version__ = %r; "
            "sys.modules['vllm'] = m" % version) if version else "import sys; sys.modules['vllm'] = None"
    code = stub + "\ntry:\n    import kvsched.vllm\nexcept ImportError as e:\n    print(e)\n"
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=str(ROOT / "python")))
    assert message in p.stdout, p.stdout + p.stderr
