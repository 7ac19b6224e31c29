"""Every kind of bad input gets a 4xx with {"error": ...} and changes nothing."""

from __future__ import annotations

import pytest

from tests.api.helpers import create, must_claim
from tests.conftest import ADMIN, Api, agent, auth


def err(r, status: int) -> str:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    return str(body["error"])


def test_malformed_json(api: Api) -> None:
    r = api.client.post("/api/tasks", content=b'{"title": ', headers={**ADMIN, "content-type": "application/json"})
    assert "JSON" in err(r, 400)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": 5}, "title"),
        ({"title": ""}, "title"),
        ({"title": "x", "priority": "extreme"}, "priority"),
        ({"title": "x", "max_attempts": 0}, "max_attempts"),
        ({"title": "x", "max_attempts": "three"}, "max_attempts"),
        ({"title": "x", "colour": "red"}, "colour"),
        ({"title": "x", "dependencies": "abc"}, "dependencies"),
        ({"title": "x", "owner": {"kind": "robot", "ref": "r"}}, "owner"),
        ({"description": "no title"}, "title"),
    ],
)
def test_bad_task_bodies(api: Api, body: dict, field: str) -> None:
    assert field in err(api.post("/api/tasks", body), 400)
    assert api.get("/api/tasks", params={"include_drafts": True}).json()["tasks"] == []


def test_unknown_ids(api: Api) -> None:
    assert "not found" in err(api.get("/api/tasks/nope"), 404)
    err(api.get("/api/task-runs/nope"), 404)
    err(api.post("/api/agent/tasks/nope/complete", {}, headers=agent("a1")), 404)
    err(api.post("/api/tasks", {"title": "x", "parent_task_id": "nope"}), 404)
    err(api.post("/api/tasks", {"title": "x", "dependencies": ["nope"]}), 404)
    assert api.get("/api/tasks", params={"include_drafts": True}).json()["tasks"] == []
    err(api.get("/no/such/path"), 404)


def test_out_of_range_claim_parameters(api: Api) -> None:
    err(api.post("/api/agent/tasks/claim-next", {"lease_seconds": 0}, headers=agent("a1")), 400)
    err(api.post("/api/agent/tasks/claim-next", {"wait_seconds": 31}, headers=agent("a1")), 400)
    err(api.get("/api/tasks", params={"limit": 0}), 400)
    err(api.get("/api/tasks", params={"status": "sleeping"}), 400)


def test_body_too_large(make_api) -> None:  # type: ignore[no-untyped-def]
    api = make_api(max_body_bytes=2048)
    r = api.post("/api/tasks", {"title": "x", "description": "y" * 5000})
    assert "too large" in err(r, 413)
    assert api.get("/api/tasks").json()["tasks"] == []


def test_default_body_limit_is_one_mebibyte(api: Api) -> None:
    r = api.post("/api/tasks", {"title": "x", "metadata": {"blob": "z" * (1024 * 1024 + 10)}})
    err(r, 413)


def test_fail_needs_error(api: Api) -> None:
    create(api)
    c = must_claim(api)
    err(api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {}, headers=agent("a1")), 400)
    err(api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": ""}, headers=agent("a1")), 400)


def test_conflicts(api: Api) -> None:
    t = create(api)
    err(api.post(f"/api/tasks/{t['id']}/publish", {}), 409)
    err(api.post(f"/api/tasks/{t['id']}/approve", {}), 409)


def test_auth_errors(api: Api) -> None:
    err(api.client.get("/api/tasks"), 401)
    err(api.client.get("/api/tasks", headers={"Authorization": "Basic abc"}), 401)
    err(api.client.get("/api/tasks", headers={"Authorization": "Bearer not-a-jwt"}), 401)
    from taskloom.api.auth import issue_token

    forged = issue_token("another-secret-another-secret-another", "root", role="admin")
    err(api.client.get("/api/tasks", headers={"Authorization": f"Bearer {forged}"}), 401)
    expired = issue_token("test-secret-0123456789-0123456789-abcdef", "root", role="admin", ttl=-10)
    assert "expired" in err(api.client.get("/api/tasks", headers={"Authorization": f"Bearer {expired}"}), 401)


def test_workspace_scoping(api: Api) -> None:
    red = create(api, title="red", workspace_id="red")
    blue = create(api, title="blue", workspace_id="blue")
    glob = create(api, title="global")
    red_member = auth("rita", workspaces=["red"])
    seen = {t["id"] for t in api.get("/api/tasks", headers=red_member).json()["tasks"]}
    assert seen == {red["id"], glob["id"]}
    err(api.get(f"/api/tasks/{blue['id']}", headers=red_member), 404)
    err(api.post("/api/tasks", {"title": "x", "workspace_id": "blue"}, headers=red_member), 403)
    red_agent = auth("ra", kind="agent_session", role="agent", workspaces=["red"])
    claimed = set()
    while (r := api.post("/api/agent/tasks/claim-next", {}, headers=red_agent)).status_code == 200:
        claimed.add(r.json()["claim"]["task"]["id"])
    assert claimed == {red["id"], glob["id"]}


def test_agents_cannot_change_others_tasks(api: Api) -> None:
    t = create(api)
    err(api.patch(f"/api/tasks/{t['id']}", {"title": "mine now"}, headers=agent("a1")), 403)
    err(api.post(f"/api/tasks/{t['id']}/cancel", {}, headers=agent("a1")), 403)
    own = create(api, headers=agent("a1"), title="agent-made")
    assert api.patch(f"/api/tasks/{own['id']}", {"title": "renamed"}, headers=agent("a1")).status_code == 200


def test_patch_nulls_and_huge_numbers(api: Api) -> None:
    t = create(api)
    for field in ("title", "description", "priority", "max_attempts"):
        assert field in err(api.patch(f"/api/tasks/{t['id']}", {field: None}), 400)
    r = api.patch(f"/api/tasks/{t['id']}", {"metadata": None, "owner": None, "blocker": None})
    assert r.status_code == 200
    err(api.get(f"/api/tasks/{t['id']}/timeline", params={"after_sequence": 10**30}), 400)
    create(api, title="second")
    c = must_claim(api)
    err(api.post(f"/api/agent/tasks/{c['run']['id']}/heartbeat", {"input_tokens": 10**30}, headers=agent("a1")), 400)


def test_values_a_database_cannot_store(api: Api) -> None:
    """A NUL in text (PostgreSQL refuses it) or an integer beyond 64 bits: 400, nothing written."""
    err(api.post("/api/tasks", {"title": "x", "metadata": {"n": 2**70}}), 400)
    # The same answer on both backends (SQLite could store a NUL; PostgreSQL cannot).
    r = api.post("/api/tasks", {"title": "nul\u0000inside"})
    assert r.status_code == 400 and "invalid value" in r.json()["error"], r.text
    r = api.post("/api/agent/tasks/claim-next", {"capabilities": ["a\u0000b"]}, headers=agent("a1"))
    assert r.status_code == 400, r.text
    assert api.get("/api/tasks").json()["tasks"] == []
