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


def test_slo_from_priority_classes():
    p = _policy()
    classes = p.parse_priority_slos('{"0": [1, 0.05], "2": [30, 1.0]}')
    assert p.slo_of(None, priority=0, by_priority=classes) == p.SloSpec(1.0, 0.05)
    assert p.slo_of(None, priority=1, by_priority=classes) == p.SloSpec(p.DEFAULT_TTFT_SLO_S, p.DEFAULT_TBT_SLO_S)
    assert p.slo_of({"tbt_slo_s": 0.2}, priority=2, by_priority=classes) == p.SloSpec(30.0, 0.2)  # extra_args first
    assert p.parse_priority_slos("") == {}
    for bad, msg in (("[1]", "JSON object"), ('{"x": [1, 1]}', "priority 'x'"), ('{"0": [1]}', r"\[0\] must be"),
                     ('{"0": [1, -2]}', r"\[0\]\[1\] \(tbt\)"), ("{", "not JSON")):
        with pytest.raises(ValueError, match=msg):
            p.parse_priority_slos(bad)


def test_orders():
    p = _policy()
    tight, loose = p.SloSpec(1.0, 0.05), p.SloSpec(10.0, 0.5)
    # returning first; then the earlier deadline (arrival + ttft), even if it arrived later
    keys = {"late_tight": p.waiting_key(False, 5.0, tight),
            "early_loose": p.waiting_key(False, 0.0, loose),
            "returning": p.waiting_key(True, 9.0, loose)}
    assert sorted(keys, key=keys.get) == ["returning", "late_tight", "early_loose"]
    # victim: the loosest TBT first, then the fewest computed tokens
    v = {"a": p.victim_key(tight, 10, 0.0), "b": p.victim_key(loose, 100, 0.0),
         "c": p.victim_key(loose, 10, 0.0)}
    assert max(v, key=v.get) == "c"
    assert sorted(v, key=v.get)[0] == "a"


class _Req:
    """The fields of a vLLM Request that SlackQueue and AdmissionGate read."""

    def __init__(self, rid, arrival, ttft, prompt=32, max_tokens=32, preemptions=0):
        self.request_id, self.arrival_time, self.ttft = rid, arrival, ttft
        self.num_prompt_tokens, self.max_tokens, self.num_preemptions = prompt, max_tokens, preemptions
        self.num_computed_tokens = self.num_output_tokens = 0


def _queue(p):
    return p.SlackQueue(lambda r: p.waiting_key(r.num_preemptions > 0, r.arrival_time, p.SloSpec(r.ttft, 0.1)))


def test_slack_queue_keeps_the_order_as_requests_come_and_go():
    p = _policy()
    q = _queue(p)
    a, b, c, d = _Req("a", 0.0, 10.0), _Req("b", 1.0, 2.0), _Req("c", 2.0, 5.0), _Req("d", 3.0, 9.0, preemptions=1)
    for r in (a, b, c):
        q.add_request(r)
    q.prepend_request(d)  # a preempted request: first, as returning
    assert [r.request_id for r in q] == ["d", "b", "c", "a"]  # deadlines 3 | 7 10 ...
    q.remove_request(c)
    q.remove_requests([a, _Req("x", 0, 1)])  # unknown ones are ignored, as vLLM's queue does
    assert len(q) == 2 and q.peek_request() is d and q.pop_request() is d and q.pop_request() is b
    assert not q
    with pytest.raises(IndexError):
        q.peek_request()
    with pytest.raises(ValueError):
        q.remove_request(a)
    # the same order as a full sort of the keys, over a random stream of adds and pops
    import random
    rng = random.Random(1)
    ref = []
    for i in range(500):
        if ref and rng.random() < 0.4:
            ref.sort(key=q._key)
            assert q.pop_request() is ref.pop(0)
        else:
            r = _Req(str(i), rng.random() * 100, rng.choice((1.0, 5.0, 20.0)), preemptions=rng.random() < 0.1)
            q.add_request(r)
            ref.append(r)
    assert list(q) == sorted(ref, key=q._key)


def test_admission_gate_holds_the_first_request_that_does_not_fit_and_all_after_it():
    p = _policy()
    h = p.OutputHistory(min_samples=1)
    h.add(32)
    q = _queue(p)
    reqs = [_Req(str(i), float(i), 10.0, prompt=96) for i in range(4)]  # (96 + 32) / 16 = 8 blocks each
    reqs.append(_Req("back", 9.0, 10.0, prompt=500, preemptions=1))   # returning: always passes
    for r in reqs:
        q.add_request(r)
    q.gate = p.AdmissionGate(free_blocks=20, block_size=16, history=h, idle=False)
    admitted = []
    while q:
        assert q  # asked again for the same head: still admitted, charged once
        admitted.append(q.pop_request().request_id)
    assert admitted == ["back", "0", "1"]  # 20 blocks: two of 8, the third held
    assert q.gate.held is reqs[2] and len(q) == 2
    q.gate = None
    assert q  # outside a scheduling pass the queue is as long as it is
    q.gate = p.AdmissionGate(free_blocks=0, block_size=16, history=h, idle=True)
    assert q and q.pop_request() is reqs[2]  # idle engine: the first one passes anyway
    assert not q  # and only the first


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
