"""The Python SDK and `taskloom work` against a real server."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from taskloom.sdk import AsyncClient, Claim, Client, TaskloomError
from tests.acceptance import server


@pytest.fixture
def srv(tmp_path: Any):  # type: ignore[no-untyped-def]
    s = server.start(f"sqlite:///{tmp_path}/db/t.db", env={"TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.2"})
    yield s
    s.stop()


def test_sync_work_keeps_lease_alive_and_completes(srv: server.Server) -> None:
    boss = Client(srv.base_url, srv.token("boss"))
    me = Client(srv.base_url, srv.token("agent-1", kind="agent_session", role="agent"))
    task = boss.create_task("slow job", network_channel="sdk")

    def slow(claim: Claim) -> dict[str, Any]:
        time.sleep(2.5)  # longer than the 1 s lease: only heartbeats keep it
        return {"seen": claim.task["title"]}

    claim = me.work_one(slow, "sdk", wait_seconds=5, lease_seconds=1)
    assert claim is not None and claim.task_id == task["id"]
    done = boss.get_task(task["id"])
    assert done["status"] == "completed" and done["result"] == {"seen": "slow job"}
    runs = boss.http.get(f"/api/tasks/{task['id']}/runs").json()["runs"]
    assert len(runs) == 1, "the lease never lapsed"
    failing = boss.create_task("bad job", network_channel="sdk", max_attempts=1)
    me.work_one(lambda c: 1 / 0, "sdk", wait_seconds=5)
    bad = boss.get_task(failing["id"])
    assert bad["status"] == "failed" and "ZeroDivisionError" in bad["error"]
    with pytest.raises(TaskloomError) as info:
        me.complete(claim, "again-with-another-key", idempotency_key="other")
    assert info.value.status == 409


def test_async_client(srv: server.Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(srv.base_url, srv.token("boss")) as boss, \
                AsyncClient(srv.base_url, srv.token("a2", kind="agent_session", role="agent")) as me:
            task = await boss.create_task("async job")

            async def handler(claim: Claim) -> str:
                await asyncio.sleep(0.1)
                return "ok"

            claim = await me.work_one(handler, wait_seconds=5)
            assert claim is not None and claim.task_id == task["id"]
            assert await me.claim(wait_seconds=0) is None

    asyncio.run(scenario())


def test_taskloom_work_runs_a_command_per_task(srv: server.Server, tmp_path: Path) -> None:
    boss = Client(srv.base_url, srv.token("boss"))
    ok = boss.create_task("echo me", network_channel="shell", metadata={"n": 2})
    bad = boss.create_task("break me", network_channel="shell", metadata={"n": -1}, max_attempts=1)
    script = tmp_path / "handle.py"
    script.write_text(
        "import json, os, sys\n"
        "task = json.load(sys.stdin)\n"
        "if task['metadata']['n'] < 0:\n"
        "    sys.exit('negative input')\n"
        "print(json.dumps({'double': task['metadata']['n'] * 2, 'run': os.environ['TASKLOOM_RUN_ID']}))\n"
    )
    token = srv.token("shell-agent", kind="agent_session", role="agent")
    taskloom = str(Path(sys.executable).with_name("taskloom"))
    out = subprocess.run(
        [taskloom, "work", "--url", srv.base_url, "--channel", "shell", "--max-tasks", "2", "--",
         sys.executable, str(script)],
        env={**os.environ, "TASKLOOM_TOKEN": token}, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    done = boss.get_task(ok["id"])
    assert done["status"] == "completed" and done["result"]["double"] == 4
    failed = boss.get_task(bad["id"])
    assert failed["status"] == "failed" and "negative input" in failed["error"]
