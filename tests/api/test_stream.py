"""The task event stream over real HTTP: replay, live events, Last-Event-ID, keep-alive."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from taskloom.api.app import create_app
from taskloom.config import Settings
from tests.api.live import serve_in_thread
from tests.conftest import ADMIN, SECRET, agent


def read_events(response: httpx.Response, want: int, timeout: float = 10) -> tuple[list[dict[str, Any]], list[str]]:
    """Read SSE frames until ``want`` events arrived; also return comment lines seen."""
    events: list[dict[str, Any]] = []
    comments: list[str] = []
    frame: dict[str, str] = {}
    deadline = time.time() + timeout
    for line in response.iter_lines():
        if line.startswith(":"):
            comments.append(line)
        elif line.startswith("id: "):
            frame["id"] = line[4:]
        elif line.startswith("event: "):
            frame["event"] = line[7:]
        elif line.startswith("data: "):
            frame["data"] = line[6:]
        elif line == "" and "data" in frame:
            events.append({"id": int(frame["id"]), "event": frame["event"], **json.loads(frame["data"])})
            frame = {}
        if len(events) >= want or time.time() > deadline:
            break
    return events, comments


def make_settings(url: str, tmp: str, keepalive: float = 15.0) -> Settings:
    return Settings(database_url=url, data_dir=tmp, jwt_secret=SECRET, sse_keepalive_seconds=keepalive,
                    rescuer_interval_seconds=0.2)


def test_stream_replays_then_streams_live(database_url: str, tmp_path: Any) -> None:
    app = create_app(make_settings(database_url, str(tmp_path)))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=ADMIN, timeout=20) as http:
        task = http.post("/api/tasks", json={"title": "streamed"}).json()["task"]
        past = http.get(f"/api/tasks/{task['id']}/timeline").json()["timeline"]
        assert len(past) >= 3

        def work() -> None:
            time.sleep(0.5)
            claim = http.post("/api/agent/tasks/claim-next", json={}, headers=agent("a1")).json()["claim"]
            http.post(f"/api/agent/tasks/{claim['run']['id']}/complete", json={"result": 1}, headers=agent("a1"))

        worker = threading.Thread(target=work)
        with http.stream("GET", f"/api/tasks/{task['id']}/stream", params={"after_sequence": 1}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            worker.start()
            events, _ = read_events(response, want=len(past) - 1 + 2)
        worker.join()
        sequences = [e["sequence"] for e in events]
        assert sequences == list(range(2, 2 + len(events))), "replay after 1, then live, in order, no gaps"
        assert [e["event"] for e in events][-2:] == ["run.claimed", "run.completed"]
        assert events[-1]["timeline"]["task"]["id"] == task["id"] and events[-1]["id"] == events[-1]["sequence"]

        last = events[-2]["sequence"]
        headers = {**ADMIN, "Last-Event-ID": str(last)}
        with http.stream("GET", f"/api/tasks/{task['id']}/stream", headers=headers) as response:
            resumed, _ = read_events(response, want=1)
        assert resumed[0]["sequence"] == last + 1


def test_stream_keepalive_and_errors(database_url: str, tmp_path: Any) -> None:
    app = create_app(make_settings(database_url, str(tmp_path), keepalive=0.3))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=ADMIN, timeout=20) as http:
        task = http.post("/api/tasks", json={"title": "quiet"}).json()["task"]
        seq = http.get(f"/api/tasks/{task['id']}/timeline").json()["timeline"][-1]["sequence"]
        with http.stream("GET", f"/api/tasks/{task['id']}/stream", params={"after_sequence": seq}) as response:
            comments: list[str] = []
            start = time.time()
            for line in response.iter_lines():
                if line.startswith(": keep-alive"):
                    comments.append(line)
                if len(comments) >= 2 or time.time() - start > 5:
                    break
        assert len(comments) >= 2
        assert http.get("/api/tasks/nope/stream").status_code == 404
        assert httpx.get(f"{base}/api/tasks/{task['id']}/stream").status_code == 401
