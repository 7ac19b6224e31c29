"""Leases, the rescuer, retries with backoff, release, idempotency, fencing, usage."""

from __future__ import annotations

from tests.api.helpers import claim, complete, create, must_claim, runs, task, timeline
from tests.conftest import ADMIN, Api, agent


def test_heartbeat_extends_lease(manual_api: Api) -> None:
    api = manual_api
    create(api)
    c = must_claim(api, lease_seconds=30)
    run_id = c["run"]["id"]
    api.clock.advance(20)  # type: ignore[attr-defined]
    r = api.post(f"/api/agent/tasks/{run_id}/heartbeat", {"lease_seconds": 30}, headers=agent("a1"))
    assert r.status_code == 200
    assert r.json()["lease"]["lease_until"] > c["lease"]["lease_until"]
    assert r.json()["lease"]["status"] == "running"
    api.clock.advance(20)  # type: ignore[attr-defined]
    api.run_services_once()
    assert api.get(f"/api/task-runs/{run_id}").json()["run"]["run"]["status"] == "running", "lease still valid"


def test_lapsed_lease_taken_back_then_task_fails(manual_api: Api) -> None:
    api = manual_api
    t = create(api, max_attempts=2, backoff_strategy="fixed", backoff_seconds=5)
    first = must_claim(api, lease_seconds=10)
    api.clock.advance(11)  # type: ignore[attr-defined]
    api.run_services_once()
    old = api.get(f"/api/task-runs/{first['run']['id']}").json()["run"]["run"]
    assert old["status"] == "failed" and old["error"].startswith("lease expired")
    retry = [r for r in runs(api, t["id"]) if r["status"] == "queued"]
    assert len(retry) == 1 and retry[0]["attempt"] == 2
    assert claim(api) is None, "the retry waits for its backoff"
    # The stale agent cannot complete the run that was taken back.
    stale = complete(api, first["run"]["id"], result="late")
    assert stale.status_code == 409 and "taken back" in stale.json()["error"]
    api.clock.advance(5)  # type: ignore[attr-defined]
    second = must_claim(api, lease_seconds=10)
    assert second["run"]["attempt"] == 2 and second["run"]["id"] != first["run"]["id"]
    api.clock.advance(11)  # type: ignore[attr-defined]
    api.run_services_once()
    final = task(api, t["id"])
    assert final["status"] == "failed" and "lease expired" in final["error"]
    events = [e["event_type"] for e in timeline(api, t["id"])]
    assert events.count("run.lease_expired") == 2 and events[-1] == "task.failed"
    assert task(api, t["id"])["result"] is None, "the stale completion changed nothing"


def test_rescuer_runs_by_itself(make_api) -> None:  # type: ignore[no-untyped-def]
    import time

    api = make_api()  # real clock, background services on
    create(api)
    c = must_claim(api, lease_seconds=1)
    deadline = time.time() + 10
    while time.time() < deadline:
        status = api.get(f"/api/task-runs/{c['run']['id']}").json()["run"]["run"]["status"]
        if status == "failed":
            break
        time.sleep(0.1)
    assert status == "failed"


def test_fail_retries_with_backoff_then_fails(manual_api: Api) -> None:
    api = manual_api
    t = create(api, max_attempts=2, backoff_strategy="linear", backoff_seconds=30)
    c = must_claim(api)
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "boom"}, headers=agent("a1"))
    assert r.status_code == 200 and r.json()["lease"]["status"] == "failed"
    queued = [e for e in timeline(api, t["id"]) if e["event_type"] == "run.queued"][-1]
    assert queued["payload"]["retry_delay_seconds"] == 30
    assert claim(api) is None
    api.clock.advance(30)  # type: ignore[attr-defined]
    c2 = must_claim(api)
    assert c2["run"]["attempt"] == 2
    api.post(f"/api/agent/tasks/{c2['run']['id']}/fail", {"error": "boom again"}, headers=agent("a1"))
    assert task(api, t["id"])["status"] == "failed"


def test_non_retryable_fail(api: Api) -> None:
    t = create(api, max_attempts=5)
    c = must_claim(api)
    api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "bad input", "retryable": False},
             headers=agent("a1"))
    assert task(api, t["id"])["status"] == "failed"


def test_release_puts_run_back(api: Api) -> None:
    t = create(api)
    c = must_claim(api, "a1")
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/release", {"reason": "shutting down"}, headers=agent("a1"))
    assert r.status_code == 200 and r.json()["lease"]["status"] == "queued"
    assert task(api, t["id"])["status"] == "ready"
    again = must_claim(api, "a2")
    assert again["run"]["id"] == c["run"]["id"] and again["run"]["attempt"] == 1
    assert api.post(f"/api/agent/tasks/{c['run']['id']}/release", {}, headers=agent("a1")).status_code == 403


def test_complete_and_fail_idempotent(api: Api) -> None:
    t = create(api)
    c = must_claim(api)
    run_id = c["run"]["id"]
    first = complete(api, run_id, result={"n": 1}, idempotency_key="k1")
    again = complete(api, run_id, result={"n": 1}, idempotency_key="k1")
    assert first.status_code == 200 and again.status_code == 200
    assert first.json() == again.json()
    assert complete(api, run_id, result={"n": 2}, idempotency_key="other").status_code == 409
    assert complete(api, run_id, result={"n": 2}).status_code == 409
    assert [e["event_type"] for e in timeline(api, t["id"])].count("run.completed") == 1
    t2 = create(api)
    c2 = must_claim(api)
    body = {"error": "x", "idempotency_key": "f1", "retryable": False}
    assert api.post(f"/api/agent/tasks/{c2['run']['id']}/fail", body, headers=agent("a1")).status_code == 200
    assert api.post(f"/api/agent/tasks/{c2['run']['id']}/fail", body, headers=agent("a1")).status_code == 200
    assert [e["event_type"] for e in timeline(api, t2["id"])].count("task.failed") == 1


