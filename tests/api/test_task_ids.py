"""Task ids are UUIDs; every {task_id} path of every family also takes the identifier (issue 16)."""

from __future__ import annotations

import uuid

from tests.api.helpers import create, must_claim
from tests.conftest import MEMBER, Api, agent, auth


def test_ids_are_uuids_and_identifiers_resolve_on_runtime_paths(api: Api) -> None:
    first = create(api, title="first")
    second = create(api, title="second", start=False)
    assert uuid.UUID(first["id"]) and first["identifier"].startswith("TL-")
    run = api.get(f"/api/tasks/{first['identifier']}/runs").json()["runs"][0]
    assert uuid.UUID(run["id"])
    by_ident = api.get(f"/api/tasks/{first['identifier']}")
    assert by_ident.status_code == 200 and by_ident.json()["task"]["task"]["id"] == first["id"]
    ident = second["identifier"]
    assert api.patch(f"/api/tasks/{ident}", {"title": "renamed"}).json()["task"]["title"] == "renamed"
    r = api.post(f"/api/tasks/{ident}/dependencies", {"depends_on_task_id": first["identifier"]})
    assert r.status_code == 200 and r.json()["task"]["dependencies"][0]["depends_on_task_id"] == first["id"]
    r = api.delete(f"/api/tasks/{ident}/dependencies/{first['identifier']}")
    assert r.status_code == 200 and r.json()["task"]["dependencies"] == []
    assert api.get(f"/api/tasks/{ident}/timeline").json()["timeline"][0]["task"]["id"] == second["id"]
    assert api.get(f"/api/tasks/{ident}/tree").status_code == 200
    assert api.post(f"/api/tasks/{ident}/triage/read", headers=MEMBER).json()["triage"]["task_id"] == second["id"]
    child = api.post(f"/api/tasks/{ident}/children", {"title": "child"}).json()["task"]
    assert child["parent_task_id"] == second["id"]
    missing = api.get("/api/tasks/TL-99999")
    assert missing.status_code == 404 and "TL-99999" in missing.json()["error"]


def test_identifiers_of_hidden_tasks_stay_hidden(api: Api) -> None:
    t = create(api, scope="workspace", workspace_id="w2")
    r = api.get(f"/api/tasks/{t['identifier']}", headers=auth("bob", workspaces=["w1"]))
    assert r.status_code == 404 and t["id"] not in r.text and t["identifier"] in r.json()["error"]


def test_every_family_takes_identifiers(api: Api) -> None:
    # seed 002: tasks submitted to an agent
    api.post("/api/agents", {"id": "bot", "name": "Bot"})
    submitted = api.post("/api/agents/bot/tasks", {"message": "summarise"}, headers=MEMBER).json()
    ident = api.get(f"/api/tasks/{submitted['task_id']}").json()["task"]["task"]["identifier"]
    got = api.get(f"/api/agents/bot/tasks/{ident}", headers=MEMBER)
    assert got.status_code == 200 and got.json()["task_id"] == submitted["task_id"]
    # seed 003: scheduled tasks
    sched = api.post("/tasks", {"title": "nightly", "description": "d", "schedule_kind": "cron",
                                "schedule_expr": "0 3 * * *", "payload": {},
                                "created_by": "00000000-0000-0000-0000-000000000001"}).json()
    ident = api.get(f"/api/tasks/{sched['id']}").json()["task"]["task"]["identifier"]
    assert api.get(f"/tasks/{ident}").json()["id"] == sched["id"]
    assert api.post(f"/tasks/{ident}/pause").json()["status"] == "paused"
    # seed 000: work-queue tasks
    q = api.post("/work-queues", {"name": "triage", "teamId": "t1"}).json()
    wt = api.post(f"/work-queues/{q['id']}/tasks", {"name": "bug"}).json()
    assert uuid.UUID(wt["id"])
    ident = api.get(f"/api/tasks/{wt['id']}").json()["task"]["task"]["identifier"]
    assert api.get(f"/work-queue-tasks/{ident}").json()["id"] == wt["id"]
    # seed 001: backlog ids are identifiers; the core id is a UUID
    b = api.post("/api/backlogs/support-bot", {"title": "reply"}).json()
    assert b["id"] == "SUP-001"
    core = api.get("/api/tasks/SUP-001").json()["task"]["task"]
    assert core["identifier"] == "SUP-001" and uuid.UUID(core["id"])
    assert api.get(f"/api/backlogs/support-bot/{core['id']}").json()["id"] == "SUP-001"


def test_runs_claimed_by_identifier_paths_work_end_to_end(api: Api) -> None:
    t = create(api)
    c = must_claim(api)
    assert c["task"]["id"] == t["id"] and uuid.UUID(c["run"]["id"])
    done = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent("a1"))
    assert done.status_code == 200
    assert api.get(f"/api/tasks/{t['identifier']}").json()["task"]["task"]["status"] == "completed"
