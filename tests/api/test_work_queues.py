"""The work-queues API (seed 000), on both backends: one test (or more) per point of issue 3."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, MEMBER, Api, agent, auth

ROOT = Path(__file__).resolve().parents[2]


def future(seconds: float = 3600, api: Api | None = None) -> str:
    base = datetime.fromtimestamp(api.clock.now(), UTC) if api else datetime.now(UTC)
    return (base + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def new_queue(api: Api, name: str = "bug-triage", team: str = "engineering", headers: Any = None) -> dict:
    r = api.post("/work-queues", {"name": name, "teamId": team}, headers=headers or ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


def add(api: Api, queue_id: str, name: str = "task", **fields: Any) -> dict:
    if hasattr(api.clock, "advance"):
        api.clock.advance(0.01)  # a manual clock: keep "oldest first" well defined
    r = api.post(f"/work-queues/{queue_id}/tasks", {"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def dequeue(api: Api, queue_id: str, who: str, **body: Any) -> dict | None:
    r = api.post(f"/work-queues/{queue_id}/dequeue", {"agentId": who, **body}, headers=agent(who))
    if r.status_code == 204:
        assert r.content == b""
        return None
    assert r.status_code == 200, r.text
    return r.json()


def steal(api: Api, queue_id: str, who: str) -> dict | None:
    r = api.post(f"/work-queues/{queue_id}/steal", {"agentId": who}, headers=agent(who))
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()


def tasks(api: Api, queue_id: str, status: str | None = None) -> list[dict]:
    r = api.get(f"/work-queues/{queue_id}/tasks", params={"status": status} if status else None)
    assert r.status_code == 200, r.text
    return r.json()["tasks"]


def counts(api: Api, queue_id: str) -> dict:
    r = api.get(f"/work-queues/{queue_id}")
    assert r.status_code == 200, r.text
    return r.json()["counts"]


# -- queues -----------------------------------------------------------------------------


def test_create_list_get_queue(api: Api) -> None:
    q = new_queue(api)
    assert q["id"].startswith("wq_") and q["name"] == "bug-triage" and q["teamId"] == "engineering"
    assert q["counts"] == {s: 0 for s in ("pending", "assigned", "completed", "failed", "expired", "canceled")}
    other = new_queue(api, "bug-triage", team="design")  # same name, other team: fine
    r = api.post("/work-queues", {"name": "bug-triage", "teamId": "engineering"})
    assert r.status_code == 409 and "bug-triage" in r.json()["error"]
    all_ids = [x["id"] for x in api.get("/work-queues").json()["queues"]]
    assert all_ids == [q["id"], other["id"]]
    eng = api.get("/work-queues", params={"teamId": "engineering"}).json()["queues"]
    assert [x["id"] for x in eng] == [q["id"]]
    got = api.get(f"/work-queues/{q['id']}").json()
    assert got["id"] == q["id"] and got["createdBy"] == {"kind": "human", "ref": "root"}


def test_get_queue_counts(manual_api: Api) -> None:
    api = manual_api
    q = new_queue(api)
    a, b, c, d = (add(api, q["id"], n, maxAttempts=1) for n in "abcd")
    add(api, q["id"], "e", priority=1, deadline=future(10, api))
    assert dequeue(api, q["id"], "w1")["id"] == a["id"]
    assert dequeue(api, q["id"], "w1")["id"] == b["id"]
    assert api.post(f"/work-queue-tasks/{a['id']}/complete", {"result": 1}, headers=agent("w1")).status_code == 200
    assert api.post(f"/work-queue-tasks/{b['id']}/fail", {"error": "x"}, headers=agent("w1")).status_code == 200
    assert dequeue(api, q["id"], "w2")["id"] == c["id"]
    api.clock.advance(20)  # type: ignore[attr-defined]
    assert counts(api, q["id"]) == {"pending": 1, "assigned": 1, "completed": 1, "failed": 1, "expired": 1,
                                    "canceled": 0}
    assert [t["id"] for t in tasks(api, q["id"], "pending")] == [d["id"]]


def test_delete_queue_refused_while_open_then_forced(api: Api) -> None:
    q = new_queue(api, headers=MEMBER)
    pending = add(api, q["id"], "p")
    assigned = add(api, q["id"], "a")
    done = add(api, q["id"], "done", priority=5)
    assert dequeue(api, q["id"], "w1")["id"] == done["id"]
    api.post(f"/work-queue-tasks/{done['id']}/complete", {}, headers=agent("w1"))
    assert dequeue(api, q["id"], "w1")["id"] == pending["id"]
    r = api.delete(f"/work-queues/{q['id']}")
    assert r.status_code == 409 and "1 pending and 1 assigned" in r.json()["error"]
    assert api.get(f"/work-queues/{q['id']}").status_code == 200  # nothing was deleted
    assert api.delete(f"/work-queues/{q['id']}", headers=agent("w1")).status_code == 403
    assert api.delete(f"/work-queues/{q['id']}", headers=auth("bob")).status_code == 403
    r = api.delete(f"/work-queues/{q['id']}", params={"force": "true"}, headers=MEMBER)  # the creator
    assert r.status_code == 200, r.text
    assert sorted(r.json()["canceledTaskIds"]) == sorted([pending["id"], assigned["id"]])
    assert api.get(f"/work-queues/{q['id']}").status_code == 404
    # The tasks are not deleted: they stay as history, visible through the runtime API.
    core = {t["id"]: t["status"] for t in api.get("/api/tasks", params={"network_channel": q["id"]}).json()["tasks"]}
    assert core == {pending["id"]: "canceled", assigned["id"]: "canceled", done["id"]: "completed"}
    assert api.post(f"/work-queue-tasks/{pending['id']}/complete", {}, headers=agent("w1")).status_code == 409


def test_delete_empty_or_finished_queue(api: Api) -> None:
    q = new_queue(api)
    assert api.delete(f"/work-queues/{q['id']}").json() == {"id": q["id"], "deleted": True, "canceledTaskIds": []}
    assert api.delete(f"/work-queues/{q['id']}").status_code == 404
    again = new_queue(api)  # the name is free again
    assert again["id"] != q["id"]


# -- tasks ------------------------------------------------------------------------------


def test_add_task_fields_and_defaults(api: Api) -> None:
    q = new_queue(api)
    deadline = future()
    t = add(api, q["id"], "Investigate login timeout on mobile", priority=4, payload={"ticketId": "T-4821"},
            deadline=deadline)
    assert uuid.UUID(t["id"]) and t["queueId"] == q["id"]
    assert t["name"] == "Investigate login timeout on mobile" and t["priority"] == 4
    assert t["payload"] == {"ticketId": "T-4821"} and t["status"] == "pending" and t["agentId"] is None
    assert datetime.fromisoformat(t["deadline"]) == datetime.fromisoformat(deadline)
    plain = add(api, q["id"], "plain")
    assert plain["priority"] == 3 and plain["payload"] is None and plain["deadline"] is None
    assert plain["maxAttempts"] == 3
    for p in (1, 2, 3, 4, 5):  # every value of the scale reads back as written
        assert add(api, q["id"], f"p{p}", priority=p)["priority"] == p


@pytest.mark.parametrize("body, field", [
    ({}, "name"),
    ({"name": ""}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x", "priority": 0}, "priority"),
    ({"name": "x", "priority": 6}, "priority"),
    ({"name": "x", "priority": "high"}, "priority"),
    ({"name": "x", "priority": True}, "priority"),
    ({"name": "x", "payload": [1, 2]}, "payload"),
    ({"name": "x", "payload": "text"}, "payload"),
    ({"name": "x", "deadline": "tomorrow"}, "deadline"),
    ({"name": "x", "deadline": "2099-03-08T17:00:00"}, "deadline"),  # no zone
    ({"name": "x", "deadline": "2020-03-08T17:00:00.000Z"}, "deadline"),  # past
    ({"name": "x", "maxAttempts": 0}, "maxAttempts"),
    ({"name": "x", "colour": "red"}, "colour"),
])
def test_add_task_bad_input(api: Api, body: dict, field: str) -> None:
    q = new_queue(api)
    r = api.post(f"/work-queues/{q['id']}/tasks", body)
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]
    assert tasks(api, q["id"]) == []


def test_list_tasks_status_filter(manual_api: Api) -> None:
    api = manual_api
    q = new_queue(api)
    ids = {n: add(api, q["id"], n, maxAttempts=1, priority=5 - i)["id"] for i, n in enumerate("abcde")}
    add(api, q["id"], "exp", priority=1, deadline=future(5, api))
    ids["exp"] = tasks(api, q["id"])[-1]["id"]
    dequeue(api, q["id"], "w")  # a
    api.post(f"/work-queue-tasks/{ids['a']}/complete", {}, headers=agent("w"))
    dequeue(api, q["id"], "w")  # b
    api.post(f"/work-queue-tasks/{ids['b']}/fail", {"error": "no"}, headers=agent("w"))
    dequeue(api, q["id"], "w")  # c
    api.post(f"/api/tasks/{ids['d']}/cancel", {})
    api.clock.advance(10)  # type: ignore[attr-defined]
    expected = {"completed": ["a"], "failed": ["b"], "assigned": ["c"], "canceled": ["d"], "pending": ["e"],
                "expired": ["exp"]}
    for status, names in expected.items():
        got = tasks(api, q["id"], status)
        assert [t["id"] for t in got] == [ids[n] for n in names], status
        assert all(t["status"] == status for t in got)
    assert len(tasks(api, q["id"])) == 6
    r = api.get(f"/work-queues/{q['id']}/tasks", params={"status": "done"})
    assert r.status_code == 400 and "status" in r.json()["error"]


# -- dequeue ----------------------------------------------------------------------------


def test_dequeue_order_priority_then_deadline_then_oldest(api: Api) -> None:
    q = new_queue(api)
    low = add(api, q["id"], "low", priority=1)
    mid_old = add(api, q["id"], "mid-old")
    mid_late = add(api, q["id"], "mid-late-deadline", deadline=future(7200))
    mid_soon = add(api, q["id"], "mid-soon-deadline", deadline=future(3600))
    urgent = add(api, q["id"], "urgent", priority=5)
    order = [dequeue(api, q["id"], "w")["id"] for _ in range(5)]  # type: ignore[index]
    assert order == [urgent["id"], mid_soon["id"], mid_late["id"], mid_old["id"], low["id"]]
    assert dequeue(api, q["id"], "w") is None


def test_dequeue_assigns_to_agent(api: Api) -> None:
    q = new_queue(api)
    t = add(api, q["id"], "x", payload={"k": 1})
    got = dequeue(api, q["id"], "triage-agent")
    assert got is not None and got["id"] == t["id"] and got["status"] == "assigned"
    assert got["agentId"] == "triage-agent" and got["payload"] == {"k": 1}
    assert uuid.UUID(got["runId"]) and got["leaseExpiresAt"] and got["claimToken"].startswith("ct_")
    listed = tasks(api, q["id"], "assigned")
    assert [x["agentId"] for x in listed] == ["triage-agent"] and "claimToken" not in listed[0]
    # A dispatcher (member/admin) may dequeue for a named agent; agents only for themselves.
    t2 = add(api, q["id"], "y")
    r = api.post(f"/work-queues/{q['id']}/dequeue", {"agentId": "someone-else"}, headers=agent("triage-agent"))
    assert r.status_code == 403
    r = api.post(f"/work-queues/{q['id']}/dequeue", {}, headers=MEMBER)
    assert r.status_code == 400 and "agentId" in r.json()["error"]
    r = api.post(f"/work-queues/{q['id']}/dequeue", {"agentId": "helper"}, headers=MEMBER)
    assert r.status_code == 200 and r.json()["id"] == t2["id"] and r.json()["agentId"] == "helper"
    core = api.get(f"/api/tasks/{t2['id']}/runs").json()["runs"][0]
    assert core["claimed_by"] == {"kind": "agent_session", "ref": "helper"}


def test_dequeue_can_wait_for_work(api: Api) -> None:
    q = new_queue(api)
    began = time.monotonic()
    r = api.post(f"/work-queues/{q['id']}/dequeue", {"agentId": "w", "waitSeconds": 0.5}, headers=agent("w"))
    assert r.status_code == 204 and time.monotonic() - began >= 0.45
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(api.client.post(
        f"/work-queues/{q['id']}/dequeue", json={"agentId": "w", "waitSeconds": 10}, headers=agent("w"))))
    waiter.start()
    time.sleep(0.3)
    t = add(api, q["id"], "arrives later")
    waiter.join(10)
    assert answers and answers[0].status_code == 200 and answers[0].json()["id"] == t["id"]
    assert time.monotonic() - began < 8


def test_past_deadline_never_handed_out_and_expires(manual_api: Api) -> None:
    api = manual_api
    q = new_queue(api)
    t = add(api, q["id"], "soon", priority=5, deadline=future(30, api))
    later = add(api, q["id"], "later", priority=1)
    api.clock.advance(31)  # type: ignore[attr-defined]
    assert tasks(api, q["id"], "expired")[0]["id"] == t["id"]  # visible at once
    assert dequeue(api, q["id"], "w")["id"] == later["id"]  # type: ignore[index]
    assert dequeue(api, q["id"], "w") is None
    api.run_services_once()  # the rescuer closes it in the core
    got = api.get(f"/work-queue-tasks/{t['id']}").json()
    assert got["status"] == "expired" and got["error"] == "deadline passed" and got["coreStatus"] == "failed"
    assert counts(api, q["id"])["expired"] == 1


# -- steal ------------------------------------------------------------------------------


def test_steal_from_most_loaded_other_queue(api: Api) -> None:
    mine = new_queue(api, "mine")
    light = new_queue(api, "light")
    heavy = new_queue(api, "heavy")
    foreign = new_queue(api, "foreign", team="design")
    for i in range(5):
        add(api, foreign["id"], f"f{i}", priority=5)
    add(api, light["id"], "light-urgent", priority=5)
    add(api, heavy["id"], "h-low", priority=1)
    best = add(api, heavy["id"], "h-high", priority=4)
    add(api, heavy["id"], "h-mid")
    add(api, mine["id"], "my-own", priority=5)  # steal never takes from the caller's own queue
    got = steal(api, mine["id"], "idle-agent")
    assert got is not None and got["id"] == best["id"]
    assert got["stolenFrom"] == heavy["id"] and got["queueId"] == mine["id"] and got["agentId"] == "idle-agent"
    assert [t["id"] for t in tasks(api, mine["id"], "assigned")] == [best["id"]]
    assert all(t["id"] != best["id"] for t in tasks(api, heavy["id"]))
    core = api.get(f"/api/tasks/{best['id']}").json()["task"]["task"]
    assert core["network_channel"] == mine["id"]
    events = [e["event_type"] for e in api.get(f"/api/tasks/{best['id']}/timeline").json()["timeline"]]
    assert "work_queue.task_stolen" in events
    # heavy now has 2, light 1: steal keeps taking from the most loaded.
    assert steal(api, mine["id"], "idle-agent")["stolenFrom"] == heavy["id"]  # type: ignore[index]


def test_steal_204_when_team_has_no_other_work(api: Api) -> None:
    mine = new_queue(api, "mine")
    new_queue(api, "empty")
    foreign = new_queue(api, "foreign", team="design")
    add(api, foreign["id"], "not ours")
    add(api, mine["id"], "own work")
    r = api.post(f"/work-queues/{mine['id']}/steal", {"agentId": "idle"}, headers=agent("idle"))
    assert r.status_code == 204 and r.content == b""
    assert api.post("/work-queues/wq_nope/steal", {"agentId": "idle"}, headers=agent("idle")).status_code == 404


# -- complete and fail ------------------------------------------------------------------


def test_complete_only_by_assigned_agent_or_admin(api: Api) -> None:
    q = new_queue(api)
    t1, t2 = add(api, q["id"], "one"), add(api, q["id"], "two")
    dequeue(api, q["id"], "w1")
    dequeue(api, q["id"], "w1")
    result = {"rootCause": "Session cookie SameSite attribute", "fix": "PR #312"}
    for stranger in (agent("w2"), MEMBER):
        r = api.post(f"/work-queue-tasks/{t1['id']}/complete", {"result": result}, headers=stranger)
        assert r.status_code == 403 and "only that agent or an admin" in r.json()["error"]
    r = api.post(f"/work-queue-tasks/{t1['id']}/complete", {"result": result}, headers=agent("w1"))
    assert r.status_code == 200 and r.json()["status"] == "completed" and r.json()["result"] == result
    assert api.get(f"/api/tasks/{t1['id']}").json()["task"]["task"]["result"] == result
    r = api.post(f"/work-queue-tasks/{t2['id']}/fail", {"error": "admin says no", "retryable": False}, headers=ADMIN)
    assert r.status_code == 200 and r.json()["status"] == "failed"
    # Completing again, or completing what is not assigned, is a conflict.
    r = api.post(f"/work-queue-tasks/{t1['id']}/complete", {}, headers=agent("w1"))
    assert r.status_code == 409 and "completed" in r.json()["error"]
    t3 = add(api, q["id"], "three")
    r = api.post(f"/work-queue-tasks/{t3['id']}/complete", {}, headers=agent("w1"))
    assert r.status_code == 409 and "pending, not assigned" in r.json()["error"]


def test_complete_idempotency_key(api: Api) -> None:
    q = new_queue(api)
    t = add(api, q["id"], "x")
    dequeue(api, q["id"], "w")
    body = {"result": {"n": 1}, "idempotencyKey": "done-1"}
    first = api.post(f"/work-queue-tasks/{t['id']}/complete", body, headers=agent("w"))
    again = api.post(f"/work-queue-tasks/{t['id']}/complete", body, headers=agent("w"))
    assert first.status_code == again.status_code == 200 and again.json()["status"] == "completed"


def test_fail_retries_while_attempts_remain(manual_api: Api) -> None:
    api = manual_api
    q = new_queue(api)
    t = add(api, q["id"], "flaky", maxAttempts=2)
    assert dequeue(api, q["id"], "w")["attempt"] == 1  # type: ignore[index]
    r = api.post(f"/work-queue-tasks/{t['id']}/fail", {"error": "Unable to reproduce on staging"}, headers=agent("w"))
    assert r.status_code == 200 and r.json()["status"] == "pending" and r.json()["agentId"] is None
    assert r.json()["lastError"] == "Unable to reproduce on staging"
    api.clock.advance(3600)  # type: ignore[attr-defined]  # past the retry backoff
    second = dequeue(api, q["id"], "w2")
    assert second is not None and second["id"] == t["id"] and second["attempt"] == 2
    r = api.post(f"/work-queue-tasks/{t['id']}/fail", {"error": "still broken"}, headers=agent("w2"))
    assert r.status_code == 200 and r.json()["status"] == "failed" and r.json()["error"] == "still broken"
    api.clock.advance(3600)  # type: ignore[attr-defined]
    assert dequeue(api, q["id"], "w") is None
    assert [x["id"] for x in tasks(api, q["id"], "failed")] == [t["id"]]
    r = api.post(f"/work-queue-tasks/{t['id']}/fail", {"error": "again"}, headers=agent("w2"))
    assert r.status_code == 409


def test_fail_bad_input(api: Api) -> None:
    q = new_queue(api)
    t = add(api, q["id"], "x")
    dequeue(api, q["id"], "w")
    for body in ({}, {"error": ""}, {"error": 5}, {"error": "x", "extra": 1}):
        r = api.post(f"/work-queue-tasks/{t['id']}/fail", body, headers=agent("w"))
        assert r.status_code == 400 and "error" in r.json(), body
    assert tasks(api, q["id"], "assigned")[0]["id"] == t["id"]  # untouched


# -- leases -----------------------------------------------------------------------------


def test_lease_lapses_and_task_returns(manual_api: Api) -> None:
    api = manual_api
    q = new_queue(api)
    t = add(api, q["id"], "x")
    got = dequeue(api, q["id"], "vanishing", leaseSeconds=60)
    assert got is not None
    assert datetime.fromisoformat(got["leaseExpiresAt"]) == datetime.fromtimestamp(api.clock.now() + 60, UTC)
    api.clock.advance(61)  # type: ignore[attr-defined]
    api.run_services_once()
    assert tasks(api, q["id"], "pending")[0]["id"] == t["id"]
    api.clock.advance(3600)  # type: ignore[attr-defined]
    assert dequeue(api, q["id"], "other")["attempt"] == 2  # type: ignore[index]
    r = api.post(f"/work-queue-tasks/{t['id']}/complete", {}, headers=agent("vanishing"))
    assert r.status_code == 409 and "lapsed" in r.json()["error"]


def test_heartbeat_extends_lease(manual_api: Api) -> None:
    api = manual_api
    q = new_queue(api)
    t = add(api, q["id"], "x")
    dequeue(api, q["id"], "w", leaseSeconds=60)
    for _ in range(3):
        api.clock.advance(50)  # type: ignore[attr-defined]
        r = api.post(f"/work-queue-tasks/{t['id']}/heartbeat", {"leaseSeconds": 60}, headers=agent("w"))
        assert r.status_code == 200 and r.json()["status"] == "assigned"
        api.run_services_once()
    assert tasks(api, q["id"], "assigned")[0]["id"] == t["id"]
    # The runtime API's heartbeat on the run id works too.
    run_id = tasks(api, q["id"])[0]["runId"]
    api.clock.advance(50)  # type: ignore[attr-defined]
    assert api.post(f"/api/agent/tasks/{run_id}/heartbeat", {}, headers=agent("w")).status_code == 200
    api.clock.advance(50)  # type: ignore[attr-defined]
    api.run_services_once()
    assert tasks(api, q["id"])[0]["status"] == "assigned"
    assert api.post(f"/work-queue-tasks/{t['id']}/heartbeat", {}, headers=agent("w2")).status_code == 403


# -- one engine -------------------------------------------------------------------------


def test_queue_is_a_network_channel_of_the_core(api: Api) -> None:
    q = new_queue(api)
    t = add(api, q["id"], "shared", priority=5, payload={"a": 1})
    listed = api.get("/api/tasks", params={"network_channel": q["id"]}).json()["tasks"]
    assert [x["id"] for x in listed] == [t["id"]]
    assert listed[0]["priority"] == "urgent" and listed[0]["metadata"] == {"a": 1}
    assert listed[0]["workspace_id"] == "engineering"
    dash = api.get("/api/observe/tasks/dashboard").json()
    assert any(d["network_channel"] == q["id"] and d["count"] == 1 for d in dash["dashboard"]["queue"]["depth"])
    # A run claimed through the runtime API is no longer handed out by dequeue.
    r = api.post("/api/agent/tasks/claim-next", {"network_channel": q["id"]}, headers=agent("rt"))
    assert r.status_code == 200 and r.json()["claim"]["task"]["id"] == t["id"]
    assert dequeue(api, q["id"], "w") is None
    assert tasks(api, q["id"], "assigned")[0]["agentId"] == "rt"
    # A runtime task put on the queue's channel is dequeued like any queue task.
    runtime = api.post("/api/tasks", {"title": "from runtime", "network_channel": q["id"]}).json()["task"]
    assert dequeue(api, q["id"], "w")["id"] == runtime["id"]  # type: ignore[index]
    types = [e["event_type"] for e in api.get(f"/api/tasks/{t['id']}/timeline").json()["timeline"]]
    assert types[:3] == ["task.created", "task.activated", "run.queued"] and "run.claimed" in types


# -- concurrency ------------------------------------------------------------------------


def test_twenty_agents_dequeue_and_steal_concurrently(api: Api) -> None:
    queues = [new_queue(api, f"q{i}")["id"] for i in range(4)]
    sizes = [40, 25, 10, 5]  # uneven, so stealing has work to do
    created = {add(api, q, f"{q}-{i}", priority=1 + i % 5)["id"] for q, n in zip(queues, sizes, strict=True)
               for i in range(n)}
    got: list[tuple[str, str]] = []
    errors: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def work(n: int) -> None:
        who, home = f"agent-{n}", queues[n % 4]
        start.wait()
        idle_rounds = 0
        while idle_rounds < 2:
            for path in ("dequeue", "steal"):
                r = api.client.post(f"/work-queues/{home}/{path}", json={"agentId": who}, headers=agent(who))
                if r.status_code == 200:
                    break
                if r.status_code != 204:
                    errors.append(f"{path}: {r.status_code} {r.text}")
                    return
            else:
                idle_rounds += 1
                continue
            idle_rounds = 0
            task_id = r.json()["id"]
            with lock:
                got.append((task_id, r.json()["stolenFrom"] or ""))
            done = api.client.post(f"/work-queue-tasks/{task_id}/complete", json={"result": who}, headers=agent(who))
            if done.status_code != 200:
                errors.append(f"complete: {done.status_code} {done.text}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors[:5]
    ids = [t for t, _ in got]
    assert len(ids) == len(set(ids)) == len(created)  # every task assigned exactly once
    assert set(ids) == created
    assert any(stolen for _, stolen in got)  # stealing took part
    total = {s: 0 for s in ("pending", "assigned", "completed")}
    for q in queues:
        c = counts(api, q)
        for s in total:
            total[s] += c[s]
    assert total == {"pending": 0, "assigned": 0, "completed": len(created)}
    for task_id in list(created)[:10]:
        assert len(api.get(f"/api/tasks/{task_id}/runs").json()["runs"]) == 1


# -- errors -----------------------------------------------------------------------------


def test_unknown_queue_and_task_404(api: Api) -> None:
    for method, path, body in [
        ("get", "/work-queues/wq_missing", None),
        ("delete", "/work-queues/wq_missing", None),
        ("post", "/work-queues/wq_missing/tasks", {"name": "x"}),
        ("get", "/work-queues/wq_missing/tasks", None),
        ("post", "/work-queues/wq_missing/dequeue", {"agentId": "a"}),
        ("post", "/work-queues/wq_missing/steal", {"agentId": "a"}),
        ("get", "/work-queue-tasks/wt_missing", None),
        ("post", "/work-queue-tasks/wt_missing/complete", {}),
        ("post", "/work-queue-tasks/wt_missing/fail", {"error": "x"}),
        ("post", "/work-queue-tasks/wt_missing/heartbeat", {}),
    ]:
        r = api.client.request(method.upper(), path, json=body, headers=ADMIN)
        assert r.status_code == 404, (path, r.text)
        assert "not found" in r.json()["error"]
    # A core task that is not in any work queue is not this API's.
    plain = api.post("/api/tasks", {"title": "plain"}).json()["task"]
    assert api.get(f"/work-queue-tasks/{plain['id']}").status_code == 404


def test_bad_queue_input_and_roles(api: Api) -> None:
    for body, field in [({}, "name"), ({"name": "x"}, "teamId"), ({"name": "", "teamId": "t"}, "name"),
                        ({"name": "x", "teamId": ""}, "teamId"), ({"name": "x", "teamId": "t", "size": 1}, "size"),
                        ({"name": " ", "teamId": "t"}, "name")]:
        r = api.post("/work-queues", body)
        assert r.status_code == 400 and field in r.json()["error"], (body, r.text)
    r = api.client.post("/work-queues", content=b"{not json", headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert api.post("/work-queues", {"name": "x", "teamId": "t"}, headers=agent("a")).status_code == 403
    scoped = auth("carol", workspaces=["design"])
    assert api.post("/work-queues", {"name": "x", "teamId": "engineering"}, headers=scoped).status_code == 403
    q = new_queue(api)
    assert api.get(f"/work-queues/{q['id']}", headers=scoped).status_code == 404
    assert api.get("/work-queues", headers=scoped).json()["queues"] == []
    r = api.post(f"/work-queues/{q['id']}/dequeue", {"agentId": "a", "leaseSeconds": 0}, headers=agent("a"))
    assert r.status_code == 400 and "leaseSeconds" in r.json()["error"]
    assert api.client.get("/work-queues").status_code == 401
    assert len(api.get("/api/tasks").json()["tasks"]) == 0  # nothing half-written


# -- the documented example ---------------------------------------------------------------


def test_example_script_against_real_server(database_url: str, tmp_path: Any) -> None:
    from tests.acceptance import server

    srv = server.start(database_url, data_dir=str(tmp_path / "srv"))
    try:
        env = {**os.environ, "TASKLOOM_URL": srv.base_url, "TASKLOOM_JWT_SECRET": srv.secret,
               "TASKLOOM_CLI": str(Path(sys.executable).with_name("taskloom"))}
        run = subprocess.run(["bash", str(ROOT / "docs/examples/work_queues.sh")], env=env, capture_output=True,
                             text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr + srv.log_tail()
        assert "example finished" in run.stdout
        assert '"stolenFrom":"wq_' in run.stdout
    finally:
        srv.stop()
