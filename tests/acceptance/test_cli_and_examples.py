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


def test_readme_curl_agent_example(tmp_path: Any) -> None:
    srv = server.start(f"sqlite:///{tmp_path}/db/taskloom.db")
    try:
        env = {"TASKLOOM_JWT_SECRET": srv.secret}
        token = cli("token", "--sub", "alice", "--role", "member", env=env)
        agent_token = cli("token", "--sub", "agent-1", "--kind", "agent_session", "--role", "agent", env=env)
        run = subprocess.run(
            ["bash", str(ROOT / "docs/examples/agent_curl.sh")],
            env={**os.environ, "TASKLOOM": srv.base_url, "TOKEN": token, "AGENT_TOKEN": agent_token},
            capture_output=True, text=True, timeout=60,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        assert "is completed" in run.stdout
    finally:
        srv.stop()


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
        docs = httpx.get(base + "/openapi.json").json()
        assert "/api/agent/tasks/claim-next" in docs["paths"] and "/api/tasks/{task_id}/stream" in docs["paths"]
    finally:
        proc.terminate()
        proc.wait(10)


def test_migrate_command(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/m.db"
    assert "0001_core" in cli("migrate", "--database", url, env={})
    assert "up to date" in cli("migrate", "--database", url, env={})