def test_claim_token_fencing(api: Api) -> None:
    create(api)
    c = must_claim(api)
    wrong = complete(api, c["run"]["id"], claim_token="ct_wrong")
    assert wrong.status_code == 409
    assert complete(api, c["run"]["id"], claim_token=c["claim_token"]).status_code == 200
    detail = api.get(f"/api/task-runs/{c['run']['id']}").json()["run"]["run"]
    assert detail["claim_token_hash"] and c["claim_token"] not in str(detail)


def test_usage_summary(api: Api) -> None:
    create(api)
    c = must_claim(api)
    run_id = c["run"]["id"]
    api.post(f"/api/agent/tasks/{run_id}/heartbeat", {"input_tokens": 100, "turn_count": 1}, headers=agent("a1"))
    complete(api, run_id, usage={"input_tokens": 250, "output_tokens": 40, "total_cost": 0.012,
                                 "cost_currency": "USD", "tool_call_count": 3, "turn_count": 2})
    summary = api.get(f"/api/task-runs/{run_id}").json()["run"]["summary"]
    assert summary["input_tokens"] == 250 and summary["output_tokens"] == 40 and summary["total_tokens"] == 290
    assert summary["total_cost"] == 0.012 and summary["tool_call_count"] == 3 and summary["turn_count"] == 2


def test_task_runs_endpoints(api: Api) -> None:
    t = create(api, start=False)
    run = api.post(f"/api/tasks/{t['id']}/runs", {}).json()["run"]
    a1 = agent("a1")
    r = api.post(f"/api/task-runs/{run['id']}/claim", {"idempotency_key": "c1"}, headers=a1)
    assert r.status_code == 200 and r.json()["run"]["status"] == "claimed"
    assert api.post(f"/api/task-runs/{run['id']}/claim", {"idempotency_key": "c1"}, headers=a1).status_code == 200
    assert api.post(f"/api/task-runs/{run['id']}/claim", {}, headers=agent("a2")).status_code == 409
    r = api.post(f"/api/task-runs/{run['id']}/start", {}, headers=a1)
    assert r.status_code == 200 and r.json()["run"]["status"] == "starting" and r.json()["run"]["started_at"]
    r = api.post(f"/api/task-runs/{run['id']}/attach-session", {"session_id": "sess-1"}, headers=a1)
    assert r.status_code == 200 and r.json()["run"]["session_id"] == "sess-1"
    detail = api.get(f"/api/task-runs/{run['id']}").json()["run"]
    assert detail["session"]["session_id"] == "sess-1" and detail["task"]["id"] == t["id"]
    assert api.get(f"/api/tasks/{t['id']}/runs", params={"session_id": "sess-1"}).json()["runs"][0]["id"] == run["id"]
    r = api.post(f"/api/task-runs/{run['id']}/complete", {"result": "done"}, headers=a1)
    assert r.status_code == 200 and r.json()["run"]["status"] == "completed"
    assert api.get(f"/api/tasks/{t['id']}/runs", params={"status": "completed"}).json()["runs"][0]["result"] == "done"


def test_cancel_run_returns_task_to_pending(api: Api) -> None:
    t = create(api)
    c = must_claim(api)
    r = api.post(f"/api/task-runs/{c['run']['id']}/cancel", {}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["run"]["status"] == "canceled"
    assert task(api, t["id"])["status"] == "pending"
    assert complete(api, c["run"]["id"]).status_code == 409


def test_capabilities_channel_and_min_priority(api: Api) -> None:
    gpu = create(api, title="gpu", required_capabilities=["gpu"], network_channel="ml")
    plain = create(api, title="plain", network_channel="ops", priority="low")
    assert claim(api, capabilities=["cpu"], network_channel="ml") is None
    assert must_claim(api, capabilities=["gpu", "cpu"])["task"]["id"] == gpu["id"]
    assert claim(api, min_priority="high") is None
    assert claim(api, network_channel="ml") is None
    assert must_claim(api, network_channel="ops")["task"]["id"] == plain["id"]


def test_agent_owned_task_reserved_for_that_agent(api: Api) -> None:
    mine = create(api, owner={"kind": "agent_session", "ref": "a7"})
    assert claim(api, "a1") is None
    assert must_claim(api, "a7")["task"]["id"] == mine["id"]


def test_long_poll_wakes_on_new_work(api: Api) -> None:
    import threading
    import time

    result: dict[str, object] = {}

    def waiter() -> None:
        start = time.monotonic()
        result["claim"] = claim(api, wait_seconds=10)
        result["waited"] = time.monotonic() - start

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.5)
    t = create(api)
    thread.join(15)
    assert result["claim"] is not None and result["claim"]["task"]["id"] == t["id"]  # type: ignore[index]
    assert 0.4 < result["waited"] < 5  # type: ignore[operator]
    start = time.monotonic()
    assert claim(api, wait_seconds=1) is None
    assert time.monotonic() - start >= 0.9
