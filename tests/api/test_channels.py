"""Coordination channels (issue 16, seed 004): one per run, messages, awaiting input on the same channel."""

from __future__ import annotations

from typing import Any

from tests.api.helpers import create, must_claim, timeline
from tests.conftest import ADMIN, MEMBER, Api, agent, auth

SEED_FIELDS = {"allowed_message_kinds", "channel", "display_name", "id", "last_activity_at", "purpose", "run_id",
               "task_id", "workflow_id", "workspace_id"}


def _post(api: Api, run_id: str, kind: str, body: str, headers: dict[str, str]) -> Any:
    return api.post(f"/api/task-runs/{run_id}/messages", {"kind": kind, "body": body}, headers=headers)


def test_every_run_shows_its_channel_wherever_the_seed_does(api: Api) -> None:
    t = create(api, scope="workspace", workspace_id="w1")
    c = must_claim(api, workspace="w1")
    run_id = c["run"]["id"]
    channel = c["coordination_channel"]
    assert set(channel) == SEED_FIELDS
    assert channel["run_id"] == run_id and channel["task_id"] == t["id"] and channel["workspace_id"] == "w1"
    assert channel["allowed_message_kinds"] == ["note", "question", "answer", "handoff", "status"]
    assert channel["last_activity_at"] is None
    for holder in (c["lease"], c["run"]):
        assert holder["coordination_channel"] == channel and holder["coordination_channel_id"] == channel["id"]
    hb = api.post(f"/api/agent/tasks/{run_id}/heartbeat", {}, headers=agent("a1")).json()["lease"]
    assert hb["coordination_channel_id"] == channel["id"]
    listed = api.get("/api/tasks", params={"workspace": "w1"}).json()["tasks"][0]["active_run"]
    assert listed["coordination_channel"]["id"] == channel["id"]
    assert api.get(f"/api/task-runs/{run_id}").json()["run"]["run"]["coordination_channel_id"] == channel["id"]
    assert api.get(f"/api/tasks/{t['id']}/runs").json()["runs"][0]["coordination_channel"]["id"] == channel["id"]


def test_messages_are_posted_read_in_order_and_on_the_timeline(api: Api) -> None:
    owner = auth("olga", kind="human", role="member")
    t = create(api, owner={"kind": "human", "ref": "olga"})
    run_id = must_claim(api)["run"]["id"]
    r = _post(api, run_id, "status", "indexing 40%", agent("a1"))
    assert r.status_code == 201, r.text
    first = r.json()["message"]
    assert first["kind"] == "status" and first["role"] == "agent" and first["sequence"] == 1
    assert first["sender"] == {"kind": "agent_session", "ref": "a1"}
    assert first["channel_id"] == r.json()["channel"]["id"] and r.json()["channel"]["last_activity_at"] is not None
    assert _post(api, run_id, "note", "from the owner", owner).status_code == 201
    assert _post(api, run_id, "handoff", "over to b2", MEMBER).status_code == 201
    assert _post(api, run_id, "note", "admin here", ADMIN).status_code == 201

    page = api.get(f"/api/task-runs/{run_id}/messages", params={"limit": 2}).json()
    assert [m["body"] for m in page["messages"]] == ["indexing 40%", "from the owner"] and page["next_after"] == 2
    rest = api.get(f"/api/task-runs/{run_id}/messages", params={"after": page["next_after"]}).json()
    assert [(m["kind"], m["role"]) for m in rest["messages"]] == [("handoff", "user"), ("note", "user")]
    assert rest["channel"]["last_activity_at"] is not None
    events = [e for e in timeline(api, t["id"]) if e["event_type"] == "task.message"]
    assert [e["payload"]["body"] for e in events] == ["indexing 40%", "from the owner", "over to b2", "admin here"]
    assert events[0]["run"]["id"] == run_id and events[0]["payload"]["channel_id"] == first["channel_id"]


def test_refusals(api: Api) -> None:
    create(api)
    run_id = must_claim(api)["run"]["id"]
    r = _post(api, run_id, "shout", "hey", agent("a1"))
    assert r.status_code == 422 and "shout" in r.json()["error"] and "note" in r.json()["error"]
    r = _post(api, run_id, "note", "not mine", agent("a2"))
    assert r.status_code == 403 and run_id in r.json()["error"]
    assert _post(api, "run_nope", "note", "x", ADMIN).status_code == 404
    assert _post(api, run_id, "note", "   ", agent("a1")).status_code == 400
    assert api.post(f"/api/task-runs/{run_id}/messages", {"kind": "note"}, headers=agent("a1")).status_code == 400
    hidden = create(api, scope="workspace", workspace_id="w2")
    hidden_run = api.get(f"/api/tasks/{hidden['id']}/runs").json()["runs"][0]["id"]
    assert _post(api, hidden_run, "note", "x", auth("bob", workspaces=["w1"])).status_code == 404
    assert api.get(f"/api/task-runs/{hidden_run}/messages", headers=auth("bob", workspaces=["w1"])).status_code == 404
    # Nothing was half-written.
    assert api.get(f"/api/task-runs/{run_id}/messages").json()["messages"] == []


def test_a_question_waits_for_input_and_an_answer_resumes(api: Api) -> None:
    t = create(api)
    run_id = must_claim(api)["run"]["id"]
    assert _post(api, run_id, "question", "Which region?", agent("a1")).status_code == 201
    task = api.get(f"/api/tasks/{t['id']}").json()["task"]["task"]
    assert task["status"] == "blocked" and task["blocked_reason"] == "awaiting_input"
    assert _post(api, run_id, "note", "thinking", MEMBER).status_code == 201  # a note does not answer
    assert api.get(f"/api/tasks/{t['id']}").json()["task"]["task"]["status"] == "blocked"
    assert _post(api, run_id, "answer", "eu-west", MEMBER).status_code == 201
    assert api.get(f"/api/tasks/{t['id']}").json()["task"]["task"]["status"] == "in_progress"
    # The agent reads the answer through seed 002's agent endpoint too: one conversation.
    read = api.get(f"/api/agent/tasks/{run_id}/messages", params={"role": "user"}, headers=agent("a1")).json()
    assert [m["message"] for m in read["messages"]] == ["thinking", "eu-west"]
