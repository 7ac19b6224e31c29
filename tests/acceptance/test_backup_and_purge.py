"""`taskloom backup` of a live SQLite database under load restores to a database that passes
an integrity check and holds every task acknowledged before the backup began; `restore`
checks what it restores; on PostgreSQL both commands point to pg_dump. `taskloom purge`
deletes old closed tasks from a real server's database (and --dry-run only counts)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance import server

TASKLOOM = [str(Path(sys.executable).with_name("taskloom"))]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TASKLOOM, *args], capture_output=True, text=True, timeout=120)


def test_backup_under_load_then_restore(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/db/taskloom.db"
    srv = server.start(url)
    acked: list[tuple[float, str]] = []
    stop = threading.Event()

    def load() -> None:
        with httpx.Client(base_url=srv.base_url, headers=srv.auth("root"), timeout=30) as http:
            while not stop.is_set():
                r = http.post("/api/tasks", json={"title": "load"})
                assert r.status_code == 201
                acked.append((time.monotonic(), r.json()["task"]["id"]))

    writers = [threading.Thread(target=load) for _ in range(3)]
    try:
        for w in writers:
            w.start()
        deadline = time.monotonic() + 30
        while len(acked) < 20 and time.monotonic() < deadline:  # load is really going (slow machines too)
            time.sleep(0.1)
        began = time.monotonic()
        before = {task_id for at, task_id in list(acked) if at < began}
        done = cli("backup", str(tmp_path / "copy.db"), "--database", url)
        time.sleep(0.5)  # the load goes on after the backup too
    finally:
        stop.set()
        for w in writers:
            w.join(30)
        srv.stop()
    assert done.returncode == 0, done.stderr
    assert "integrity ok" in done.stdout
    assert len(before) > 10
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    copied = {r[0] for r in copy.execute("SELECT id FROM tasks")}
    copy.close()
    assert before <= copied
    # Restore: refuses to overwrite without --force, refuses a damaged file, then works.
    target = f"sqlite:///{tmp_path}/restored/taskloom.db"
    assert cli("restore", str(tmp_path / "copy.db"), "--database", target).returncode == 0
    again = cli("restore", str(tmp_path / "copy.db"), "--database", target)
    assert again.returncode == 1 and "--force" in again.stderr
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    junk = cli("restore", str(tmp_path / "junk.db"), "--database", target, "--force")
    assert junk.returncode == 1 and "not a" in junk.stderr
    restored = server.start(target, data_dir=str(tmp_path / "r"))
    try:
        tasks = httpx.get(restored.base_url + f"/api/tasks/{sorted(before)[0]}", headers=restored.auth("root"))
        assert tasks.status_code == 200
    finally:
        restored.stop()


def test_postgres_backup_points_to_pg_dump() -> None:
    out = cli("backup", "x.dump", "--database", "postgresql://postgres@127.0.0.1:1/none")
    assert out.returncode == 2 and "pg_dump" in out.stderr
    out = cli("restore", "x.dump", "--database", "postgresql://postgres@127.0.0.1:1/none")
    assert out.returncode == 2 and "pg_restore" in out.stderr


def test_purge_command(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/db/taskloom.db"
    srv = server.start(url)
    try:
        with httpx.Client(base_url=srv.base_url, headers=srv.auth("root"), timeout=30) as http:
            agent = srv.auth("a1", kind="agent_session", role="agent")
            for _ in range(3):
                http.post("/api/tasks", json={"title": "done"})
                c = http.post("/api/agent/tasks/claim-next", json={}, headers=agent).json()["claim"]
                http.post(f"/api/agent/tasks/{c['run']['id']}/complete", json={"claim_token": c["claim_token"]},
                          headers=agent)
            open_task = http.post("/api/tasks", json={"title": "open"}).json()["task"]
            time.sleep(1.1)
            dry = cli("purge", "--older-than", "1s", "--dry-run", "--database", url)
            assert dry.returncode == 0 and "would delete 3 " in dry.stdout, dry.stdout + dry.stderr
            assert len(http.get("/api/tasks").json()["tasks"]) == 4
            bad = cli("purge", "--older-than", "seven days", "--database", url)
            assert bad.returncode == 2 and "--older-than" in bad.stderr
            done = cli("purge", "--older-than", "1s", "--database", url)
            assert done.returncode == 0 and "deleted 3 " in done.stdout
            assert [t["id"] for t in http.get("/api/tasks").json()["tasks"]] == [open_task["id"]]
    finally:
        srv.stop()
