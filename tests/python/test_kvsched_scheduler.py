"""kvsched.Scheduler: the engine loop over presets by name, CSR block tables, config
overrides, and C++ errors as Python exceptions."""
import numpy as np
import pytest

kvsched = pytest.importorskip("kvsched")

ENGINE = {"num_device_blocks": 64, "block_size": 16, "max_model_len": 512, "max_num_batched_tokens": 256}


def drive(s, specs, max_steps=10_000):
    """Runs the loop until every request ends; returns {id: tokens generated} and the plans."""
    for sp in specs:
        s.add_request(**sp)
    now, done, plans = 0.0, {}, []
    for _ in range(max_steps):
        if s.num_unfinished() == 0:
            break
        plan = s.schedule(now)
        plans.append(plan)
        now += 0.01
        s.on_step_done(now)
        for r in s.take_terminal():
            done[r["id"]] = (r["state"], r["num_generated"], r["token_times_s"])
    return done, plans


@pytest.mark.parametrize("preset", ["vllm_v1", "sarathi", "cacheopt", "accelgen", "sglang"])
def test_every_request_finishes_with_its_max_tokens(preset):
    s = kvsched.Scheduler(preset, engine=ENGINE)
    specs = [dict(id=i, prompt_tokens=30 + 17 * i, max_tokens=5 + i, slo=(1.0, 0.1)) for i in range(12)]
    done, plans = drive(s, specs)
    assert sorted(done) == list(range(12))
    for i in range(12):
        state, generated, times = done[i]
        assert state == "finished"
        assert generated == 5 + i
        assert len(times) == 5 + i and np.all(np.diff(times) > 0)
    assert s.num_free_blocks() <= ENGINE["num_device_blocks"]


def test_block_tables_are_csr_covering_each_scheduled_context():
    s = kvsched.Scheduler("vllm_v1", engine=ENGINE)
    _, plans = drive(s, [dict(id=i, prompt_tokens=40 + 9 * i, max_tokens=20) for i in range(8)])
    bs = ENGINE["block_size"]
    seen_batch = False
    for p in plans:
        n = len(p)
        assert p.indptr.dtype == np.int32 and p.indices.dtype == np.int32 and p.last_page_len.dtype == np.int32
        assert p.indptr.shape == (n + 1,) and p.last_page_len.shape == (n,)
        assert p.indptr[0] == 0 and p.indptr[-1] == p.indices.shape[0]
        ctx = p.num_computed_before + p.num_tokens
        pages = np.diff(p.indptr)
        np.testing.assert_array_equal(pages, (ctx + bs - 1) // bs)
        np.testing.assert_array_equal((pages - 1) * bs + p.last_page_len, ctx)
        # no device block is in two requests' tables (prefix sharing is off for distinct prompts here)
        assert len(np.unique(p.indices)) == p.indices.shape[0]
        assert np.all((p.indices >= 0) & (p.indices < ENGINE["num_device_blocks"]))
        seen_batch = seen_batch or n > 1
        for i in range(n):
            np.testing.assert_array_equal(p.block_table(i), p.indices[p.indptr[i]:p.indptr[i + 1]])
    assert seen_batch


def test_config_overrides_reach_the_policy():
    s = kvsched.Scheduler("vllm_v1", engine=ENGINE, config={"chunker": {"budget": 32}}, name="small")
    assert s.name == "small"
    assert s.config["chunker"]["budget"] == 32
    s.add_request(id=0, prompt_tokens=200, max_tokens=2)
    assert s.schedule(0.0).num_tokens.tolist() == [32]
    default = kvsched.Scheduler("vllm_v1", engine=ENGINE)
    default.add_request(id=0, prompt_tokens=200, max_tokens=2)
    assert default.schedule(0.0).num_tokens.tolist() == [200]
    assert kvsched.preset_config("vllm_v1", {"chunker": {"budget": 32}}) == s.config


def test_eos_finishes_a_request_early_and_abort_frees_it():
    s = kvsched.Scheduler("vllm_v1", engine=ENGINE)
    s.add_request(id=1, prompt_tokens=20, max_tokens=50)
    s.add_request(id=2, prompt_tokens=20, max_tokens=50)
    s.schedule(0.0)
    s.on_step_done(0.01, eos=[1])
    ended = {r["id"]: r for r in s.take_terminal()}
    assert ended[1]["state"] == "finished" and ended[1]["num_generated"] == 1
    s.abort(2)
    assert s.take_terminal()[0]["state"] == "aborted"
    assert s.num_unfinished() == 0


def test_errors_are_python_exceptions_with_the_cpp_messages():
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        kvsched.Scheduler("nope", engine=ENGINE)
    with pytest.raises(ValueError, match=r"overrides\.chunker\.budgt: unknown key"):
        kvsched.Scheduler("vllm_v1", engine=ENGINE, config={"chunker": {"budgt": 1}})
    with pytest.raises(ValueError, match=r"overrides\.chunker\.budget: expected an integer"):
        kvsched.Scheduler("vllm_v1", engine=ENGINE, config={"chunker": {"budget": "big"}})
    with pytest.raises(ValueError, match=r"engine\.blocks: unknown key"):
        kvsched.Scheduler("vllm_v1", engine={"blocks": 3})
    with pytest.raises(ValueError, match="EngineConfig.num_device_blocks"):
        kvsched.Scheduler("vllm_v1", engine={"num_device_blocks": 0})
    with pytest.raises(ValueError, match="unknown key 'cpu'"):
        kvsched.Scheduler("vllm_v1", engine=ENGINE, latency={"cpu": 1.0})
    s = kvsched.Scheduler("vllm_v1", engine=ENGINE)
    s.add_request(id=0, prompt_tokens=10, max_tokens=1)
    with pytest.raises(ValueError):
        s.add_request(id=0, prompt_tokens=10, max_tokens=1)  # duplicate id
    with pytest.raises(ValueError):
        s.add_request(id=5, prompt_tokens=0, max_tokens=1)
    with pytest.raises(IndexError, match="unknown or finished request 99"):
        s.abort(99)


def test_every_preset_constructs_and_reports_its_full_config():
    for name in kvsched.preset_names():
        s = kvsched.Scheduler(name, engine=ENGINE)
        assert s.config == kvsched.preset_config(name)
        assert kvsched.preset_config(name, s.config) == s.config
