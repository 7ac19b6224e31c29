"""`taskloom work` and `taskloom token` as real processes against a real `taskloom serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import jwt

from taskloom.api.auth import issue_token
from taskloom.sdk import Client
from tests.acceptance import server
from tests.acceptance.test_worker import wait_for

TASKLOOM = str(Path(sys.executable).with_name("taskloom"))

COMMAND = """\
import json, os, subprocess, sys, time
task = json.load(sys.stdin)
mode = task["metadata"]["mode"]
if mode == "ok":
    print(json.dumps({"double": task["metadata"]["n"] * 2, "run": os.environ["TASKLOOM_RUN_ID"],
                      "task": os.environ["TASKLOOM_TASK_ID"]}))
elif mode == "fail":
    sys.stderr.write("x" * 3000 + " negative input")
    sys.exit(1)
elif mode == "tempfail":
    marker = sys.argv[1] + "/" + task["id"]
    if not os.path.exists(marker):
        open(marker, "w").close()
        sys.exit(75)
    print("second try")
elif mode == "hang":
    child = subprocess.Popen(["sleep", "60"])
    open(sys.argv[1] + "/child.pid", "w").write(str(child.pid))
    time.sleep(60)
elif mode == "slow":
    time.sleep(1.5)
    print(json.dumps("slow but kept"))
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLOOM_")}
    return {**env, **extra}


def test_taskloom_work_exit_codes_timeout_and_lease(tmp_path: Path) -> None:
    srv = server.start(f"sqlite:///{tmp_path}/db/t.db")
    try:
        boss = Client(srv.base_url, srv.token("boss"))
        made = {mode: boss.create_task(mode, network_channel="shell", metadata={"mode": mode, "n": 2},
                                       max_attempts=1)
                for mode in ("ok", "fail", "tempfail", "hang", "slow")}
        script = tmp_path / "handle.py"
        script.write_text(COMMAND)
        out = subprocess.run(
            [TASKLOOM, "work", "--channel", "shell", "--concurrency", "2", "--timeout", "3", "--lease-seconds", "1",
             "--max-tasks", "6", "--", sys.executable, str(script), str(tmp_path)],
            env=_env(TASKLOOM_URL=srv.base_url, TASKLOOM_TOKEN=srv.token("shell-agent", kind="agent_session",
                                                                         role="agent")),
            capture_output=True, text=True, timeout=90,
        )
        log = out.stderr
        assert out.returncode == 0, log
        assert "waiting for tasks on channel shell as agent shell-agent" in log
        assert "Traceback" not in log

        ok = boss.get_task(made["ok"].id)
        assert ok.status == "completed" and ok.result["double"] == 4 and ok.result["task"] == ok.id
        assert uuid.UUID(ok.result["run"])  # run ids are UUIDs

        failed = boss.get_task(made["fail"].id)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.startswith("exit 1: ") and failed.error.endswith("negative input")
        assert len(failed.error) <= len("exit 1: ") + 2048 and "Error" not in failed.error, "no class names"

        again = boss.get_task(made["tempfail"].id)
        assert again.status == "completed" and again.result == "second try"
        runs = boss.request("GET", f"/api/tasks/{again.id}/runs")["runs"]
        assert [r["attempt"] for r in runs] == [1], "exit 75 released the run: no attempt spent"

        hung = boss.get_task(made["hang"].id)
        assert hung.status == "failed" and "timed out after 3 s" in (hung.error or "")
        child = int((tmp_path / "child.pid").read_text())
        wait_for(lambda: not _alive(child), 5, "the command's whole process group killed")

        slow = boss.get_task(made["slow"].id)
        assert slow.status == "completed" and slow.result == "slow but kept"
        assert len(boss.request("GET", f"/api/tasks/{slow.id}/runs")["runs"]) == 1, "heartbeats kept the 1 s lease"

        for word, mode in (("completed", "ok"), ("failed", "fail"), ("released", "tempfail"), ("failed", "hang")):
            assert f"{word} {made[mode].identifier} in " in log, (word, log)
    finally:
        srv.stop()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_taskloom_work_one_line_errors_and_waits_for_the_server(tmp_path: Path) -> None:
    port = server.free_port()
    url = f"http://127.0.0.1:{port}"
    token = issue_token(server.DEFAULT_SECRET, "agent-9", kind="agent_session", role="agent")
    log = tmp_path / "work.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([TASKLOOM, "work", "--url", url, "--max-tasks", "1", "--", "cat"],
                                env=_env(TASKLOOM_TOKEN=token), stdout=out, stderr=subprocess.STDOUT)
    srv = None
    try:
        wait_for(lambda: f"cannot reach {url}: is the server running?" in log.read_text(), 30, "the down message")
        srv = server.start(f"sqlite:///{tmp_path}/db/t.db", port=port, secret=server.DEFAULT_SECRET)
        task = Client(url, srv.token("boss")).create_task("after the outage", metadata={"k": 1})
        assert proc.wait(60) == 0, log.read_text()
        done = Client(url, srv.token("boss")).get_task(task.id)
        assert done.status == "completed" and done.result["metadata"] == {"k": 1}, "cat echoed the task"
        assert "Traceback" not in log.read_text()

        bad = subprocess.run([TASKLOOM, "work", "--url", url, "--", "cat"], env=_env(TASKLOOM_TOKEN="not-a-token"),
                             capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1
        last = bad.stderr.strip().splitlines()[-1]
        assert last.startswith("taskloom work: 401 invalid token") and last.endswith("check TASKLOOM_TOKEN")
        assert "Traceback" not in bad.stderr
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        if srv is not None:
            srv.stop()


def test_taskloom_token_uses_the_servers_secret_and_never_makes_one(tmp_path: Path) -> None:
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    refused = subprocess.run([TASKLOOM, "token", "--sub", "alice"], cwd=empty, env=_env(), capture_output=True,
                             text=True, timeout=60)
    assert refused.returncode == 1 and refused.stdout == ""
    assert str(empty / "taskloom-data" / "jwt-secret") in refused.stderr, "says where it looked"
    assert "TASKLOOM_JWT_SECRET" in refused.stderr and "Traceback" not in refused.stderr
    assert not (empty / "taskloom-data").exists(), "no secret was made"

    data = tmp_path / "data"
    data.mkdir()
    (data / "jwt-secret").write_text("the-servers-secret-0123456789-0123456789\n")
    # (TASKLOOM_DATA_DIR and TASKLOOM_JWT_SECRET are used the same way by the other CLI tests.)
    out = subprocess.run([TASKLOOM, "token", "--sub", "alice", "--data-dir", str(data)], cwd=empty, env=_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), "the-servers-secret-0123456789-0123456789", algorithms=["HS256"])
    assert claims["sub"] == "alice"
