"""The hot routes are answered by api/fast_path.py without Starlette's router walk, and anything
off the happy path still gets FastAPI's own answer."""

from __future__ import annotations

from typing import Any

from taskloom.api.fast_path import HOT, FastPath
from tests.api.helpers import create
from tests.conftest import ADMIN, Api, agent


def _fast_path(api: Api) -> FastPath:
    api.get("/healthz")  # builds the middleware stack
    layer: Any = api.client.app.middleware_stack  # type: ignore[attr-defined]
    while not isinstance(layer, FastPath):
        layer = layer.app
    return layer


class _Refuse:
    """Wraps what lies behind the fast path (FastAPI): records every request that reaches it."""

    def __init__(self, inner: Any):
        self.inner, self.paths = inner, []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.paths.append(scope["path"])
        await self.inner(scope, receive, send)


def test_every_hot_route_is_taken_by_the_fast_path(api: Api) -> None:
    fast = _fast_path(api)
    fast._build()
    assert fast.static is not None
    taken = set(fast.static) | {f"/api/agent/tasks/{{run_id}}/{a}" for a in fast.run_actions}
    assert taken == set(HOT), "a hot route gained a dependency or parameter the fast path cannot give"


def test_hot_routes_skip_the_router_and_errors_do_not(api: Api) -> None:
    fast = _fast_path(api)
    router = fast.app = _Refuse(fast.app)
    task = create(api, title="fast")
    c = api.post("/api/agent/tasks/claim-next", {"lease_seconds": 60}, headers=agent("a1")).json()["claim"]
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": 1}, headers=agent("a1"))
    assert r.status_code == 200 and r.json()["lease"]["status"] == "completed"
    assert api.post("/api/agent/tasks/claim-next", None, headers=agent("a1")).status_code == 204
    # A domain refusal is answered on the fast path too, with the same {"error"} body.
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {}, headers=agent("a2"))
    assert r.status_code == 403 and set(r.json()) == {"error"}
    assert router.paths == []
    # Off the happy path FastAPI answers, with its own wording and precedence.
    r = api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"bogus": 1}, headers=agent("a1"))
    assert r.status_code == 400 and "bogus" in r.json()["error"]
    r = api.client.post("/api/agent/tasks/claim-next", content=b'{"lease_seconds": ',
                        headers={**agent("a1"), "content-type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    assert api.client.post("/api/agent/tasks/claim-next", json={}).status_code == 401
    r = api.client.post("/api/tasks", content=b'{"title": "x"}', headers={**ADMIN, "content-type": "text/plain"})
    assert r.status_code == 400
    assert len(router.paths) == 4
    assert api.get(f"/api/tasks/{task['id']}").json()["task"]["task"]["status"] == "completed"


def test_the_route_table_is_built_at_startup_not_by_the_first_hot_request(api: Api) -> None:
    assert _fast_path(api).static is not None  # only /healthz was asked
