"""The README's start flow, every script in docs/examples and examples/worker.py, run for real.

They run as a newcomer runs them: from a folder with `.venv/bin/taskloom` and the
server's `taskloom-data/jwt-secret`, with only TASKLOOM_URL set.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from taskloom.sdk import Client
from tests.acceptance import server
from tests.acceptance.test_worker import wait_for

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = sorted(p.name for p in (ROOT / "docs/examples").glob("*.sh") if p.name != "common.sh")


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Server]:
    s = server.start(f"sqlite:///{tmp_path_factory.mktemp('db')}/t.db")
    yield s
    s.stop()


@pytest.fixture(scope="module")
def folder(srv: server.Server, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for the repository folder: .venv/bin/taskloom and the server's data folder."""
    here = tmp_path_factory.mktemp("checkout")
    (here / ".venv/bin").mkdir(parents=True)
    (here / ".venv/bin/taskloom").symlink_to(Path(sys.executable).with_name("taskloom"))
    (here / "taskloom-data").mkdir()
    (here / "taskloom-data/jwt-secret").write_text(srv.secret)
    return here


def _env(srv: server.Server) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    return {**env, "TASKLOOM_URL": srv.base_url}


def test_every_api_family_has_an_example() -> None:
    assert {"agent_curl.sh", "agent_tasks.sh", "backlogs.sh", "schedules.sh", "work_queues.sh"} <= set(SCRIPTS)


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_script_runs_twice(script: str, srv: server.Server, folder: Path) -> None:
    for _ in range(2):  # unique names: a second run against the same server works too
        out = subprocess.run(["bash", str(ROOT / "docs/examples" / script)], cwd=folder, env=_env(srv),
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_readme_start_flow(srv: server.Server, folder: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- README start flow.*?-->\s*```bash\n(.*?)```", readme, re.S)
    assert block is not None, "the README's start flow block"
    assert "RUN_ID" not in block.group(1), "nothing to fill in by hand"
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block.group(1)], cwd=folder, env=_env(srv),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.split() == ["completed", "{'summary':", "'3", "outages'}"]
    assert "http://127.0.0.1:8420/ui" in readme


def test_examples_worker_py(srv: server.Server, tmp_path: Path) -> None:
    env = {**_env(srv), "CHANNEL": "example-worker",
           "TASKLOOM_TOKEN": srv.token("agent-1", kind="agent_session", role="agent")}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "examples/worker.py")], env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        boss = Client(srv.base_url, srv.token("boss"))
        ok = boss.create_task("Summarise", network_channel="example-worker",
                              metadata={"text": "three outages last quarter, two from one expired certificate"})
        bad = boss.create_task("No text", network_channel="example-worker")
        wait_for(lambda: boss.get_task(ok.id).status == "completed" and boss.get_task(bad.id).status == "failed",
                 30, "both tasks done")
        assert boss.get_task(ok.id).result == {"summary": "three outages last quarter, two from one expired "
                                                          "certificate", "words": 9}
        assert len(boss.request("GET", f"/api/tasks/{bad.id}/runs")["runs"]) == 1, "NonRetryableError: no retry"
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(20)
    text = log.read_text()
    assert code == 0 and "Traceback" not in text, text
    assert f"completed {ok.identifier} in " in text and f"failed {bad.identifier} in " in text
