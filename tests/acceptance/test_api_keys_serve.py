"""API keys against real servers: made with the CLI, used over HTTP and SSE, revoked on one
server and refused by a second server process on the same PostgreSQL database within 1 s."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance import server

TASKLOOM = [str(Path(sys.executable).with_name("taskloom"))]


def test_cli_key_works_over_http_and_sse(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path}/db/taskloom.db"
    made = subprocess.run([*TASKLOOM, "keys", "create", "--name", "boot", "--sub", "ops", "--role", "admin",
                           "--database", url], capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("tlk_") and key not in made.stderr
    srv = server.start(url)
    try:
        with httpx.Client(base_url=srv.base_url, timeout=10) as http:
            r = http.post("/api/tasks", json={"title": "t"}, headers={"X-API-Key": key})
            assert r.status_code == 201, r.text
            task_id = r.json()["task"]["id"]
            with http.stream("GET", f"/api/tasks/{task_id}/stream", headers={"Authorization": f"Bearer {key}"}) as s:
                assert s.status_code == 200
                assert next(s.iter_lines()).startswith(":")
            listed = subprocess.run([*TASKLOOM, "keys", "list", "--database", url], capture_output=True, text=True,
                                    timeout=60)
            assert '"name": "boot"' in listed.stdout and key not in listed.stdout
    finally:
        srv.stop()


def test_revocation_reaches_a_second_process_within_a_second(tmp_path: Any) -> None:
    base = os.environ.get("TASKLOOM_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs TASKLOOM_TEST_POSTGRES_URL")
    with server.fresh_postgres(base) as url:
        a = server.start(url, data_dir=str(tmp_path / "a"))
        b = server.start(url, data_dir=str(tmp_path / "b"))
        try:
            admin = a.auth("root")
            r = httpx.post(a.base_url + "/api/keys", json={"name": "w", "sub": "agent-9", "kind": "agent_session",
                                                          "role": "agent"}, headers=admin)
            assert r.status_code == 201, r.text
            key, key_id = r.json()["key"], r.json()["id"]
            headers = {"Authorization": f"Bearer {key}"}
            assert httpx.get(b.base_url + "/api/tasks", headers=headers).status_code == 200
            assert httpx.delete(a.base_url + f"/api/keys/{key_id}", headers=admin).status_code == 204
            revoked = time.monotonic()
            while True:
                r = httpx.get(b.base_url + "/api/tasks", headers=headers)
                if r.status_code == 401:
                    break
                assert time.monotonic() - revoked < 1.0, "the second process still accepts the revoked key"
                time.sleep(0.02)
            assert r.json() == {"error": "api key revoked"}
            assert time.monotonic() - revoked < 1.0
        finally:
            a.stop()
            b.stop()
