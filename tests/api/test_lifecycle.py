"""The basic task lifecycle through the runtime API, on both backends."""

from __future__ import annotations

from tests.conftest import ADMIN, Api, agent


def create(api: Api, **fields: object) -> dict:
    r = api.post("/api/tasks", {"title": "t", **fields})
    assert r.status_code == 201, r.text
    return r.json()["task"]


def claim(api: Api, who: str = "a1", **body: object) -> dict | None:
    r = api.post("/api/agent/tasks/claim-next", body, headers=agent(who))
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()["claim"]


def test_create_claim_complete(api: Api) -> None:
    task = create(api, network_channel="q")
    assert task["status"] == "ready"
    c = claim(api)
    assert c is not None and c["task"]["id"] == task["id"]
    assert c["lease"]["claim_token"] == c["claim_token"]
    assert c["run"]["claim_token_hash"] and c["run"]["claim_token_hash"] != c["claim_token"]
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": {"ok": True}}, headers=agent("a1"))
    assert r.status_code == 200 and r.json()["lease"]["status"] == "completed"
    got = api.get(f"/api/tasks/{task['id']}").json()["task"]["task"]
    assert got["status"] == "completed" and got["result"] == {"ok": True}
    assert claim(api) is None


def test_claim_order_priority_then_oldest(api: Api) -> None:
    low = create(api, title="low", priority="low")
    first_high = create(api, title="h1", priority="high")
    urgent = create(api, title="u", priority="urgent")
    second_high = create(api, title="h2", priority="high")
    order = [claim(api)["task"]["id"] for _ in range(4)]  # type: ignore[index]
    assert order == [urgent["id"], first_high["id"], second_high["id"], low["id"]]


def test_other_agent_cannot_complete(api: Api) -> None:
    create(api)
    c = claim(api, "a1")
    assert c is not None
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent("a2"))
    assert r.status_code == 403 and "error" in r.json()


def test_unauthenticated(api: Api) -> None:
    assert api.client.get("/api/tasks").status_code == 401
    assert api.client.get("/api/tasks", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert api.client.get("/healthz").status_code == 200
    assert api.get("/api/tasks", headers=ADMIN).status_code == 200
