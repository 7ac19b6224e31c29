"""The CLI and the documented examples, run for real against `taskloom serve`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.acceptance import server

ROOT = Path(__file__).resolve().parents[2]
TASKLOOM = [str(Path(sys.executable).with_name("taskloom"))]


def cli(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run([*TASKLOOM, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_first_start_generates_secret_and_admin_token(tmp_path: Any) -> None:
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k not in ("TASKLOOM_JWT_SECRET", "TASKLOOM_DATABASE_URL")}
    env["TASKLOOM_DATA_DIR"] = str(data)
    port = server.free_port()
    proc = subprocess.Popen([*TASKLOOM, "serve", "--port", str(port)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Taskloom on"):
                break
        admin_token = next(lines[i + 1].strip() for i, ln in enumerate(lines) if ln.startswith("Admin token"))
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(base + "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        health = httpx.get(base + "/healthz").json()
        assert (data / "jwt-secret").exists() and (data / "taskloom.db").exists()
        assert health["backend"] == "sqlite"
        assert httpx.get(base + "/api/tasks").status_code == 401, "never runs open"
        assert httpx.get(base + "/api/tasks", headers={"Authorization": f"Bearer {admin_token}"}).status_code == 200
        # `taskloom token` signs with the same generated secret.
        member = cli("token", "--sub", "bob", env={"TASKLOOM_DATA_DIR": str(data), "TASKLOOM_JWT_SECRET": ""})
        assert httpx.get(base + "/api/tasks", headers={"Authorization": f"Bearer {member}"}).status_code == 200
        docs = httpx.get(base + "/openapi.json", timeout=60).json()  # built on first call: slow on a busy machine
        assert "/api/agent/tasks/claim-next" in docs["paths"] and "/api/tasks/{task_id}/stream" in docs["paths"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_migrate_command(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert "0001_core" in cli("migrate", "--database", url, env={})
    assert "up to date" in cli("migrate", "--database", url, env={})


def test_workers_share_one_postgres_database(postgres_url: str) -> None:
    """`--workers 2`: two processes serve one PostgreSQL database; each run is claimed once."""
    from concurrent.futures import ThreadPoolExecutor

    from tests.conftest import reset_postgres

    reset_postgres(postgres_url)
    srv = server.start(postgres_url, extra_args=["--workers", "2"])
    try:
        boss = srv.auth("boss")
        for i in range(60):
            assert httpx.post(srv.base_url + "/api/tasks", json={"title": f"t{i}"}, headers=boss).status_code == 201

        def agent(n: int) -> list[str]:
            me = srv.auth(f"agent-{n}", kind="agent_session", role="agent")
            done = []
            with httpx.Client(base_url=srv.base_url, headers=me, timeout=30) as http:
                while (r := http.post("/api/agent/tasks/claim-next", json={})).status_code == 200:
                    run_id = r.json()["claim"]["run"]["id"]
                    assert http.post(f"/api/agent/tasks/{run_id}/complete", json={}).status_code == 200
                    done.append(run_id)
            return done

        with ThreadPoolExecutor(6) as pool:
            claimed = [run for runs in pool.map(agent, range(6)) for run in runs]
        assert len(claimed) == 60 and len(set(claimed)) == 60
        rows = server.query(postgres_url, "SELECT status, COUNT(*) FROM tasks GROUP BY status")
        assert rows == [("completed", 60)]
    finally:
        srv.stop()


def test_workers_refused_on_sqlite(tmp_path: Any) -> None:
    out = subprocess.run([*TASKLOOM, "serve", "--workers", "2", "--database", f"sqlite:///{tmp_path}/x.db"],
                         env={**os.environ, "TASKLOOM_JWT_SECRET": "s" * 40}, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0 and "PostgreSQL" in out.stderr
