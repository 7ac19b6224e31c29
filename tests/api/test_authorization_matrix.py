"""Every route of the app x every kind of wrong caller: the documented status, and nothing changed.

The routes come from the app itself, so a new route cannot escape: it gets the four bad-token
checks at once, and the role checks fail until its row is added to ``EXPECTED`` (and to the
table in docs/authorization.md). One app per backend serves the whole matrix.

Columns of ``EXPECTED``: ``other_ws`` a member of another workspace, ``other_agent`` an agent
that neither holds, owns nor submitted the work, ``member`` a member on the action (for admin
actions). A status is the documented refusal (checked, and the database must not change); ``ok``
is an allowed action (the route's own tests cover it; not run here, it would change things);
``read`` is an allowed read, run here: 2xx, nothing changed, and for ``other_ws`` none of the
other workspace's ids in the answer.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import jwt
import psycopg
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Route

from taskloom.api.app import create_app
from taskloom.api.auth import issue_token
from taskloom.config import Settings
from tests.conftest import ADMIN, MEMBER, SECRET, agent, auth, reset_postgres

PUBLIC = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/"), ("GET", "/ui"), ("GET", "/ui/assets/{name}"),
          ("GET", "/ui/{view:path}"), ("GET", "/openapi.json"),
          ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc")}

# (method, path): (other_ws, other_agent, member)
EXPECTED: dict[tuple[str, str], tuple[Any, Any, Any]] = {
    # runtime tasks (workspace-scoped)
    ("GET", "/api/tasks"): ("read", "read", "read"),
    ("POST", "/api/tasks"): ("ok", "ok", "ok"),
    ("GET", "/api/tasks/{task_id}"): (404, "read", "read"),
    ("PATCH", "/api/tasks/{task_id}"): (404, 403, "ok"),
    ("DELETE", "/api/tasks/{task_id}"): (403, 403, 403),
    ("POST", "/api/tasks/{task_id}/start"): (404, 403, "ok"),
    ("POST", "/api/tasks/{task_id}/publish"): (404, 403, "ok"),
    ("POST", "/api/tasks/{task_id}/approve"): (404, 403, "ok"),
    ("POST", "/api/tasks/{task_id}/reject"): (404, 403, "ok"),
    ("POST", "/api/tasks/{task_id}/cancel"): (404, 403, "ok"),
    ("POST", "/api/tasks/{task_id}/children"): (404, 403, "ok"),
    ("GET", "/api/tasks/{task_id}/runs"): (404, "read", "read"),
    ("POST", "/api/tasks/{task_id}/runs"): (404, 403, "ok"),
    ("POST", "/api/tasks/{task_id}/dependencies"): (404, 403, "ok"),
    ("DELETE", "/api/tasks/{task_id}/dependencies/{depends_on_id}"): (404, 403, "ok"),
    ("GET", "/api/tasks/{task_id}/timeline"): (404, "read", "read"),
    ("GET", "/api/tasks/{task_id}/tree"): (404, "read", "read"),
    ("GET", "/api/tasks/{task_id}/stream"): (404, "ok", "ok"),  # a stream: its reads are not run here
    ("POST", "/api/tasks/{task_id}/triage/read"): (404, "ok", "ok"),  # the caller's own inbox state
    ("POST", "/api/tasks/{task_id}/triage/dismiss"): (404, "ok", "ok"),  # the caller's own inbox state
    ("POST", "/api/tasks/{task_id}/triage/archive"): (404, "ok", "ok"),  # the caller's own inbox state
    # runs
    ("GET", "/api/task-runs/{run_id}"): (404, "read", "read"),
    ("POST", "/api/task-runs/{run_id}/claim"): (404, "ok", "ok"),
    ("POST", "/api/task-runs/{run_id}/start"): (404, 403, "ok"),
    ("POST", "/api/task-runs/{run_id}/complete"): (404, 403, "ok"),
    ("POST", "/api/task-runs/{run_id}/fail"): (404, 403, "ok"),
    ("POST", "/api/task-runs/{run_id}/cancel"): (404, 403, "ok"),  # D6: a queued run of another's task
    ("POST", "/api/task-runs/{run_id}/attach-session"): (404, 403, "ok"),
    ("POST", "/api/task-runs/{run_id}/messages"): (404, 403, "ok"),
    ("GET", "/api/task-runs/{run_id}/messages"): (404, "read", "read"),
    ("GET", "/api/task-runs/{run_id}/output"): (404, "read", "read"),
    ("POST", "/api/agent/tasks/claim-next"): ("ok", "ok", "ok"),
    # batches: 200 for the batch, each item refused on its own as its single call (tests/api/test_batches.py)
    ("POST", "/api/agent/tasks/claim-batch"): ("ok", "ok", "ok"),
    ("POST", "/api/agent/tasks/complete-batch"): ("ok", "ok", "ok"),
    ("POST", "/api/agent/tasks/fail-batch"): ("ok", "ok", "ok"),
    ("POST", "/api/tasks/batch"): ("ok", "ok", "ok"),
    ("POST", "/api/agent/tasks/{run_id}/heartbeat"): (404, 403, 403),
    ("POST", "/api/agent/tasks/{run_id}/complete"): (404, 403, 403),
    ("POST", "/api/agent/tasks/{run_id}/fail"): (404, 403, 403),
    ("POST", "/api/agent/tasks/{run_id}/release"): (404, 403, 403),
    ("POST", "/api/agent/tasks/{run_id}/output"): (404, 403, 403),
    ("GET", "/api/observe/tasks/dashboard"): ("read", "read", "read"),
    ("GET", "/api/observe/tasks/inbox"): ("read", "read", "read"),
    ("GET", "/api/observe/usage"): ("read", "read", "read"),
    ("GET", "/api/observe/agents"): ("read", "read", "read"),
    ("GET", "/api/observe/queues"): ("read", "read", "read"),
    # work queues
    ("POST", "/work-queues"): ("ok", 403, "ok"),
    ("GET", "/work-queues"): ("read", "read", "read"),
    ("GET", "/work-queues/{queue_id}"): (404, "read", "read"),
    ("DELETE", "/work-queues/{queue_id}"): (404, 403, 403),
    ("POST", "/work-queues/{queue_id}/tasks"): ("ok", "ok", "ok"),
    ("GET", "/work-queues/{queue_id}/tasks"): (404, "read", "read"),
    ("POST", "/work-queues/{queue_id}/dequeue"): ("ok", 403, "ok"),  # agentId is another agent
    ("POST", "/work-queues/{queue_id}/steal"): ("ok", 403, "ok"),
    ("GET", "/work-queue-tasks/{task_id}"): (404, "read", "read"),
    ("POST", "/work-queue-tasks/{task_id}/complete"): (404, 403, 403),
    ("POST", "/work-queue-tasks/{task_id}/fail"): (404, 403, 403),
    ("POST", "/work-queue-tasks/{task_id}/heartbeat"): (404, 403, 403),
    # backlogs
    ("GET", "/api/backlogs"): ("read", "read", "read"),
    ("GET", "/api/backlogs/{agent_id}"): ("read", "read", "read"),
    ("POST", "/api/backlogs/{agent_id}"): ("ok", "ok", "ok"),
    ("GET", "/api/backlogs/{agent_id}/summary"): ("read", "read", "read"),
    ("GET", "/api/backlogs/{agent_id}/prefix"): ("read", "read", "read"),
    ("PUT", "/api/backlogs/{agent_id}/prefix"): ("ok", 403, "ok"),
    ("GET", "/api/backlogs/{agent_id}/{task_id}"): ("read", "read", "read"),
    ("PATCH", "/api/backlogs/{agent_id}/{task_id}"): ("ok", 403, "ok"),
    ("DELETE", "/api/backlogs/{agent_id}/{task_id}"): (403, 403, 403),
    # agents and their tasks
    ("POST", "/api/agents"): ("ok", 403, "ok"),
    ("GET", "/api/agents"): ("read", "read", "read"),
    ("GET", "/api/agents/{agent_id}"): ("read", "read", "read"),
    ("PATCH", "/api/agents/{agent_id}"): ("ok", 403, "ok"),
    ("DELETE", "/api/agents/{agent_id}"): (403, 403, 403),
    ("POST", "/api/agents/{agent_id}/tasks"): ("ok", "ok", "ok"),
    ("GET", "/api/agents/{agent_id}/tasks"): ("read", "read", "read"),
    ("GET", "/api/agents/{agent_id}/tasks/{task_id}"): ("read", "read", "read"),
    ("POST", "/api/agents/{agent_id}/tasks/{task_id}/messages"): ("ok", 403, "ok"),  # D7: answer
    ("GET", "/api/agents/{agent_id}/tasks/{task_id}/messages"): ("read", "read", "read"),
    ("POST", "/api/agents/{agent_id}/tasks/{task_id}/cancel"): ("ok", 403, "ok"),  # D7: cancel
    ("GET", "/api/agents/{agent_id}/tasks/{task_id}/deliveries"): ("read", "read", "read"),
    ("POST", "/api/agent/tasks/{run_id}/awaiting-input"): (404, 403, 403),
    ("GET", "/api/agent/tasks/{run_id}/messages"): (404, 403, 403),
    # scheduled tasks
    ("POST", "/tasks"): ("ok", "ok", "ok"),
    ("GET", "/tasks"): ("read", "read", "read"),
    ("GET", "/tasks/{task_id}"): ("read", "read", "read"),
    ("PUT", "/tasks/{task_id}"): ("ok", 403, "ok"),
    ("POST", "/tasks/{task_id}/run_now"): ("ok", 403, "ok"),
    ("POST", "/tasks/{task_id}/snooze"): ("ok", 403, "ok"),
    ("POST", "/tasks/{task_id}/pause"): ("ok", 403, "ok"),
    ("POST", "/tasks/{task_id}/resume"): ("ok", 403, "ok"),
    ("POST", "/tasks/{task_id}/cancel"): ("ok", 403, "ok"),
    ("GET", "/tasks/{task_id}/runs"): ("read", "read", "read"),
    ("POST", "/events"): ("ok", "ok", "ok"),
    # Prometheus metrics: any caller with a valid token (no ids in them)
    ("GET", "/metrics"): ("read", "read", "read"),
    # API keys (admins only)
    ("POST", "/api/keys"): (403, 403, 403),
    ("GET", "/api/keys"): (403, 403, 403),
    ("DELETE", "/api/keys/{key_id}"): (403, 403, 403),
    # budgets (admins only)
    ("POST", "/api/budgets"): (403, 403, 403),
    ("GET", "/api/budgets"): (403, 403, 403),
    ("GET", "/api/budgets/{budget_id}"): (403, 403, 403),
    ("PATCH", "/api/budgets/{budget_id}"): (403, 403, 403),
    ("DELETE", "/api/budgets/{budget_id}"): (403, 403, 403),
    # MCP: every tool answers 200 at the HTTP level; a refusal is a tool error carrying the REST status
    # (checked per tool by test_mcp_wrong_callers_get_the_rest_refusal_and_change_nothing)
    ("POST", "/mcp"): ("mcp", "mcp", "mcp"),
}

BODIES: dict[tuple[str, str], Any] = {
    ("PATCH", "/api/tasks/{task_id}"): {"title": "hijacked"},
    ("POST", "/api/tasks/{task_id}/reject"): {"reason": "no"},
    ("POST", "/api/tasks/{task_id}/children"): {"title": "child"},
    ("POST", "/api/tasks/{task_id}/dependencies"): {"depends_on_task_id": "{other_task}"},
    ("POST", "/api/task-runs/{run_id}/fail"): {"error": "x"},
    ("POST", "/api/task-runs/{run_id}/attach-session"): {"session_id": "s1"},
    ("POST", "/api/agent/tasks/{run_id}/fail"): {"error": "x"},
    ("POST", "/work-queues/{queue_id}/dequeue"): {"agentId": "holder"},
    ("POST", "/work-queues/{queue_id}/steal"): {"agentId": "holder"},
    ("POST", "/work-queue-tasks/{task_id}/fail"): {"error": "x"},
    ("POST", "/work-queue-tasks/{task_id}/heartbeat"): {},
    ("PUT", "/api/backlogs/{agent_id}/prefix"): {"prefix": "ZZ"},
    ("PATCH", "/api/backlogs/{agent_id}/{task_id}"): {"title": "hijacked"},
    ("PATCH", "/api/agents/{agent_id}"): {"name": "hijacked"},
    ("POST", "/api/agents"): {"name": "x"},
    ("POST", "/work-queues"): {"name": "q2", "teamId": "t"},
    ("POST", "/api/agents/{agent_id}/tasks/{task_id}/messages"): {"message": "the answer is 42"},
    ("POST", "/api/agent/tasks/{run_id}/awaiting-input"): {"question": "?"},
    ("POST", "/api/task-runs/{run_id}/messages"): {"kind": "note", "body": "hi"},
    ("POST", "/api/agent/tasks/{run_id}/output"): {"chunk": "hi"},
    ("PUT", "/tasks/{task_id}"): {"title": "hijacked"},
    ("POST", "/tasks/{task_id}/snooze"): {"delay_seconds": 60},
    ("POST", "/api/keys"): {"name": "k", "sub": "mallory", "role": "admin"},
    ("POST", "/api/budgets"): {"scope": "agent", "ref": "a1", "period": "day", "max_tokens": 1},
    ("PATCH", "/api/budgets/{budget_id}"): {"max_tokens": 5},
    ("POST", "/mcp"): {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "cancel_task", "arguments": {"task_id": "{task}"}}},
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}

OTHER_WS = auth("mallory", role="member", workspaces=["ws-b"])
INTRUDER = agent("intruder")


def _alg_none() -> dict[str, str]:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    token = b64({"alg": "none", "typ": "JWT"}) + "." + b64({"sub": "root", "role": "admin"}) + "."
    return {"Authorization": f"Bearer {token}"}


BAD_TOKENS = {
    "no token": {},
    "bad signature": {"Authorization": "Bearer " + issue_token("another-secret-" + "x" * 32, "root", role="admin")},
    "expired": {"Authorization": "Bearer " + jwt.encode({"sub": "root", "role": "admin", "exp": int(time.time()) - 60},
                                                        SECRET, algorithm="HS256")},
    "alg:none": _alg_none(),
    "unknown API key": {"X-API-Key": "tlk_" + "0" * 40},
}


def routes(app: Any) -> list[tuple[str, str]]:
    out = set()
    for context in iter_route_contexts(app.routes):
        # A Route without methods is a plain ASGI endpoint (/mcp, JSON-RPC over POST): checked as POST.
        # (A Mount, e.g. the docs' static assets, is public.)
        plain = isinstance(context.route, Route) and context.methods is None
        for method in context.methods or (("POST",) if plain else ()):
            if method != "HEAD":
                out.add((method, context.path))
    return sorted(out)


def authenticated_routes(app: Any) -> list[tuple[str, str]]:
    return [r for r in routes(app) if r not in PUBLIC]


# -- one app per backend, seeded with somebody's work in workspace ws-a --------------------------


# Using a key writes its last_used_at (at most once a minute): bookkeeping, not a change a
# refused caller made, and a slow run of this module crosses that minute.
_BOOKKEEPING = {"last_used_at"}


def _rows_digest(cursor: Any) -> bytes:
    keep = [i for i, col in enumerate(cursor.description) if col[0] not in _BOOKKEEPING]
    return repr(sorted(repr([row[i] for i in keep]) for row in cursor.fetchall())).encode()


class World:
    def __init__(self, client: TestClient, url: str):
        self.client = client
        self.url = url
        self.ids: dict[str, str] = {}
        self.secrets: dict[str, str] = {}

    def call(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        kw: dict[str, Any] = {"headers": {**headers, **MCP_ACCEPT} if path == "/mcp" else headers}
        if method in ("POST", "PUT", "PATCH"):
            kw["json"] = body if body is not None else {}
        return self.client.request(method, path, **kw)

    def ok(self, method: str, path: str, body: Any = None, headers: dict[str, str] = ADMIN,
           status: int | None = None) -> Any:
        r = self.call(method, path, headers, body)
        assert r.status_code < 300 if status is None else r.status_code == status, (method, path, r.text)
        return r.json() if r.content else None

    def fingerprint(self) -> str:
        """A hash of every row of every table: equal means nothing changed."""
        digest = hashlib.sha256()
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
                for name in names:
                    digest.update(name.encode() + _rows_digest(conn.execute(f'SELECT * FROM "{name}"')))
            finally:
                conn.close()
        else:
            with psycopg.connect(self.url) as conn:
                names = [r[0] for r in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
                for name in names:
                    digest.update(name.encode() + _rows_digest(conn.execute(f'SELECT * FROM "{name}"')))
        return digest.hexdigest()

    def scalar(self, sql: str) -> Any:
        if self.url.startswith("sqlite"):
            conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
            try:
                return conn.execute(sql).fetchone()[0]
            finally:
                conn.close()
        with psycopg.connect(self.url) as pg:
            row = pg.execute(sql).fetchone()
            return row[0] if row else None

    def fill(self, path: str) -> str:
        """The path with each parameter set to the seeded resource of that family."""
        family = path.split("/{", 1)[0]
        values = {
            ("/api/tasks", "task_id"): "task", ("/api/tasks", "depends_on_id"): "dependency",
            ("/api/task-runs", "run_id"): "queued_run", ("/api/agent/tasks", "run_id"): "live_run",
            ("/work-queues", "queue_id"): "queue", ("/work-queue-tasks", "task_id"): "queue_task",
            ("/api/backlogs", "agent_id"): "agent", ("/api/backlogs", "task_id"): "backlog_task",
            ("/api/agents", "agent_id"): "agent", ("/api/agents", "task_id"): "agent_task",
            ("/tasks", "task_id"): "schedule", ("/api/keys", "key_id"): "key",
            ("/api/budgets", "budget_id"): "budget",
        }
        out = path
        while "{" in out:
            name = out[out.index("{") + 1:out.index("}")]
            key = values.get((family, name))
            if key is None:
                raise AssertionError(f"{path}: no seeded value for {{{name}}}: add one to World.fill")
            out = out.replace("{" + name + "}", self.ids[key], 1)
        return out

    def body(self, method: str, path: str) -> Any:
        body = BODIES.get((method, path))
        text = json.dumps(body)
        for key, value in self.ids.items():
            text = text.replace("{" + key + "}", value)
        return json.loads(text)


def seed(w: World) -> None:
    ids = w.ids
    holder = agent("holder")
    alice = auth("alice", role="member", workspaces=["ws-a"])
    ids["task"] = w.ok("POST", "/api/tasks", {"title": "alice's task", "workspace_id": "ws-a"},
                       alice)["task"]["id"]
    ids["dependency"] = w.ok("POST", "/api/tasks", {"title": "dependency", "workspace_id": "ws-a"})["task"]["id"]
    ids["other_task"] = w.ok("POST", "/api/tasks", {"title": "other", "workspace_id": "ws-a"})["task"]["id"]
    w.ok("POST", f"/api/tasks/{ids['task']}/dependencies", {"depends_on_task_id": ids["dependency"]})
    queued = w.ok("POST", "/api/tasks", {"title": "queued", "workspace_id": "ws-a"}, alice)["task"]
    ids["queued_run"] = w.ok("GET", f"/api/tasks/{queued['id']}/runs")["runs"][0]["id"]
    live = w.ok("POST", "/api/tasks", {"title": "held", "workspace_id": "ws-a"}, alice)["task"]
    ids["live_run"] = w.ok("GET", f"/api/tasks/{live['id']}/runs")["runs"][0]["id"]
    w.ok("POST", f"/api/task-runs/{ids['live_run']}/claim", {}, holder)
    w.ok("POST", f"/api/task-runs/{ids['live_run']}/start", {}, holder)
    w.ok("POST", "/api/agents", {"id": "worker", "name": "Worker"})
    ids["agent"] = "worker"
    at = w.ok("POST", "/api/agents/worker/tasks", {"message": "summarise"}, MEMBER)
    ids["agent_task"] = at["task_id"]
    run_id = w.ok("GET", f"/api/tasks/{at['task_id']}/runs")["runs"][0]["id"]
    w.ok("POST", f"/api/task-runs/{run_id}/claim", {}, agent("worker"))
    w.ok("POST", f"/api/agent/tasks/{run_id}/awaiting-input", {"question": "Which region?"}, agent("worker"))
    ids["backlog_task"] = w.ok("POST", "/api/backlogs/worker", {"title": "backlog item"})["id"]
    ids["queue"] = w.ok("POST", "/work-queues", {"name": "triage", "teamId": "eng"})["id"]
    ids["queue_task"] = w.ok("POST", f"/work-queues/{ids['queue']}/tasks", {"name": "bug"})["id"]
    w.ok("POST", f"/work-queues/{ids['queue']}/dequeue", {"agentId": "holder"}, holder)
    ids["schedule"] = w.ok("POST", "/tasks", {
        "title": "nightly", "description": "d", "schedule_kind": "cron", "schedule_expr": "0 3 * * *",
        "payload": {}, "created_by": "00000000-0000-0000-0000-000000000001"})["id"]
    ids["budget"] = w.ok("POST", "/api/budgets", {"scope": "agent", "ref": "a9", "period": "day",
                                                   "max_tokens": 10})["budget"]["id"]
    made = w.ok("POST", "/api/keys", {"name": "ci", "sub": "ci-bot"})
    ids["key"], w.secrets["member_key"] = made["id"], made["key"]
    w.secrets["agent_key"] = w.ok("POST", "/api/keys", {"name": "bot", "sub": "key-bot", "kind": "agent_session",
                                                         "role": "agent"})["key"]
    # A key's first use records last_used_at (then at most once a minute): done here, so the checks
    # below see only the changes a call makes.
    for secret in (w.secrets["member_key"], w.secrets["agent_key"]):
        w.ok("GET", "/api/tasks?limit=1", headers={"X-API-Key": secret})
    deadline = time.monotonic() + 10
    while w.scalar("SELECT COUNT(*) FROM api_keys WHERE last_used_at IS NOT NULL") < 2:
        assert time.monotonic() < deadline, "the keys' last_used_at was never written"
        time.sleep(0.02)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("matrix")
    if request.param == "sqlite":
        url = f"sqlite:///{folder}/taskloom.db"
    else:
        url = request.getfixturevalue("postgres_url")
        reset_postgres(url)
    settings = Settings(database_url=url, data_dir=str(folder), jwt_secret=SECRET)
    with TestClient(create_app(settings, run_services=False)) as client:
        w = World(client, url)
        seed(w)
        yield w


def _ws_a_ids(w: World) -> list[str]:
    return [w.ids[k] for k in ("task", "dependency", "other_task", "queued_run", "live_run")]


def test_every_route_has_a_row(world: World) -> None:
    missing = [r for r in authenticated_routes(world.client.app) if r not in EXPECTED]
    assert not missing, ("routes without a row in EXPECTED of tests/api/test_authorization_matrix.py"
                         f" (and docs/authorization.md): {missing}")
    public_with_auth = [r for r in PUBLIC if r in EXPECTED]
    assert not public_with_auth


def test_bad_tokens_get_401_and_change_nothing(world: World) -> None:
    before = world.fingerprint()
    wrong = []
    for method, path in authenticated_routes(world.client.app):
        for name, headers in BAD_TOKENS.items():
            r = world.call(method, world.fill(path), headers, world.body(method, path))
            if r.status_code != 401 or "error" not in r.json():
                wrong.append(f"{method} {path} [{name}]: {r.status_code} {r.text[:120]}")
    assert not wrong, "\n".join(wrong)
    assert world.fingerprint() == before


def test_wrong_callers_get_the_documented_status_and_change_nothing(world: World) -> None:
    callers = (("other workspace's member", OTHER_WS), ("other agent", INTRUDER), ("member", MEMBER))
    wrong = []
    for method, path in authenticated_routes(world.client.app):
        row = EXPECTED.get((method, path))
        if row is None:
            continue  # test_every_route_has_a_row names it
        for (name, headers), expected in zip(callers, row, strict=True):
            if expected in ("ok", "mcp"):
                continue
            before = world.fingerprint()
            r = world.call(method, world.fill(path), headers, world.body(method, path))
            changed = world.fingerprint() != before
            if expected == "read":
                leaked = name == "other workspace's member" and any(i in r.text for i in _ws_a_ids(world))
                if r.status_code >= 300 or changed or leaked:
                    wrong.append(f"{method} {path} [{name}]: read gave {r.status_code}, changed={changed}, "
                                 f"leaked={leaked}: {r.text[:160]}")
            elif r.status_code != expected or changed or "error" not in r.json():
                wrong.append(f"{method} {path} [{name}]: expected {expected}, got {r.status_code}, "
                             f"changed={changed}: {r.text[:160]}")
    assert not wrong, "\n".join(wrong)
    assert APIRoute  # the routes are FastAPI routes


# -- /mcp: the same callers, through the tools -------------------------------------------------


def mcp_call(w: World, headers: dict[str, str], tool: str, **arguments: Any) -> tuple[int, Any]:
    """(HTTP status, the JSON-RPC result) of one stateless tools/call."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    r = w.call("POST", "/mcp", headers, body)
    return r.status_code, (r.json().get("result") if r.status_code == 200 else r.json())


