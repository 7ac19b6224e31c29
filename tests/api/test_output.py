"""Streamed run output (issue 16): append, read after an offset, limits, fencing, timeline, SSE."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

from taskloom.api.app import create_app
from tests.api.helpers import create, must_claim, timeline
from tests.api.live import serve_in_thread
from tests.api.test_stream import make_settings, read_events
from tests.conftest import ADMIN, Api, ApiFactory, agent

KB = 1024


def _out(api: Api, run_id: str, chunk: str, who: str = "a1", **extra: Any) -> Any:
    return api.post(f"/api/agent/tasks/{run_id}/output", {"chunk": chunk, **extra}, headers=agent(who))


def test_chunks_append_in_order_and_read_after_an_offset(make_api: ApiFactory) -> None:
    api = make_api()
    create(api)
    c = must_claim(api)
    run_id = c["run"]["id"]
    first = _out(api, run_id, "héllo ", claim_token=c["claim_token"])
    assert first.status_code == 200, first.text
    assert first.json() == {"run_id": run_id, "offset": 0, "length": 6, "next_offset": 6, "total_bytes": 7}
    assert _out(api, run_id, "wörld\n").json()["next_offset"] == 12
    assert _out(api, run_id, "line 2 ✓").json()["offset"] == 12
    whole = api.get(f"/api/task-runs/{run_id}/output").json()
    assert whole["text"] == "héllo wörld\nline 2 ✓" and whole["next_offset"] == 20 and whole["offset"] == 0
    assert whole["done"] is False and whole["run_status"] == "claimed"
    tail = api.get(f"/api/task-runs/{run_id}/output", params={"after_offset": 8}).json()
    assert tail["text"] == "rld\nline 2 ✓" and tail["next_offset"] == 20
    assert api.get(f"/api/task-runs/{run_id}/output", params={"after_offset": 99}).json()["text"] == ""
    # Durable: another server on the same database reads the same text.
    again = make_api()
    assert again.get(f"/api/task-runs/{run_id}/output").json()["text"] == whole["text"]
    api.post(f"/api/agent/tasks/{run_id}/complete", {}, headers=agent("a1"))
    assert api.get(f"/api/task-runs/{run_id}/output").json()["done"] is True


def test_limits_are_413_naming_the_limit(api: Api) -> None:
    create(api)
    run_id = must_claim(api)["run"]["id"]
    r = _out(api, run_id, "x" * (64 * KB + 1))
    assert r.status_code == 413 and "65536 bytes" in r.json()["error"]
    r = _out(api, run_id, "é" * (32 * KB + 1))  # 2 bytes each: over 64 KB in bytes, not in characters
    assert r.status_code == 413
    block = "y" * (64 * KB)
    for _ in range(160):  # exactly 10 MB
        assert _out(api, run_id, block).status_code == 200
    r = _out(api, run_id, "z")
    assert r.status_code == 413 and "10485760 bytes" in r.json()["error"] and "per run" in r.json()["error"]
    assert api.get(f"/api/task-runs/{run_id}/output").json()["total_bytes"] == 10 * KB * KB
    assert _out(api, run_id, "").status_code == 400
    lone = api.post(f"/api/agent/tasks/{run_id}/output", content=b'{"chunk": "\\ud800"}',
                    headers={**agent("a1"), "Content-Type": "application/json"})
    assert lone.status_code == 400 and "chunk" in lone.json()["error"]


def test_only_the_claimer_streams_fenced_by_the_claim_token(api: Api) -> None:
    create(api)
    c = must_claim(api)
    run_id = c["run"]["id"]
    assert _out(api, run_id, "hi", who="a2").status_code == 403
    r = _out(api, run_id, "hi", claim_token="ct_wrong")
    assert r.status_code == 409 and "claim token" in r.json()["error"]
    assert _out(api, "run_missing", "hi").status_code == 404
    api.post(f"/api/agent/tasks/{run_id}/complete", {}, headers=agent("a1"))
    r = _out(api, run_id, "late")
    assert r.status_code == 409 and "completed" in r.json()["error"]
    assert api.get(f"/api/task-runs/{run_id}/output").json()["text"] == ""


def test_output_events_stay_out_of_the_timeline_unless_asked(api: Api) -> None:
    t = create(api)
    run_id = must_claim(api)["run"]["id"]
    for i in range(3):
        _out(api, run_id, f"chunk {i}\n")
    plain = [e["event_type"] for e in timeline(api, t["id"])]
    assert "run.output" not in plain and "run.claimed" in plain
    full = [e for e in timeline(api, t["id"], include_output="true") if e["event_type"] == "run.output"]
    assert [e["payload"] for e in full] == [{"offset": 8 * i, "length": 8, "chunk": f"chunk {i}\n"}
                                            for i in range(3)]
    assert all(e["run"]["id"] == run_id for e in full)
    detail = api.get(f"/api/tasks/{t['id']}").json()["task"]["events"]
    assert "run.output" not in [e["event_type"] for e in detail]


def test_the_stream_carries_output_and_messages(database_url: str, tmp_path: Any) -> None:
    app = create_app(make_settings(database_url, str(tmp_path)))
    with serve_in_thread(app) as base, httpx.Client(base_url=base, headers=ADMIN, timeout=20) as http:
        task = http.post("/api/tasks", json={"title": "streamed"}).json()["task"]
        claim = http.post("/api/agent/tasks/claim-next", json={}, headers=agent("a1")).json()["claim"]
        run_id = claim["run"]["id"]
        start = http.get(f"/api/tasks/{task['id']}/timeline", params={"include_output": True}).json()["timeline"]

        def work() -> None:
            time.sleep(0.3)
            http.post(f"/api/agent/tasks/{run_id}/output", json={"chunk": "tok tok"}, headers=agent("a1"))
            http.post(f"/api/task-runs/{run_id}/messages", json={"kind": "status", "body": "half way"},
                      headers=agent("a1"))

        worker = threading.Thread(target=work)
        with http.stream("GET", f"/api/tasks/{task['id']}/stream",
                         params={"after_sequence": start[-1]["sequence"]}) as response:
            worker.start()
            events, _ = read_events(response, 2)
        worker.join()
        assert [e["event"] for e in events] == ["run.output", "task.message"]
        assert events[0]["timeline"]["payload"]["chunk"] == "tok tok"
        assert events[1]["timeline"]["payload"]["body"] == "half way"
