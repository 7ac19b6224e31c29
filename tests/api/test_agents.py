"""The agent registry (/api/agents) and how an agent's state gates its work, on both backends."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import ADMIN, MEMBER, Api, agent


def register(api: Api, agent_id: str | None = "bot", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": fields.pop("name", "Bot"), **fields}
    if agent_id is not None:
        body["id"] = agent_id
    r = api.post("/api/agents", body)
    assert r.status_code == 201, r.text
    return r.json()


def submit(api: Api, agent_id: str = "bot", headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    r = api.post(f"/api/agents/{agent_id}/tasks", {"message": body.pop("message", "do the thing"), **body},
                 headers=headers or MEMBER)
    assert r.status_code == 202, r.text
    return r.json()


def claim(api: Api, who: str = "bot", **body: Any) -> dict[str, Any] | None:
    r = api.post("/api/agent/tasks/claim-next", body, headers=agent(who))
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()["claim"]


def status(api: Api, task_id: str, agent_id: str = "bot") -> dict[str, Any]:
    r = api.get(f"/api/agents/{agent_id}/tasks/{task_id}", headers=MEMBER)
    assert r.status_code == 200, r.text
    return r.json()


def test_register_defaults_to_uuid_and_reads_back(api: Api) -> None:
    a = register(api, None, name="Researcher", team="growth", capabilities=["web", "web", "sql"],
                 description="finds things", metadata={"model": "x"}, default_timeout_seconds=120)
    assert uuid.UUID(a["id"])
    assert a["state"] == "active" and a["team"] == "growth" and a["capabilities"] == ["web", "sql"]
    assert a["default_timeout_seconds"] == 120 and a["metadata"] == {"model": "x"}
    assert a["created_by"] == {"kind": "human", "ref": "root"}
    got = api.get(f"/api/agents/{a['id']}", headers=MEMBER)
    assert got.status_code == 200 and got.json() == a


def test_list_and_filters(api: Api) -> None:
    register(api, "a1", team="t1")
    register(api, "a2", team="t2", state="paused")
    register(api, "a3", team="t1")
    all_ids = [a["id"] for a in api.get("/api/agents").json()["agents"]]
    assert all_ids == ["a1", "a2", "a3"]
    assert [a["id"] for a in api.get("/api/agents?team=t1").json()["agents"]] == ["a1", "a3"]
    assert [a["id"] for a in api.get("/api/agents?state=paused").json()["agents"]] == ["a2"]
    assert [a["id"] for a in api.get("/api/agents?limit=1&offset=1").json()["agents"]] == ["a2"]
    r = api.get("/api/agents?state=sleepy")
    assert r.status_code == 400 and "state" in r.json()["error"]


def test_register_bad_input(api: Api) -> None:
    register(api, "bot")
    cases = [
        ({"id": "bot", "name": "again"}, 409, "already exists"),
        ({"name": ""}, 400, "name"),
        ({}, 400, "name"),
        ({"name": "x", "state": "sleepy"}, 400, "state"),
        ({"name": "x", "id": "has space"}, 400, "id"),
        ({"name": "x", "colour": "red"}, 400, "colour"),
        ({"name": "x", "capabilities": "web"}, 400, "capabilities"),
        ({"name": "x", "default_timeout_seconds": 0}, 400, "default_timeout_seconds"),
        ({"name": "   "}, 400, "name"),
    ]
    for body, code, word in cases:
        r = api.post("/api/agents", body)
        assert r.status_code == code, (body, r.text)
        assert word in r.json()["error"], (body, r.json())
    assert len(api.get("/api/agents").json()["agents"]) == 1


def test_roles(api: Api) -> None:
    r = api.post("/api/agents", {"name": "x"}, headers=agent("bot"))
    assert r.status_code == 403
    assert api.post("/api/agents", {"name": "m", "id": "m1"}, headers=MEMBER).status_code == 201
    register(api, "bot")
    register(api, "other")
    # An agent may report its own state, not another's.
    r = api.patch("/api/agents/bot", {"state": "error", "state_reason": "out of credits"}, headers=agent("bot"))
    assert r.status_code == 200 and r.json()["state"] == "error" and r.json()["state_reason"] == "out of credits"
    assert api.patch("/api/agents/other", {"state": "paused"}, headers=agent("bot")).status_code == 403
    assert api.delete("/api/agents/m1", headers=MEMBER).status_code == 403
    assert api.client.get("/api/agents").status_code == 401
    assert api.client.post("/api/agents/bot/tasks", json={"message": "x"}).status_code == 401


def test_patch_and_unknown(api: Api) -> None:
    register(api, "bot", state_reason=None)
    r = api.patch("/api/agents/bot", {"name": "Renamed", "capabilities": ["a"], "team": "t", "state": "paused",
                                      "state_reason": "maintenance"})
    body = r.json()
    assert r.status_code == 200 and body["name"] == "Renamed" and body["state"] == "paused"
    assert body["state_reason"] == "maintenance" and body["capabilities"] == ["a"]
    # Resuming clears the reason that described the old state.
    body = api.patch("/api/agents/bot", {"state": "active"}).json()
    assert body["state"] == "active" and body["state_reason"] is None
    assert api.patch("/api/agents/bot", {"state": "sleepy"}).status_code == 400
    assert api.patch("/api/agents/bot", {"name": ""}).status_code == 400
    assert api.patch("/api/agents/bot", {"bogus": 1}).status_code == 400
    assert api.patch("/api/agents/bot", {}).json()["name"] == "Renamed"
    for method in ("get", "patch", "delete"):
        r = getattr(api, method)("/api/agents/ghost", **({"json": {"name": "x"}} if method == "patch" else {}))
        assert r.status_code == 404 and "agent ghost not found" in r.json()["error"]


def test_paused_agent_is_handed_no_work_until_resumed(api: Api) -> None:
    register(api, "bot")
    t = submit(api)
    assert api.patch("/api/agents/bot", {"state": "paused"}).status_code == 200
    assert claim(api) is None
    for state in ("stopped", "error"):
        api.patch("/api/agents/bot", {"state": state})
        assert claim(api) is None
    api.patch("/api/agents/bot", {"state": "active"})
    c = claim(api)
    assert c is not None and c["task"]["id"] == t["task_id"]


def test_submit_to_unavailable_agent_is_503_with_state(api: Api) -> None:
    register(api, "bot")
    for state in ("paused", "stopped", "error"):
        api.patch("/api/agents/bot", {"state": state, "state_reason": f"because {state}"})
        r = api.post("/api/agents/bot/tasks", {"message": "hi"}, headers=MEMBER)
        assert r.status_code == 503, r.text
        assert state in r.json()["error"] and f"because {state}" in r.json()["error"]
    assert api.get("/api/agents/bot/tasks").json()["tasks"] == []
    r = api.post("/api/agents/ghost/tasks", {"message": "hi"}, headers=MEMBER)
    assert r.status_code == 404 and "agent ghost not found" in r.json()["error"]


def test_unregistered_workers_are_not_gated(api: Api) -> None:
    r = api.post("/api/tasks", {"title": "plain"}, headers=ADMIN)
    assert r.status_code == 201
    assert claim(api, "freelancer") is not None


def test_delete_agent(api: Api) -> None:
    register(api, "bot")
    t = submit(api)
    r = api.delete("/api/agents/bot")
    assert r.status_code == 409 and "1 open task" in r.json()["error"]
    assert api.get("/api/agents/bot").status_code == 200
    assert api.delete("/api/agents/bot?cancel_open_tasks=true").status_code == 204
    assert api.get("/api/agents/bot").status_code == 404
    core = api.get(f"/api/tasks/{t['task_id']}").json()["task"]["task"]
    assert core["status"] == "canceled"
    register(api, "idle")
    assert api.delete("/api/agents/idle").status_code == 204
