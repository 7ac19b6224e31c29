"""Small request helpers shared by the runtime API tests."""

from __future__ import annotations

from typing import Any

from tests.conftest import ADMIN, Api, agent


def create(api: Api, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    r = api.post("/api/tasks", {"title": fields.pop("title", "task"), **fields}, headers=headers or ADMIN)
    assert r.status_code == 201, r.text
    return r.json()["task"]


def claim(api: Api, who: str = "a1", **body: Any) -> dict[str, Any] | None:
    r = api.post("/api/agent/tasks/claim-next", body, headers=agent(who))
    if r.status_code == 204:
        return None
    assert r.status_code == 200, r.text
    return r.json()["claim"]


def must_claim(api: Api, who: str = "a1", **body: Any) -> dict[str, Any]:
    c = claim(api, who, **body)
    assert c is not None, "expected a claimable run"
    return c


def complete(api: Api, run_id: str, who: str = "a1", **body: Any) -> Any:
    return api.post(f"/api/agent/tasks/{run_id}/complete", body, headers=agent(who))


def task(api: Api, task_id: str) -> dict[str, Any]:
    r = api.get(f"/api/tasks/{task_id}")
    assert r.status_code == 200, r.text
    return r.json()["task"]["task"]


def runs(api: Api, task_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/api/tasks/{task_id}/runs")
    assert r.status_code == 200, r.text
    return r.json()["runs"]


def timeline(api: Api, task_id: str, **params: Any) -> list[dict[str, Any]]:
    r = api.get(f"/api/tasks/{task_id}/timeline", params=params)
    assert r.status_code == 200, r.text
    return r.json()["timeline"]
