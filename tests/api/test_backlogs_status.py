"""Backlog status changes (seed 001) on the core engine: PATCH, agent claims, blockers, reopen,
and the summary after every kind of change — on both backends."""

from __future__ import annotations

from typing import Any

from tests.conftest import MEMBER, Api, agent

Json = dict[str, Any]
AGENT = "support-bot"
BASE = f"/api/backlogs/{AGENT}"


def add(api: Api, title: str = "t", **fields: Any) -> Json:
    r = api.post(BASE, {"title": title, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def patch(api: Api, task_id: str, body: Json, status: int = 200, headers: dict[str, str] | None = None) -> Json:
    r = api.patch(f"{BASE}/{task_id}", body, headers=headers)
    assert r.status_code == status, r.text
    return r.json()


def get(api: Api, task_id: str) -> Json:
    r = api.get(f"{BASE}/{task_id}")
    assert r.status_code == 200, r.text
    return r.json()


def claim(api: Api, who: str = AGENT) -> Json | None:
    r = api.post("/api/agent/tasks/claim-next", {}, headers=agent(who))
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()["claim"]


def counts(api: Api) -> Json:
    s = api.get(f"{BASE}/summary").json()
    # The summary always agrees with the list it summarises.
    listed = api.get(BASE, params={"limit": 1000}).json()
    assert s["total"] == listed["total"] == len(listed["tasks"])
    for status in ("queued", "in_progress", "complete", "blocked", "failed", "canceled"):
        assert s[status] == sum(1 for t in listed["tasks"] if t["status"] == status), status
    return {k: v for k, v in s.items() if v and k != "total"}


def test_claim_next_moves_it_to_in_progress_and_complete(api: Api) -> None:
    add(api, "Draft FAQ responses")
    assert claim(api, "someone-else") is None  # reserved for its agent
    c = claim(api)
    assert c is not None and c["task"]["identifier"] == "SUP-001"
    task = get(api, "SUP-001")
    assert task["status"] == "in_progress" and task["started"] is not None and task["completed"] is None
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": "12 answers drafted"}, headers=agent(AGENT))
    assert r.status_code == 200, r.text
    task = get(api, "SUP-001")
    assert task["status"] == "complete" and task["completed"] is not None
    assert task["result"] == "12 answers drafted"


def test_person_starts_a_task_for_the_agent(api: Api) -> None:
    add(api)
    task = patch(api, "SUP-001", {"status": "in_progress"})
    assert task["status"] == "in_progress" and task["started"] is not None
    assert claim(api) is None  # already held for the agent
    runs = api.get("/api/tasks/SUP-001/runs").json()["runs"]
    assert len(runs) == 1 and runs[0]["status"] == "claimed"
    assert runs[0]["claimed_by"] == {"kind": "agent_session", "ref": AGENT}
    # The run is claimed in the agent's name, so the agent can finish it through the runtime API.
    r = api.post(f"/api/agent/tasks/{runs[0]['id']}/complete", {"result": "done"}, headers=agent(AGENT))
    assert r.status_code == 200, r.text
    assert get(api, "SUP-001")["status"] == "complete"


def test_complete_sets_completed_and_closes_the_run(api: Api) -> None:
    add(api)
    body = patch(api, "SUP-001", {"status": "complete", "result": "Generated 3 LinkedIn posts..."})
    assert body["id"] == "SUP-001" and body["status"] == "complete"
    assert body["completed"] is not None and body["started"] is not None
    assert body["result"] == "Generated 3 LinkedIn posts..."
    runs = api.get("/api/tasks/SUP-001/runs").json()["runs"]
    assert [r["status"] for r in runs] == ["completed"]
    core = api.get("/api/tasks/SUP-001").json()["task"]["task"]
    assert core["status"] == "completed" and core["result"] == "Generated 3 LinkedIn posts..."
    events = [e["event_type"] for e in api.get("/api/tasks/SUP-001/timeline").json()["timeline"]]
    assert "task.created" in str(events) and "run.completed" in str(events)
    assert claim(api) is None


def test_started_is_kept_when_completing_an_agent_claim(api: Api) -> None:
    add(api)
    assert claim(api) is not None
    started = get(api, "SUP-001")["started"]
    body = patch(api, "SUP-001", {"status": "complete"})
    assert body["started"] == started and body["completed"] is not None
    r = api.post("/api/agent/tasks/claim-next", {}, headers=agent(AGENT))
    assert r.status_code == 204


def test_blocked_needs_a_blocker(api: Api) -> None:
    add(api)
    for body in ({"status": "blocked"}, {"status": "blocked", "blocker": ""}, {"status": "blocked", "blocker": "  "},
                 {"status": "blocked", "blocker": None}):
        r = api.patch(f"{BASE}/SUP-001", body)
        assert r.status_code == 400 and "blocker" in r.json()["error"], body
    r = api.patch(f"{BASE}/SUP-001", {"status": "queued", "blocker": "why"})
    assert r.status_code == 400 and "blocker" in r.json()["error"]
    assert get(api, "SUP-001")["status"] == "queued"


def test_blocked_task_is_not_claimable_and_unblocking_clears_the_blocker(api: Api) -> None:
    add(api)
    task = patch(api, "SUP-001", {"status": "blocked", "blocker": "waiting on legal"})
    assert task["status"] == "blocked" and task["blocker"] == "waiting on legal"
    assert claim(api) is None
    task = patch(api, "SUP-001", {"blocker": "waiting on finance"})  # a new reason, still blocked
    assert task["status"] == "blocked" and task["blocker"] == "waiting on finance"
    task = patch(api, "SUP-001", {"status": "queued"})
    assert task["status"] == "queued" and task["blocker"] is None
    assert api.get("/api/tasks/SUP-001").json()["task"]["task"]["blocker"] is None
    assert claim(api) is not None


def test_blocker_alone_blocks_and_null_unblocks(api: Api) -> None:
    add(api)
    assert patch(api, "SUP-001", {"blocker": "needs input"})["status"] == "blocked"
    task = patch(api, "SUP-001", {"blocker": None})
    assert task["status"] == "queued" and task["blocker"] is None
    assert patch(api, "SUP-001", {"blocker": None})["status"] == "queued"  # nothing to clear: no change


def test_blocked_can_go_straight_to_in_progress_or_complete(api: Api) -> None:
    add(api)
    add(api)
    patch(api, "SUP-001", {"status": "blocked", "blocker": "x"})
    patch(api, "SUP-002", {"status": "blocked", "blocker": "y"})
    task = patch(api, "SUP-001", {"status": "in_progress"})
    assert task["status"] == "in_progress" and task["blocker"] is None
    task = patch(api, "SUP-002", {"status": "complete", "result": "ok"})
    assert task["status"] == "complete" and task["blocker"] is None


def test_blocking_an_agents_task_takes_the_run_back(api: Api) -> None:
    add(api)
    c = claim(api)
    assert c is not None
    task = patch(api, "SUP-001", {"status": "blocked", "blocker": "spec changed"})
    assert task["status"] == "blocked"
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": "late"}, headers=agent(AGENT))
    assert r.status_code in (403, 409) and r.json()["error"]  # the agent no longer holds it
    assert claim(api) is None
    patch(api, "SUP-001", {"status": "queued"})
    again = claim(api)
    assert again is not None and again["run"]["id"] == c["run"]["id"]  # same attempt, handed out again


def test_in_progress_back_to_queued(api: Api) -> None:
    add(api)
    patch(api, "SUP-001", {"status": "in_progress"})
    task = patch(api, "SUP-001", {"status": "queued"})
    assert task["status"] == "queued"
    assert claim(api) is not None


def test_complete_is_final_without_reopen(api: Api) -> None:
    add(api)
    patch(api, "SUP-001", {"status": "complete", "result": "v1"})
    for target in ("queued", "in_progress", "blocked"):
        body: Json = {"status": target} if target != "blocked" else {"status": target, "blocker": "b"}
        r = api.patch(f"{BASE}/SUP-001", body)
        assert r.status_code == 409 and "reopen" in r.json()["error"], target
    assert patch(api, "SUP-001", {"status": "complete"})["status"] == "complete"  # same status: no change
    assert patch(api, "SUP-001", {"title": "renamed"})["title"] == "renamed"  # fields may still change
    assert patch(api, "SUP-001", {"status": "complete", "result": "v1.1"})["result"] == "v1.1"
    task = patch(api, "SUP-001", {"status": "queued", "reopen": True})
    assert task["status"] == "queued"
    assert task["started"] is None and task["completed"] is None and task["result"] is None
    c = claim(api)
    assert c is not None and c["run"]["attempt"] == 2
    assert patch(api, "SUP-001", {"status": "complete", "result": "v2"})["result"] == "v2"


def test_reopen_straight_into_another_status(api: Api) -> None:
    add(api)
    patch(api, "SUP-001", {"status": "complete"})
    assert patch(api, "SUP-001", {"reopen": True})["status"] == "queued"
    patch(api, "SUP-001", {"status": "complete"})
    task = patch(api, "SUP-001", {"status": "in_progress", "reopen": True})
    assert task["status"] == "in_progress" and task["started"] is not None
    assert patch(api, "SUP-001", {"status": "queued", "reopen": True})["status"] == "queued"  # open: no-op


def test_patch_fields(api: Api) -> None:
    add(api, "old", description="d", priority=5)
    task = patch(api, "SUP-001", {"title": "new", "description": "more", "priority": 1, "result": {"draft": 1}})
    assert (task["title"], task["description"], task["priority"], task["result"]) == ("new", "more", 1, {"draft": 1})
    assert task["status"] == "queued"
    assert patch(api, "SUP-001", {})["title"] == "new"
    for body in ({"priority": 0}, {"priority": 11}, {"title": ""}, {"title": "  "}, {"title": None},
                 {"status": "done"}, {"status": "failed"}, {"owner": "x"}, {"reopen": "maybe"}):
        r = api.patch(f"{BASE}/SUP-001", body)
        assert r.status_code == 400 and r.json()["error"], body
    assert get(api, "SUP-001")["title"] == "new"


def test_priority_change_reorders_claims(api: Api) -> None:
    add(api, "first", priority=5)
    add(api, "second", priority=5)
    patch(api, "SUP-002", {"priority": 1})
    c = claim(api)
    assert c is not None and c["task"]["identifier"] == "SUP-002"


def test_who_may_patch(api: Api) -> None:
    add(api)
    patch(api, "SUP-001", {"title": "by a person"}, headers=MEMBER)
    patch(api, "SUP-001", {"title": "by its agent"}, headers=agent(AGENT))
    r = api.patch(f"{BASE}/SUP-001", {"title": "by another agent"}, headers=agent("marketing-lead"))
    assert r.status_code == 403
    # An agent may change a task it put into another agent's backlog.
    r = api.post(BASE, {"title": "delegated"}, headers=agent("marketing-lead"))
    patch(api, r.json()["id"], {"priority": 2}, headers=agent("marketing-lead"))
    assert api.patch(f"{BASE}/SUP-404", {"title": "x"}).status_code == 404


def test_failed_and_canceled_tasks(api: Api) -> None:
    add(api)
    add(api)
    c = claim(api)
    assert c is not None
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "no access", "retryable": False},
                 headers=agent(AGENT))
    assert r.status_code == 200, r.text
    assert get(api, "SUP-001")["status"] == "failed"
    assert api.post("/api/tasks/SUP-002/cancel", {}).status_code == 200
    assert get(api, "SUP-002")["status"] == "canceled"
    assert counts(api) == {"failed": 1, "canceled": 1}
    assert [t["id"] for t in api.get(BASE, params={"status": "failed"}).json()["tasks"]] == ["SUP-001"]
    assert api.patch(f"{BASE}/SUP-001", {"status": "queued"}).status_code == 409
    assert patch(api, "SUP-001", {"reopen": True})["status"] == "queued"
    assert patch(api, "SUP-002", {"status": "queued", "reopen": True})["status"] == "queued"
    assert counts(api) == {"queued": 2}


