"""SIGTERM/SIGINT on a real server with agents long-polling and a stream open: every long-poll
is answered 204 at once, the stream ends with a final comment, the process exits 0 within
TASKLOOM_SHUTDOWN_SECONDS and logs no traceback. /readyz says ready, then not."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any

import httpx
import pytest

from tests.acceptance import server


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_answers_long_polls_and_exits_zero(tmp_path: Any, sig: signal.Signals) -> None:
    srv = server.start(f"sqlite:///{tmp_path}/db/taskloom.db", env={"TASKLOOM_SHUTDOWN_SECONDS": "6"})
    try:
        assert httpx.get(srv.base_url + "/readyz").json() == {"status": "ready"}
        admin = srv.auth("root")
        task_id = httpx.post(srv.base_url + "/api/tasks", json={"title": "watched", "draft": True},
                             headers=admin).json()["task"]["id"]
        answers: list[tuple[int, float]] = []
        stream_tail: list[str] = []

        waiting = threading.Barrier(6)

        def poll(i: int) -> None:
            with httpx.Client(base_url=srv.base_url, timeout=90) as http:
                http.get("/healthz")  # connected: the long-poll below goes out on this connection at once
                waiting.wait()
                try:
                    r = http.post("/api/agent/tasks/claim-next", json={"wait_seconds": 30},
                                  headers=srv.auth(f"agent-{i}", kind="agent_session", role="agent"))
                    answers.append((r.status_code, time.monotonic()))
                except httpx.HTTPError as exc:
                    answers.append((repr(exc), time.monotonic()))  # type: ignore[arg-type]

        def watch() -> None:
            with httpx.stream("GET", srv.base_url + f"/api/tasks/{task_id}/stream", headers=admin,
                              timeout=90) as s:
                for line in s.iter_lines():
                    stream_tail.append(line)

        threads = [threading.Thread(target=poll, args=(i,)) for i in range(5)] + [threading.Thread(target=watch)]
        for t in threads:
            t.start()
        waiting.wait(30)
        time.sleep(1.5)  # the five requests are sent and waiting in the server
        sent = time.monotonic()
        srv.proc.send_signal(sig)
        for t in threads:
            t.join(15)
        code = srv.proc.wait(15)
        took = time.monotonic() - sent
        assert [status for status, _ in answers] == [204] * 5
        assert max(at for _, at in answers) - sent < 2.0, "long-polls were not answered at once"
        assert stream_tail and stream_tail[-2].startswith(": server shutting down")
        assert code == 0, srv.log_tail()
        assert took < 6.0
        log = srv.log_tail(100_000)
        assert "Traceback" not in log and "CancelledError" not in log, log
    finally:
        srv.stop()
