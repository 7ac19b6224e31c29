"""Every operation of the OpenAPI document declares the schema of what it answers, and what it
answers matches that schema exactly (issue 13: an OpenAPI document that tells the truth).

- ``test_every_operation_declares_its_success_schema``: each operation has a 2xx entry, and every
  2xx entry but a 204 has content with a real schema (a model ``$ref`` for JSON, never ``{}`` or
  a plain string). A new route without ``response_model=`` fails here.
- ``test_answers_match_their_schema_exactly``: a scenario calls every operation successfully and
  checks each 2xx JSON answer against its documented schema made strict: every object must list
  every key it sends (no undocumented field) and send every required one. Every operation must be
  reached, so a new route needs a step in ``scenario``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from tests.conftest import ADMIN, MEMBER, Api, agent

SUCCESS_WITHOUT_BODY = {"204"}
NON_JSON = {("GET", "/api/tasks/{task_id}/stream"): "text/event-stream", ("GET", "/metrics"): "text/plain"}


@pytest.fixture
def spec(api: Api) -> dict[str, Any]:
    r = api.client.get("/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            yield method.upper(), path, op


def test_every_operation_declares_its_success_schema(spec: dict[str, Any]) -> None:
    wrong = []
    for method, path, op in operations(spec):
        success = {code: entry for code, entry in op["responses"].items() if code.startswith("2")}
        if not success:
            wrong.append(f"{method} {path}: no 2xx response")
        for code, entry in success.items():
            content = entry.get("content") or {}
            if code in SUCCESS_WITHOUT_BODY:
                if content:
                    wrong.append(f"{method} {path} {code}: a 204 has no body")
                continue
            media = NON_JSON.get((method, path), "application/json")
            schema = (content.get(media) or {}).get("schema")
            if media == "application/json":
                good = bool(schema) and "$ref" in schema
            elif media == "text/event-stream":  # OpenAPI 3.1: the schema of each event, its data's contentSchema
                good = bool(schema) and "contentSchema" in schema["properties"]["data"]
            else:
                good = schema == {"type": "string"}
            if not good or set(content) != {media}:
                wrong.append(f"{method} {path} {code}: {content}")
    assert not wrong, "operations without a declared success schema:\n" + "\n".join(wrong)


# -- the answers match ---------------------------------------------------------------------------


def strict(schema: Any) -> Any:
    """The schema with every object closed: keys it does not list are refused."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


class Checker:
    """Records every answer of the scenario and checks it against the strict document."""

    def __init__(self, api: Api, spec: dict[str, Any]):
        self.api = api
        self.spec = spec
        self.components = strict(copy.deepcopy(spec["components"]))
        self.templates = [(m, p, re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"))
                          for m, p, _ in operations(spec)]
        self.reached: set[tuple[str, str]] = set()
        self.wrong: list[str] = []

    def template(self, method: str, path: str) -> str:
        found = [(p.count("{"), p) for m, p, regex in self.templates if m == method and regex.match(path)]
        assert found, f"{method} {path}: no operation in the document"
        return min(found)[1]

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None,
             status: int | None = None, **kw: Any) -> Any:
        kw.setdefault("headers", headers or ADMIN)
        if body is not None:
            kw["json"] = body
        r = self.api.client.request(method, path, **kw)
        assert r.status_code < 300 if status is None else r.status_code == status, (method, path, r.text)
        template = self.template(method, path.split("?")[0])
        self.reached.add((method, template))
        op = self.spec["paths"][template][method.lower()]
        entry = op["responses"].get(str(r.status_code))
        if entry is None:
            self.wrong.append(f"{method} {template}: {r.status_code} is not documented")
            return None
        if r.status_code == 204 or (method, template) in NON_JSON:
            return r
        schema = entry["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator({**strict(schema), "components": self.components})
        for error in validator.iter_errors(r.json()):
            where = "/".join(str(p) for p in error.absolute_path)
            self.wrong.append(f"{method} {template} {r.status_code} at {where or '(root)'}: {error.message[:300]}")
        return r.json()

    def get(self, path: str, **kw: Any) -> Any:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, {} if body is None else body, **kw)


