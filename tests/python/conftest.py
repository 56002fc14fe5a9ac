"""Fixtures of the server's Python tests: a kvsched-server on a loopback ephemeral port."""
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def server_exe() -> str:
    exe = os.environ.get("KVSCHED_SERVER_EXE", str(ROOT / "build" / "examples" / "kvsched-server"))
    if not Path(exe).exists():
        pytest.skip(f"kvsched-server not built at {exe} (set KVSCHED_SERVER_EXE)")
    return exe


class Server:
    """A kvsched-server process; `args` are extra command-line options."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([server_exe(), "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.port = None
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.proc.kill()
            raise RuntimeError("kvsched-server did not start: " + self.proc.stderr.read())
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise


@pytest.fixture(scope="module")
def server():
    s = Server("--kv-blocks", "256", "--max-model-len", "1024")
    yield s
    assert s.stop() == 0


@pytest.fixture
def make_server():
    made = []

    def make(*args: str) -> Server:
        s = Server(*args)
        made.append(s)
        return s

    yield make
    for s in made:
        if s.proc.poll() is None:
            s.proc.kill()