def test_blocked_by_dependencies(api: Api) -> None:
    add(api, "first")
    add(api, "second")
    r = api.post("/api/tasks/SUP-002/dependencies", {"depends_on_task_id": "SUP-001"})
    assert r.status_code == 200, r.text
    task = get(api, "SUP-002")
    assert task["status"] == "blocked" and task["blocker"] == "waiting for the tasks it depends on"
    r = api.patch(f"{BASE}/SUP-002", {"status": "queued"})
    assert r.status_code == 409 and "depends" in r.json()["error"]
    assert api.patch(f"{BASE}/SUP-002", {"status": "complete"}).status_code == 409
    assert get(api, "SUP-002")["status"] == "blocked"  # the refused change left nothing behind
    patch(api, "SUP-001", {"status": "complete"})
    assert get(api, "SUP-002")["status"] == "queued"


def test_summary_after_every_kind_of_change(api: Api) -> None:
    assert add(api)["id"] == "SUP-001"
    assert counts(api) == {"queued": 1}
    for _ in range(4):
        add(api)
    assert counts(api) == {"queued": 5}
    c = claim(api)  # agent claim
    assert c is not None
    assert counts(api) == {"queued": 4, "in_progress": 1}
    patch(api, "SUP-002", {"status": "in_progress"})  # person starts
    assert counts(api) == {"queued": 3, "in_progress": 2}
    patch(api, "SUP-003", {"status": "blocked", "blocker": "b"})
    assert counts(api) == {"queued": 2, "in_progress": 2, "blocked": 1}
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent(AGENT))  # agent completes
    assert counts(api) == {"queued": 2, "in_progress": 1, "blocked": 1, "complete": 1}
    patch(api, "SUP-002", {"status": "complete"})  # person completes
    assert counts(api) == {"queued": 2, "blocked": 1, "complete": 2}
    patch(api, "SUP-003", {"status": "queued"})  # unblock
    assert counts(api) == {"queued": 3, "complete": 2}
    patch(api, "SUP-002", {"reopen": True})  # reopen
    assert counts(api) == {"queued": 4, "complete": 1}
    patch(api, "SUP-004", {"status": "in_progress"})
    patch(api, "SUP-004", {"status": "blocked", "blocker": "b"})  # in progress → blocked
    assert counts(api) == {"queued": 3, "blocked": 1, "complete": 1}
    patch(api, "SUP-004", {"priority": 1, "title": "x"})  # field edits change no counts
    assert counts(api) == {"queued": 3, "blocked": 1, "complete": 1}
    api.delete(f"{BASE}/SUP-004")
    api.delete(f"{BASE}/SUP-001")
    assert counts(api) == {"queued": 3}
    add(api)
    assert counts(api) == {"queued": 4}
    assert api.get(f"{BASE}/summary").json()["total"] == 4
    # Other agents' tasks never leak into this summary.
    api.post("/api/backlogs/marketing-lead", {"title": "elsewhere"})
    assert counts(api) == {"queued": 4}