def scenario(c: Checker) -> None:  # noqa: PLR0915 - one step per operation
    worker, holder = agent("worker"), agent("holder")
    c.get("/healthz")
    c.get("/readyz")
    c.get("/metrics")
    # runtime tasks
    task = c.post("/api/tasks", {"title": "parent", "metadata": {"k": 1}, "workspace_id": "ws-a",
                                 "network_channel": "rt"}, status=201)["task"]
    tid = task["id"]
    c.get("/api/tasks")
    c.get(f"/api/tasks/{tid}")
    c.call("PATCH", f"/api/tasks/{tid}", {"title": "parent, renamed"})
    child = c.post(f"/api/tasks/{tid}/children", {"title": "child"}, status=201)["task"]
    dep = c.post("/api/tasks", {"title": "dependency", "start": False}, status=201)["task"]
    c.post(f"/api/tasks/{tid}/dependencies", {"depends_on_task_id": dep["id"]})
    c.call("DELETE", f"/api/tasks/{tid}/dependencies/{dep['id']}")
    c.post(f"/api/tasks/{dep['id']}/start")
    draft = c.post("/api/tasks", {"title": "draft", "draft": True}, status=201)["task"]
    c.post(f"/api/tasks/{draft['id']}/publish")
    gated = c.post("/api/tasks", {"title": "gated", "approval_policy": "required"}, status=201)["task"]
    c.post(f"/api/tasks/{gated['id']}/approve", {"comment": "fine"})
    gated2 = c.post("/api/tasks", {"title": "gated 2", "approval_policy": "required"}, status=201)["task"]
    c.post(f"/api/tasks/{gated2['id']}/reject", {"reason": "no"})
    c.get(f"/api/tasks/{tid}/timeline")
    c.get(f"/api/tasks/{tid}/tree")
    for action in ("read", "dismiss", "archive"):
        c.post(f"/api/tasks/{tid}/triage/{action}")
    c.reached.add(("GET", "/api/tasks/{task_id}/stream"))  # endless: tests/api/test_stream.py reads it over HTTP
    # runs
    runs = c.get(f"/api/tasks/{tid}/runs")["runs"]
    run_id = runs[0]["id"]
    c.get(f"/api/task-runs/{run_id}")
    c.post(f"/api/task-runs/{run_id}/attach-session", {"session_id": "s-1"})
    c.post(f"/api/task-runs/{run_id}/claim", headers=holder)
    c.post(f"/api/task-runs/{run_id}/start", headers=holder)
    c.post(f"/api/task-runs/{run_id}/messages", {"kind": "status", "body": "working"}, headers=holder, status=201)
    c.get(f"/api/task-runs/{run_id}/messages")
    c.post(f"/api/agent/tasks/{run_id}/output", {"chunk": "line 1\n"}, headers=holder)
    c.get(f"/api/task-runs/{run_id}/output")
    c.post(f"/api/agent/tasks/{run_id}/heartbeat", {"progress": "half", "input_tokens": 5}, headers=holder)
    c.post(f"/api/task-runs/{run_id}/complete", {"result": {"ok": True}}, headers=holder)
    again = c.post(f"/api/tasks/{tid}/runs", status=201)["run"]
    c.post(f"/api/task-runs/{again['id']}/claim", headers=holder)
    c.post(f"/api/task-runs/{again['id']}/fail", {"error": "boom", "retryable": False}, headers=holder)
    c.post("/api/tasks", {"title": "to claim", "network_channel": "agentq"}, status=201)
    claim = c.post("/api/agent/tasks/claim-next", {"network_channel": "agentq"}, headers=holder)["claim"]
    c.post(f"/api/agent/tasks/{claim['run']['id']}/complete", {"result": "done"}, headers=holder)
    c.post("/api/tasks", {"title": "to fail", "network_channel": "agentq"}, status=201)
    claim = c.post("/api/agent/tasks/claim-next", {"network_channel": "agentq"}, headers=holder)["claim"]
    c.post(f"/api/agent/tasks/{claim['run']['id']}/fail", {"error": "no", "retryable": False}, headers=holder)
    c.post("/api/tasks", {"title": "to release", "network_channel": "agentq"}, status=201)
    claim = c.post("/api/agent/tasks/claim-next", {"network_channel": "agentq"}, headers=holder)["claim"]
    c.post(f"/api/agent/tasks/{claim['run']['id']}/release", headers=holder)
    c.post(f"/api/task-runs/{claim['run']['id']}/cancel")
    c.post("/api/agent/tasks/claim-next", {"network_channel": "empty"}, headers=holder, status=204)
    # batches
    made = c.post("/api/tasks/batch", {"tasks": [{"title": "b1", "network_channel": "bq"},
                                                  {"title": "b2", "network_channel": "bq"}]}, status=201)
    assert made
    claims = c.post("/api/agent/tasks/claim-batch", {"network_channel": "bq", "max_runs": 2}, headers=holder)["claims"]
    c.post("/api/agent/tasks/complete-batch", {"items": [{"run_id": claims[0]["run"]["id"], "result": 1}]},
           headers=holder)
    c.post("/api/agent/tasks/fail-batch", {"items": [{"run_id": claims[1]["run"]["id"], "error": "x"}]},
           headers=holder)
    c.post("/api/agent/tasks/claim-batch", {"network_channel": "bq-empty"}, headers=holder, status=204)
    # observe
    c.get("/api/observe/tasks/dashboard")
    c.get("/api/observe/tasks/inbox")
    c.get("/api/observe/usage?group_by=agent,model,day")
    c.get("/api/observe/queues")
    c.get("/api/observe/agents")
    c.post(f"/api/tasks/{child['id']}/cancel", {"reason": "done with it"})
    c.call("DELETE", f"/api/tasks/{gated2['id']}", status=204)
    # work queues
    queue = c.post("/work-queues", {"name": "triage", "teamId": "eng"}, status=201)
    other = c.post("/work-queues", {"name": "other", "teamId": "eng"}, status=201)
    c.get("/work-queues")
    c.get(f"/work-queues/{queue['id']}")
    for name in ("bug 1", "bug 2"):
        c.post(f"/work-queues/{queue['id']}/tasks", {"name": name, "priority": 4, "payload": {"t": 1},
                                                     "deadline": "2099-01-01T00:00:00Z"}, status=201)
    c.post(f"/work-queues/{other['id']}/tasks", {"name": "stealable"}, status=201)
    c.get(f"/work-queues/{queue['id']}/tasks")
    wt = c.post(f"/work-queues/{queue['id']}/dequeue", {"agentId": "holder"}, headers=holder)
    c.get(f"/work-queue-tasks/{wt['id']}")
    c.post(f"/work-queue-tasks/{wt['id']}/heartbeat", {"progress": "x"}, headers=holder)
    c.post(f"/work-queue-tasks/{wt['id']}/complete", {"result": {"fix": "PR 1"}}, headers=holder)
    wt = c.post(f"/work-queues/{queue['id']}/dequeue", {"agentId": "holder"}, headers=holder)
    c.post(f"/work-queue-tasks/{wt['id']}/fail", {"error": "cannot", "retryable": False}, headers=holder)
    c.post(f"/work-queues/{queue['id']}/steal", {"agentId": "holder"}, headers=holder)
    c.post(f"/work-queues/{queue['id']}/dequeue", {"agentId": "holder"}, headers=holder, status=204)
    c.post(f"/work-queues/{queue['id']}/steal", {"agentId": "holder"}, headers=holder, status=204)
    c.call("DELETE", f"/work-queues/{other['id']}?force=true")
    # agents and the tasks submitted to them
    c.post("/api/agents", {"id": "worker", "name": "Worker", "capabilities": ["x"]}, status=201)
    c.post("/api/agents", {"id": "spare", "name": "Spare"}, status=201)
    c.get("/api/agents")
    c.get("/api/agents/worker")
    c.call("PATCH", "/api/agents/spare", {"state": "paused", "state_reason": "maintenance"})
    submitted = c.post("/api/agents/worker/tasks", {"message": "summarise", "callback_mode": "poll"},
                       headers=MEMBER, status=202)
    at = submitted["task_id"]
    c.get("/api/agents/worker/tasks")
    claimed = c.post("/api/agent/tasks/claim-next", {}, headers=worker)["claim"]
    arun = claimed["run"]["id"]
    c.post(f"/api/agent/tasks/{arun}/awaiting-input", {"question": "Which region?"}, headers=worker)
    c.get(f"/api/agents/worker/tasks/{at}")
    c.post(f"/api/agents/worker/tasks/{at}/messages", {"message": "eu-west-1"}, headers=MEMBER)
    c.get(f"/api/agents/worker/tasks/{at}/messages")
    c.get(f"/api/agent/tasks/{arun}/messages", headers=worker)
    c.get(f"/api/agents/worker/tasks/{at}/deliveries")
    c.post(f"/api/agents/worker/tasks/{at}/cancel", {"reason": "not needed"}, headers=MEMBER)
    c.call("DELETE", "/api/agents/spare", status=204)
    # backlogs
    item = c.post("/api/backlogs/worker", {"title": "write posts", "priority": 3}, status=201)
    c.get("/api/backlogs")
    c.get("/api/backlogs/worker")
    c.get("/api/backlogs/worker/summary")
    c.get("/api/backlogs/worker/prefix")
    c.call("PUT", "/api/backlogs/worker/prefix", {"prefix": "WRK"})
    c.get(f"/api/backlogs/worker/{item['id']}")
    c.call("PATCH", f"/api/backlogs/worker/{item['id']}", {"status": "complete", "result": "posted"})
    c.call("DELETE", f"/api/backlogs/worker/{item['id']}")
    # scheduled tasks
    sched = c.post("/tasks", {"title": "nightly", "description": "d", "schedule_kind": "cron",
                              "schedule_expr": "0 3 * * *", "payload": {"queue": "nightly"},
                              "created_by": "00000000-0000-0000-0000-000000000001"}, status=201)
    c.get("/tasks")
    c.get(f"/tasks/{sched['id']}")
    c.call("PUT", f"/tasks/{sched['id']}", {"title": "nightly, renamed"})
    c.post(f"/tasks/{sched['id']}/snooze", {"delay_seconds": 60, "reason": "deploy"})
    c.post(f"/tasks/{sched['id']}/run_now", status=201)
    c.get(f"/tasks/{sched['id']}/runs")
    c.post(f"/tasks/{sched['id']}/pause")
    c.post(f"/tasks/{sched['id']}/resume")
    c.post(f"/tasks/{sched['id']}/cancel", {"reason": "retired"})
    c.post("/tasks", {"title": "on deploy", "description": "d", "schedule_kind": "event", "schedule_expr": "deploy.*",
                      "payload": {}, "created_by": "00000000-0000-0000-0000-000000000001"}, status=201)
    c.post("/events", {"type": "deploy.done", "payload": {"sha": "abc"}}, status=202)
    # API keys, budgets
    key = c.post("/api/keys", {"name": "ci", "sub": "ci-bot", "channels": ["ci"]}, status=201)
    c.get("/api/keys")
    c.call("DELETE", f"/api/keys/{key['id']}", status=204)
    budget = c.post("/api/budgets", {"scope": "agent", "ref": "holder", "period": "day", "max_tokens": 1000},
                    status=201)["budget"]
    c.get("/api/budgets")
    c.get(f"/api/budgets/{budget['id']}")
    c.call("PATCH", f"/api/budgets/{budget['id']}", {"max_tokens": 2000})
    c.call("DELETE", f"/api/budgets/{budget['id']}", status=204)


def test_answers_match_their_schema_exactly(api: Api, spec: dict[str, Any]) -> None:
    c = Checker(api, spec)
    scenario(c)
    assert not c.wrong, "answers that do not match their documented schema:\n" + "\n".join(c.wrong)
    missed = sorted({(m, p) for m, p, _ in operations(spec)} - c.reached)
    assert not missed, f"operations the scenario does not reach (add a step): {missed}"
