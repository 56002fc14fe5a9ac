"""kvsched-server with real clients: the official `openai` package (streaming and not), curl,
raw sockets for disconnects, and signals. Run by ctest (server_openai_pytest) through the
venv of scripts/setup_pyenv.sh."""
import json
import re
import signal
import socket
import subprocess
import time
import urllib.request

import openai
import pytest

from conftest import Server


def metrics(url: str) -> dict:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        m = re.match(r'^(vllm:[a-z_]+)\{[^}]*\} (\S+)$', line)
        if m and m.group(1) not in out:
            out[m.group(1)] = float(m.group(2))
    return out


def wait_for(pred, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def read_until(sock, marker: bytes) -> bytes:
    got = b""
    while marker not in got:
        b = sock.recv(4096)
        if not b:
            break
        got += b
    return got


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=60)


def model_id(server) -> str:
    return client(server).models.list().data[0].id


def test_models_and_completion(server):
    c = client(server)
    models = c.models.list().data
    assert len(models) == 1
    r = c.completions.create(model=models[0].id, prompt="Hello", max_tokens=8, extra_body={"ignore_eos": True})
    assert r.object == "text_completion"
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 8
    assert r.usage.total_tokens == r.usage.prompt_tokens + 8


def test_completion_stream(server):
    c = client(server)
    chunks = list(c.completions.create(model=model_id(server), prompt="Hello", max_tokens=10, stream=True,
                                       stream_options={"include_usage": True}, extra_body={"ignore_eos": True}))
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "length"
    assert all(f is None for f in finishes[:-1])
    assert chunks[-1].usage.completion_tokens == 10


def test_chat_stream_and_not(server):
    c = client(server)
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    whole = c.chat.completions.create(model=model_id(server), messages=msgs, max_tokens=12, temperature=0,
                                      extra_body={"ignore_eos": True})
    assert whole.choices[0].message.role == "assistant"
    streamed = c.chat.completions.create(model=model_id(server), messages=msgs, max_tokens=12, temperature=0,
                                         stream=True, extra_body={"ignore_eos": True})
    text = "".join(ch.choices[0].delta.content or "" for ch in streamed if ch.choices)
    assert text == whole.choices[0].message.content  # greedy: the same text either way


def test_seed_reproducible(server):
    c = client(server)
    kw = dict(model=model_id(server), prompt="abc", max_tokens=16, temperature=1.0, top_p=0.9,
              extra_body={"ignore_eos": True})
    a = c.completions.create(seed=123, **kw).choices[0].text
    b = c.completions.create(seed=123, **kw).choices[0].text
    assert a == b


def test_stop_string(server):
    c = client(server)
    whole = c.completions.create(model=model_id(server), prompt="x", max_tokens=40, temperature=0,
                                 extra_body={"ignore_eos": True}).choices[0].text
    printable = [ch for ch in whole if ch.isalnum()]
    if not printable:
        pytest.skip("the random model's greedy text has no alphanumeric character to stop at")
    stop = printable[0]
    r = c.completions.create(model=model_id(server), prompt="x", max_tokens=40, temperature=0, stop=[stop],
                             extra_body={"ignore_eos": True})
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == whole[:whole.index(stop)]


@pytest.mark.parametrize("body,param", [
    ({"prompt": "x", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "x", "stream": "yes"}, "stream"),
    ({"prompt": "x" * 2000}, "prompt"),
    ({"max_tokens": 3}, "prompt"),
])
def test_bad_input_is_400_with_openai_error(server, body, param):
    req = urllib.request.Request(server.url + "/v1/completions", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    err = json.loads(e.value.read())["error"]
    assert set(err) >= {"message", "type", "param", "code"}
    assert err["param"] == param


def test_openai_client_raises_bad_request(server):
    with pytest.raises(openai.BadRequestError):
        client(server).completions.create(model=model_id(server), prompt="x", max_tokens=5000)


def test_invalid_utf8_is_400(server):
    req = urllib.request.Request(server.url + "/v1/completions", data=b'{"prompt": "\xff\xfe", "max_tokens": 2}',
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400


def test_curl_streaming(server):
    out = subprocess.run(["curl", "-sN", server.url + "/v1/completions", "-H", "Content-Type: application/json",
                          "-d", json.dumps({"prompt": "Hi", "max_tokens": 5, "stream": True, "ignore_eos": True})],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    events = [line[6:] for line in out.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    assert json.loads(events[-2])["choices"][0]["finish_reason"] == "length"


def test_disconnect_mid_stream_frees_the_pool(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    body = json.dumps({"prompt": "Hi", "max_tokens": 900, "stream": True, "ignore_eos": True})
    sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    assert b"data: " in read_until(sock, b"data: ")
    assert metrics(server.url)["vllm:num_requests_running"] == 1
    sock.close()
    assert wait_for(lambda: metrics(server.url)["vllm:num_requests_running"] == 0)
    m = metrics(server.url)
    assert m["vllm:kv_cache_usage_perc"] == 0
    assert m["vllm:num_requests_waiting"] == 0


def test_disconnect_while_waiting_for_a_whole_answer(server):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    body = json.dumps({"prompt": "Hi", "max_tokens": 900, "ignore_eos": True})
    sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    assert wait_for(lambda: metrics(server.url)["vllm:num_requests_running"] == 1)
    sock.close()
    assert wait_for(lambda: metrics(server.url)["vllm:num_requests_running"] == 0)
    assert metrics(server.url)["vllm:kv_cache_usage_perc"] == 0


def test_sigterm_sends_final_events_and_exits(make_server):
    s = make_server("--shutdown-grace", "0.5")
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=20)
    body = json.dumps({"prompt": "Hi", "max_tokens": 1900, "stream": True, "ignore_eos": True})
    sock.sendall((f"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
    got = read_until(sock, b"data: ")
    s.proc.send_signal(signal.SIGTERM)
    while True:
        b = sock.recv(65536)
        if not b:
            break
        got += b
    assert b"data: [DONE]" in got
    assert s.proc.wait(10) == 0


def test_bad_ports_exit_2(server):
    for port in ("99999", str(server.port)):
        r = subprocess.run([Server.__init__.__globals__["server_exe"](), "--port", port], capture_output=True, timeout=60)
        assert r.returncode == 2, (port, r.stderr)
    r = subprocess.run([Server.__init__.__globals__["server_exe"](), "--emulate", "a100-80g", "--time-scale", "-1"],
                       capture_output=True, timeout=60)
    assert r.returncode == 2