def test_mcp_wrong_callers_get_the_rest_refusal_and_change_nothing(world: World) -> None:
    """Per caller and tool, the refusal the REST route gives (as a tool error), and no row changed."""
    ids = world.ids
    agent_key = {"X-API-Key": world.secrets["agent_key"]}
    cases = [
        ("other workspace's member", OTHER_WS, "get_task", {"task_id": ids["task"]}, "not found (HTTP 404)"),
        ("other workspace's member", OTHER_WS, "cancel_task", {"task_id": ids["task"]}, "not found (HTTP 404)"),
        ("other workspace's member", OTHER_WS, "approve_task", {"task_id": ids["task"]}, "not found (HTTP 404)"),
        ("other agent", INTRUDER, "cancel_task", {"task_id": ids["task"]}, "forbidden (HTTP 403)"),
        ("other agent", INTRUDER, "approve_task", {"task_id": ids["task"]}, "forbidden (HTTP 403)"),
        ("other agent", INTRUDER, "complete_task", {"run_id": ids["live_run"]}, "forbidden (HTTP 403)"),
        ("other agent", INTRUDER, "heartbeat", {"run_id": ids["live_run"]}, "forbidden (HTTP 403)"),
        ("other agent", INTRUDER, "fail_task", {"run_id": ids["live_run"], "error": "x"}, "forbidden (HTTP 403)"),
        ("other agent", INTRUDER, "answer_agent", {"task_id": ids["agent_task"], "answer": "42"},
         "forbidden (HTTP 403)"),
        ("member", MEMBER, "complete_task", {"run_id": ids["live_run"]}, "forbidden (HTTP 403)"),
        ("member", MEMBER, "release_task", {"run_id": ids["live_run"]}, "forbidden (HTTP 403)"),
        ("agent-role API key", agent_key, "approve_task", {"task_id": ids["task"]}, "forbidden (HTTP 403)"),
        ("agent-role API key", agent_key, "complete_task", {"run_id": ids["live_run"]}, "forbidden (HTTP 403)"),
    ]
    wrong = []
    for name, headers, tool, arguments, refusal in cases:
        before = world.fingerprint()
        status, result = mcp_call(world, headers, tool, **arguments)
        changed = world.fingerprint() != before
        text = str(result["content"][0]["text"]) if status == 200 else ""
        if status != 200 or not result.get("isError") or refusal not in text or changed:
            wrong.append(f"{tool} [{name}]: {status} changed={changed}: {str(result)[:200]}")
    assert not wrong, "\n".join(wrong)


def test_mcp_valid_keys_and_tokens_are_served(world: World) -> None:
    """A valid API key works on /mcp, sent as X-API-Key or as a bearer, as does a JWT; reads change nothing."""
    key = world.secrets["member_key"]
    before = world.fingerprint()
    for name, headers in (("X-API-Key", {"X-API-Key": key}), ("bearer key", {"Authorization": f"Bearer {key}"}),
                          ("JWT", MEMBER)):
        status, result = mcp_call(world, headers, "get_task", task_id=world.ids["task"])
        assert status == 200 and not result["isError"], (name, result)
        assert result["structuredContent"]["task"]["id"] == world.ids["task"], name
    assert world.fingerprint() == before
