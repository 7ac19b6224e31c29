"""docs/examples/backlogs.sh runs as written against a real `taskloom serve` subprocess."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRET = "backlogs-example-secret-0123456789-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "TASKLOOM_DATABASE_URL": f"sqlite:///{tmp_path}/taskloom.db",
        "TASKLOOM_DATA_DIR": str(tmp_path),
        "TASKLOOM_JWT_SECRET": SECRET,
        "TASKLOOM_CLI": str(Path(bin_dir) / "taskloom"),
    }
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "taskloom.cli", "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=1):
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("taskloom serve did not start:\n" + (tmp_path / "server.log").read_text())
                time.sleep(0.1)
        yield base, env
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="the example uses curl")
def test_backlogs_example_runs(server: tuple[str, dict[str, str]]) -> None:
    base, env = server
    run = subprocess.run(["bash", str(ROOT / "docs/examples/backlogs.sh")], env={**env, "TASKLOOM_URL": base},
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert "created MKT-001 and MKT-002" in out
    assert "PATCH status=queued on a complete task -> 409" in out
    assert '{"deleted":"MKT-002"}' in out
    assert re.search(r'"id":"G[0-9]{8}-001"', out), "the chosen prefix"
    # The last line is the final summary: MKT-001 reopened, MKT-002 deleted.
    summary = orjson.loads(out.strip().splitlines()[-1])
    assert summary["queued"] == 1 and summary["total"] == 1
