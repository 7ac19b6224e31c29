"""The server survives a PostgreSQL restart: during the outage requests answer 503
``database unavailable`` quickly (never a hang past 5 s, never a 500) and /readyz says why;
service resumes by itself within 5 s of the database being back."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.acceptance import pg_cluster, server

pytestmark = pytest.mark.skipif(pg_cluster.available() is not None, reason=str(pg_cluster.available()))


def test_survives_a_postgres_restart(tmp_path: Any) -> None:
    with pg_cluster.cluster() as pg:
        srv = server.start(pg.url, data_dir=str(tmp_path / "srv"))
        try:
            admin = srv.auth("root")
            with httpx.Client(base_url=srv.base_url, headers=admin, timeout=30) as http:
                assert http.post("/api/tasks", json={"title": "before"}).status_code == 201
                pg.stop()
                for path in ("/api/tasks", "/api/tasks?status=ready"):  # reads and writes alike
                    for method in ("GET", "POST"):
                        if method == "POST" and "?" in path:
                            continue
                        began = time.monotonic()
                        r = http.request(method, path, json={"title": "during"} if method == "POST" else None)
                        assert time.monotonic() - began < 5.0
                        assert (r.status_code, r.json()) == (503, {"error": "database unavailable"}), r.text
                began = time.monotonic()
                r = http.post("/api/agent/tasks/claim-next", json={"wait_seconds": 2},
                              headers=srv.auth("a1", kind="agent_session", role="agent"))
                assert r.status_code == 503 and time.monotonic() - began < 5.0
                ready = http.get("/readyz")
                assert (ready.status_code, ready.json()["problems"]) == (503, ["database unavailable"]), ready.text
                assert http.get("/healthz").status_code == 200  # alive, though not ready
                pg.start()
                back = time.monotonic()
                while True:
                    r = http.post("/api/tasks", json={"title": "after"})
                    if r.status_code == 201:
                        break
                    assert r.status_code == 503, r.text
                    assert time.monotonic() - back < 5.0, "did not resume within 5 s"
                    time.sleep(0.1)
                assert http.get("/readyz").status_code == 200
                titles = [t["title"] for t in http.get("/api/tasks").json()["tasks"]]
                assert sorted(titles) == ["after", "before"]
            assert srv.alive()
            assert "Traceback" not in srv.log_tail(200_000)
        finally:
            srv.stop()
