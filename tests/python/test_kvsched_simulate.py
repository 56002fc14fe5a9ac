"""kvsched.simulate against kvsched-sim: the same trace and settings give identical metrics;
per-request records; reruns from the recorded config; trace readers; rate sweeps on a
process pool."""
import json
import subprocess
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from kvsched_paths import TRACE, sim_exe

kvsched = pytest.importorskip("kvsched")

SLICE = dict(num_requests=150, rate_scale=4.0, kv_blocks=600, max_num_seqs=64)
FLAGS = ["--num-requests", "150", "--rate-scale", "4", "--kv-blocks", "600", "--max-num-seqs", "64"]


def run_cli(tmp_path, *args):
    out = tmp_path / "out.json"
    r = subprocess.run([sim_exe(), "-q", "--no-wall-time", "--trace", str(TRACE), *FLAGS, "--json", str(out), *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(out.read_text())


def test_simulate_and_kvsched_sim_give_identical_metrics(tmp_path):
    policies = ["vllm_v1", "sarathi", "cacheopt", "accelgen"]
    cli = run_cli(tmp_path, "--policy", ",".join(policies))
    py = kvsched.simulate(trace=str(TRACE), policies=policies, **SLICE)
    assert [r["policy"] for r in cli["runs"]] == list(py.metrics)
    for run in cli["runs"]:
        assert py.metrics[run["policy"]] == run["metrics"]
        assert py.per_class[run["policy"]] == run["per_class"]
    assert py.config == cli["config"]


def test_policy_configs_agree_with_the_cli_and_rerun_identically(tmp_path):
    specs = [{"preset": "vllm_v1", "name": "v1_256", "overrides": {"chunker": {"budget": 256}}},
             {"preset": "cacheopt", "overrides": {"estimator": {"padding": {"p_hi": 0.99}}}}]
    cfg = tmp_path / "policies.json"
    cfg.write_text(json.dumps(specs))
    cli = run_cli(tmp_path, "--policy-config", str(cfg))
    py = kvsched.simulate(trace=str(TRACE), policies=specs, **SLICE)
    assert list(py.metrics) == ["v1_256", "cacheopt"]
    for run in cli["runs"]:
        assert py.metrics[run["policy"]] == run["metrics"]
    rerun = py.config["rerun"]
    again = kvsched.simulate(trace=str(TRACE), policies=rerun["policies"], engine=rerun["engine"],
                             latency=rerun["latency_coeffs"], num_requests=150, rate_scale=4.0)
    assert again.metrics == py.metrics
    plain = kvsched.simulate(trace=str(TRACE), policies=["vllm_v1"], **SLICE)
    assert plain.metrics["vllm_v1"] != py.metrics["v1_256"]  # the override changed the run


def test_per_request_records_are_numpy_columns(tmp_path):
    res = kvsched.simulate(trace=str(TRACE), policies=["vllm_v1"], as_dataframe=False, **SLICE)
    rec = res.requests["vllm_v1"]
    n = res.metrics["vllm_v1"]["num_requests"]
    assert n == 150
    for col in ("id", "arrival_s", "prompt_tokens", "output_tokens", "generated_tokens", "ttft_s", "tbt_max_s",
                "e2e_s", "preemptions", "ttft_ok", "tbt_ok"):
        assert isinstance(rec[col], np.ndarray) and rec[col].shape == (n,), col
    finished = rec["state"] == "finished"
    assert finished.sum() == res.metrics["vllm_v1"]["num_finished"]
    assert np.all(rec["generated_tokens"][finished] == rec["output_tokens"][finished])
    assert np.percentile(rec["ttft_s"][~np.isnan(rec["ttft_s"])], 99) == pytest.approx(res.metrics["vllm_v1"]["ttft_p99_s"])
    assert rec["ttft_ok"].mean() == pytest.approx(res.metrics["vllm_v1"]["ttft_slo_attainment"])


def test_records_as_a_dataframe_when_pandas_is_installed():
    pd = pytest.importorskip("pandas")
    res = kvsched.simulate(trace=str(TRACE), policies=["vllm_v1"], **SLICE)
    df = res.requests["vllm_v1"]
    assert isinstance(df, pd.DataFrame) and len(df) == 150


def test_bad_settings_raise_value_error_naming_them(tmp_path):
    with pytest.raises(ValueError, match="--rate must be > 0"):
        kvsched.simulate(trace=str(TRACE), policies=["vllm_v1"], rate=-1.0)
    with pytest.raises(ValueError, match="num_requestz: unknown key"):
        kvsched.simulate(trace=str(TRACE), policies=["vllm_v1"], num_requestz=3)
    with pytest.raises(ValueError, match=r"policies\[0\]\.overrides\.queue\.x: unknown key"):
        kvsched.simulate(trace=str(TRACE), policies=[{"preset": "vllm_v1", "overrides": {"queue": {"x": 1}}}])
    bad = tmp_path / "bad.csv"
    bad.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,12,x\n")
    with pytest.raises(ValueError, match="bad.csv:2"):
        kvsched.simulate(trace=str(bad), policies=["vllm_v1"])


def test_read_trace_gives_the_rows_as_columns():
    t = kvsched.read_trace(str(TRACE))
    assert t["format"] == "azure" and t["timed"]
    n = t["prompt_tokens"].shape[0]
    assert n > 1000 and t["arrival_s"].shape == (n,) and t["output_tokens"].shape == (n,)
    assert t["arrival_s"][0] == 0.0 and np.all(np.diff(t["arrival_s"]) >= 0)
    assert np.all(t["prompt_tokens"] >= 1)


def test_sweep_rate_on_a_process_pool_matches_the_serial_sweep_and_the_cli(tmp_path):
    kw = dict(trace=str(TRACE), policies=["vllm_v1", "sarathi"], num_requests=120, kv_blocks=600)
    serial = kvsched.sweep_rate([2.0, 7.0, 12.0], **kw)
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = kvsched.sweep_rate([2.0, 7.0, 12.0], executor=pool, **kw)
    assert pooled == serial
    out = tmp_path / "sweep.json"
    r = subprocess.run([sim_exe(), "-q", "--no-wall-time", "--trace", str(TRACE), "--policy", "vllm_v1,sarathi",
                        "--num-requests", "120", "--kv-blocks", "600", "--sweep-rate", "2:12:5", "--json", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for s in json.loads(out.read_text())["sweep"]:
        mine = serial[s["policy"]]
        assert mine["max_sustainable_rate_rps"] == s["max_sustainable_rate_rps"]
        for a, b in zip(mine["points"], s["points"]):
            assert a == b
