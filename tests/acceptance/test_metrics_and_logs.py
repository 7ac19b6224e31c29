"""/metrics and the logs of a real server: counts match the work done (parsed with
prometheus-client's parser), labels hold route templates and capped channels but no ids,
counters add up across `serve --workers 2`; log lines are JSON with request ids, and no
token, key or claim token ever appears in them."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.acceptance import server


def scrape(base_url: str, headers: dict[str, str]) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(base_url + "/metrics", headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(r.text) for s in family.samples}


def work(http: httpx.Client, srv: server.Server, channel: str, outcome: str) -> None:
    """One task on ``channel`` claimed by an agent and then completed or failed."""
    assert http.post("/api/tasks", json={"title": "t", "network_channel": channel}).status_code == 201
    agent = srv.auth("agent-1", kind="agent_session", role="agent")
    claim = http.post("/api/agent/tasks/claim-next", json={"network_channel": channel}, headers=agent).json()["claim"]
    path = f"/api/agent/tasks/{claim['run']['id']}/{outcome}"
    body = {"claim_token": claim["claim_token"]}
    if outcome == "fail":
        body.update(error="boom", retryable=False)
    assert http.post(path, json=body, headers=agent).status_code == 200


def test_metrics_count_the_work_and_logs_are_json_without_secrets(tmp_path: Any) -> None:
    srv = server.start(f"sqlite:///{tmp_path}/db/taskloom.db", env={
        "TASKLOOM_LOG_FORMAT": "json", "TASKLOOM_METRICS_MAX_CHANNELS": "2", "TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.2"})
    try:
        admin = srv.auth("root")
        with httpx.Client(base_url=srv.base_url, headers=admin, timeout=30) as http:
            assert httpx.get(srv.base_url + "/metrics").status_code == 401
            work(http, srv, "ops", "complete")
            work(http, srv, "ops", "complete")
            work(http, srv, "ml", "fail")
            work(http, srv, "web", "complete")  # a third channel: past the cap of 2
            queued = http.post("/api/tasks", json={"title": "waiting", "network_channel": "ml"}).json()["task"]
            # A lease that lapses: the rescuer takes the run back (a background log line).
            http.post("/api/tasks", json={"title": "lapse", "network_channel": "lapse", "max_attempts": 1})
            agent = srv.auth("agent-2", kind="agent_session", role="agent")
            lapsed = http.post("/api/agent/tasks/claim-next", json={"network_channel": "lapse", "lease_seconds": 1},
                               headers=agent).json()["claim"]
            key = http.post("/api/keys", json={"name": "k", "sub": "svc", "role": "member"}).json()["key"]
            r = httpx.get(srv.base_url + f"/api/tasks/{queued['id']}", headers={"X-API-Key": key,
                                                                                 "X-Request-Id": "req-123"})
            assert r.status_code == 200 and r.headers["x-request-id"] == "req-123"
            generated = http.get("/api/tasks").headers["x-request-id"]
            assert len(generated) >= 16
            assert len({http.get("/healthz").headers["x-request-id"] for _ in range(20)} | {generated}) == 21
            assert http.get("/api/tasks", headers={"Authorization": "Bearer not-a-token"}).status_code == 401
            time.sleep(2.0)  # the lapsed lease is taken back
            m = scrape(srv.base_url, admin)
        # Counters: channels ops and ml keep their names (the first two), web and lapse fold into other.
        assert m[("taskloom_runs_claimed_total", (("channel", "ops"),))] == 2
        assert m[("taskloom_runs_claimed_total", (("channel", "ml"),))] == 1
        assert m[("taskloom_runs_claimed_total", (("channel", "other"),))] == 2
        assert m[("taskloom_runs_finished_total", (("channel", "ops"), ("outcome", "completed")))] == 2
        assert m[("taskloom_runs_finished_total", (("channel", "ml"), ("outcome", "failed")))] == 1
        assert m[("taskloom_runs_finished_total", (("channel", "other"), ("outcome", "lease_expired")))] == 1
        assert m[("taskloom_run_queue_wait_seconds_count", ())] == 5
        assert m[("taskloom_run_duration_seconds_count", ())] == 5
        # Gauges, from the database at scrape time.
        assert m[("taskloom_queue_depth", (("channel", "ml"),))] == 1
        assert m[("taskloom_runs_stuck", ())] == 0
        assert m[("taskloom_approvals_pending", ())] == 0
        assert ("taskloom_usage_tokens_total", (("direction", "input"),)) in m
        # HTTP: route templates, never paths with ids.
        assert m[("taskloom_http_requests_total", (("method", "POST"), ("route", "/api/tasks"), ("status", "201")))] == 6
        assert m[("taskloom_http_requests_total", (("method", "GET"), ("route", "/api/tasks/{task_id}"),
                                                  ("status", "200")))] == 1
        labels = " ".join(v for _, ls in m for _, v in ls)
        for an_id in (queued["id"], lapsed["run"]["id"], lapsed["task"]["id"], "agent-1", "agent-2"):
            assert an_id not in labels
        # Logs: every line JSON; one per request with the fields; the background take-back; no secrets.
        time.sleep(0.3)
    finally:
        srv.stop()
    text = open(srv.log_path).read()
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [ln for ln in lines if ln["logger"] == "taskloom.request"]
    mine = [ln for ln in requests if ln["request_id"] == "req-123"]
    assert len(mine) == 1
    assert {k: mine[0][k] for k in ("method", "route", "status", "actor")} == {
        "method": "GET", "route": "/api/tasks/{task_id}", "status": 200, "actor": "human:svc"}
    assert isinstance(mine[0]["ms"], float | int)
    assert any(ln.get("action") == "run.taken_back" and ln["run_id"] == lapsed["run"]["id"] for ln in lines)
    for secret in (key, admin["Authorization"].split()[1], agent["Authorization"].split()[1], lapsed["claim_token"],
                   "not-a-token"):
        assert secret not in text
    non_json = [line for line in text.splitlines() if line and not line.startswith("{")]
    assert all(line.startswith(("Taskloom on", "Dashboard:")) for line in non_json), non_json


def test_counters_add_up_across_workers(tmp_path: Any) -> None:
    base = os.environ.get("TASKLOOM_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("needs TASKLOOM_TEST_POSTGRES_URL")
    with server.fresh_postgres(base) as url:
        srv = server.start(url, extra_args=["--workers", "2"], env={"TASKLOOM_METRICS_PUBLIC": "1"})
        try:
            with httpx.Client(base_url=srv.base_url, headers=srv.auth("root"), timeout=30) as http:
                for _ in range(6):
                    work(http, srv, "ops", "complete")
            # Whichever worker answers, the totals are the same (new connections spread the scrapes).
            for _ in range(4):
                m = scrape(srv.base_url, {})
                assert m[("taskloom_runs_claimed_total", (("channel", "ops"),))] == 6
                assert m[("taskloom_runs_finished_total", (("channel", "ops"), ("outcome", "completed")))] == 6
        finally:
            srv.stop()
