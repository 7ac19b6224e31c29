"""Webhooks for agent tasks: a real loopback receiver that checks signatures, retries with
backoff, attempts on record, give-up, restart while pending, and the SSRF rule."""

from __future__ import annotations

import hashlib
import hmac
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from taskloom.clock import ManualClock
from taskloom.engine.webhooks import verify
from tests.api.test_agents import claim, register, status, submit
from tests.conftest import MEMBER, Api, ApiFactory, agent

SECRET = "receiver-secret-0123456789"


class Receiver:
    """A tiny HTTP server on loopback. ``codes`` are answered in order (then 200)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.codes: list[int] = []
        self.delay = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"headers": dict(self.headers), "body": body, "path": self.path})
                if receiver.delay:
                    time.sleep(receiver.delay)
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def payloads(self) -> list[dict[str, Any]]:
        return [orjson.loads(r["body"]) for r in self.requests]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def hook_api(make_api: ApiFactory, clock: ManualClock | None = None, **overrides: Any) -> Api:
    settings: dict[str, Any] = {"webhook_allowed_hosts": "127.0.0.1", "webhook_backoff_base_seconds": 10.0,
                                "webhook_timeout_seconds": 2.0}
    settings.update(overrides)
    return make_api(clock=clock or ManualClock(), services=False, **settings)


def check_signature(request: dict[str, Any], secret: str = SECRET) -> None:
    """The documented recipe, done by hand: HMAC-SHA256 over b"<t>." + raw body."""
    header = request["headers"]["X-Taskloom-Signature"]
    parts = dict(p.split("=", 1) for p in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"])
    assert abs(time.time() - int(parts["t"])) < 60
    assert request["headers"]["X-Taskloom-Timestamp"] == parts["t"]
    assert verify(secret, header, request["body"])
    assert not verify("wrong-secret-0123456789", header, request["body"])
    assert not verify(secret, header, request["body"] + b" ")


def web_submit(api: Api, receiver: Receiver, **body: Any) -> dict[str, Any]:
    return submit(api, callback_mode="webhook", webhook_url=receiver.url, webhook_secret=SECRET, **body)


def deliveries(api: Api, task_id: str) -> list[dict[str, Any]]:
    r = api.get(f"/api/agents/bot/tasks/{task_id}/deliveries", headers=MEMBER)
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def test_completed_delivery_is_signed_and_recorded(make_api: ApiFactory, receiver: Receiver) -> None:
    api = hook_api(make_api)
    register(api, "bot")
    t = web_submit(api, receiver, metadata={"ticket": 9})
    assert t["callback_mode"] == "webhook" and t["webhook_url"] == receiver.url and "webhook_secret" not in t
    c = claim(api)
    assert c is not None
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": {"answer": 42}}, headers=agent("bot"))
    # Written in the same transaction as the completion: pending before the sender runs.
    [pending] = deliveries(api, t["task_id"])
    assert pending["status"] == "pending" and pending["attempts"] == [] and receiver.requests == []
    api.run_services_once()
    [req] = receiver.requests
    check_signature(req)
    assert req["headers"]["Content-Type"] == "application/json" and req["path"] == "/hook"
    body = orjson.loads(req["body"])
    assert body["event"] == "task.completed" and body["status"] == "completed"
    assert body["task_id"] == t["task_id"] and body["agent_id"] == "bot" and body["result"] == {"answer": 42}
    assert body["error"] is None and body["metadata"] == {"ticket": 9}
    assert body["created_at"] and body["started_at"] and body["completed_at"]
    assert req["headers"]["X-Taskloom-Delivery"] == body["delivery_id"] == pending["id"]
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "delivered" and d["attempt_count"] == 1 and d["last_status_code"] == 200
    assert d["attempts"][0]["outcome"] == "delivered" and d["attempts"][0]["status_code"] == 200
    api.run_services_once()
    assert len(receiver.requests) == 1  # delivered once, not again


def test_awaiting_input_failed_and_cancelled_are_delivered(make_api: ApiFactory, receiver: Receiver) -> None:
    api = hook_api(make_api)
    register(api, "bot")
    asked = web_submit(api, receiver, priority=1)
    c = claim(api)
    assert c is not None and c["task"]["id"] == asked["task_id"]
    api.post(f"/api/agent/tasks/{c['run']['id']}/awaiting-input", {"question": "Which one?"}, headers=agent("bot"))
    api.run_services_once()
    body = receiver.payloads()[-1]
    assert body["event"] == "task.awaiting_input" and body["question"] == "Which one?"
    assert body["completed_at"] is None
    api.post(f"/api/agents/bot/tasks/{asked['task_id']}/messages", {"message": "the blue one"}, headers=MEMBER)
    api.post(f"/api/agent/tasks/{c['run']['id']}/fail", {"error": "out of stock"}, headers=agent("bot"))
    api.run_services_once()
    body = receiver.payloads()[-1]
    assert body["event"] == "task.failed" and body["error"] == "out of stock" and body["result"] is None
    dropped = web_submit(api, receiver)
    api.post(f"/api/agents/bot/tasks/{dropped['task_id']}/cancel", {"reason": "not needed"}, headers=MEMBER)
    api.run_services_once()
    body = receiver.payloads()[-1]
    assert body["event"] == "task.cancelled" and body["status"] == "cancelled" and body["error"] == "not needed"
    for req in receiver.requests:
        check_signature(req)
    assert [p["status"] for p in receiver.payloads()] == ["awaiting_input", "failed", "cancelled"]
    # A poll-mode task never calls anyone.
    polled = submit(api, priority=1)
    api.post(f"/api/agents/bot/tasks/{polled['task_id']}/cancel", headers=MEMBER)
    api.run_services_once()
    assert len(receiver.requests) == 3 and deliveries(api, polled["task_id"]) == []


def test_generated_secret_is_shown_once_and_signs(make_api: ApiFactory, receiver: Receiver) -> None:
    api = hook_api(make_api)
    register(api, "bot")
    t = submit(api, callback_mode="webhook", webhook_url=receiver.url)
    secret = t["webhook_secret"]
    assert secret.startswith("whsec_")
    assert "webhook_secret" not in status(api, t["task_id"])
    api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", headers=MEMBER)
    api.run_services_once()
    check_signature(receiver.requests[0], secret)


def test_retry_with_exponential_backoff(make_api: ApiFactory, receiver: Receiver) -> None:
    clock = ManualClock()
    api = hook_api(make_api, clock)
    register(api, "bot")
    receiver.codes = [500, 503]
    t = web_submit(api, receiver)
    api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", headers=MEMBER)
    start = clock.now()
    api.run_services_once()
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "pending" and d["last_status_code"] == 500 and d["last_error"] == "HTTP 500"
    first = d["attempts"][0]
    assert first["outcome"] == "retry" and first["status_code"] == 500
    gap1 = _ts(d["next_attempt_at"]) - start
    assert 5 - 0.01 <= gap1 <= 10 + 0.01  # base 10 s, equal jitter: [base/2, base]
    api.run_services_once()
    assert len(receiver.requests) == 1  # not due yet
    clock.advance(10)
    api.run_services_once()
    [d] = deliveries(api, t["task_id"])
    gap2 = _ts(d["next_attempt_at"]) - clock.now()
    assert 10 - 0.01 <= gap2 <= 20 + 0.01 and d["attempt_count"] == 2
    clock.advance(20)
    api.run_services_once()
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "delivered" and [a["outcome"] for a in d["attempts"]] == ["retry", "retry", "delivered"]
    assert [a["status_code"] for a in d["attempts"]] == [500, 503, 200]
    assert len({orjson.loads(r["body"])["delivery_id"] for r in receiver.requests}) == 1  # same body each time
    for req in receiver.requests:
        check_signature(req)


def test_timeout_is_retried_and_period_gives_up(make_api: ApiFactory, receiver: Receiver) -> None:
    clock = ManualClock()
    api = hook_api(make_api, clock, webhook_timeout_seconds=0.3, webhook_retry_period_seconds=15.0)
    register(api, "bot")
    receiver.delay = 1.0
    t = web_submit(api, receiver)
    api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", headers=MEMBER)
    api.run_services_once()
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "pending" and "timeout" in d["last_error"] and d["last_status_code"] is None
    clock.advance(10)
    api.run_services_once()  # the next delay (>= 10 s) would pass the 15 s period: give up
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "failed" and d["next_attempt_at"] is None
    assert [a["outcome"] for a in d["attempts"]] == ["retry", "gave_up"]
    clock.advance(100)
    api.run_services_once()
    assert len(receiver.requests) == 2


def test_connection_refused_is_an_attempt(make_api: ApiFactory) -> None:
    api = hook_api(make_api)
    register(api, "bot")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t = submit(api, callback_mode="webhook", webhook_url=f"http://127.0.0.1:{port}/h", webhook_secret=SECRET)
    api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", headers=MEMBER)
    api.run_services_once()
    [d] = deliveries(api, t["task_id"])
    assert d["status"] == "pending" and d["attempts"][0]["outcome"] == "retry" and d["last_error"]
    assert d["attempts"][0]["status_code"] is None


def test_restart_while_a_delivery_is_pending(make_api: ApiFactory, receiver: Receiver) -> None:
    first_clock = ManualClock()
    api = hook_api(make_api, first_clock)
    register(api, "bot")
    receiver.codes = [503]
    t = web_submit(api, receiver)
    c = claim(api)
    assert c is not None
    api.post(f"/api/agent/tasks/{c['run']['id']}/complete", {"result": "done"}, headers=agent("bot"))
    api.run_services_once()
    assert deliveries(api, t["task_id"])[0]["status"] == "pending"
    api.client.__exit__(None, None, None)  # the server stops with the delivery pending
    # A new server on the same database picks it up when it is due.
    second = hook_api(make_api, ManualClock(first_clock.now() + 60))
    second.run_services_once()
    [d] = deliveries(second, t["task_id"])
    assert d["status"] == "delivered" and [a["status_code"] for a in d["attempts"]] == [503, 200]
    assert len(receiver.requests) == 2 and receiver.payloads()[1]["result"] == "done"
    check_signature(receiver.requests[1])


def test_background_sender_delivers_on_its_own(make_api: ApiFactory, receiver: Receiver) -> None:
    api = make_api(webhook_allowed_hosts="127.0.0.1", webhook_poll_seconds=0.05)
    register(api, "bot")
    t = web_submit(api, receiver)
    api.post(f"/api/agents/bot/tasks/{t['task_id']}/cancel", headers=MEMBER)
    deadline = time.monotonic() + 10
    while not receiver.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.payloads()[0]["status"] == "cancelled"
    check_signature(receiver.requests[0])


PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/hook", "http://192.168.0.10/x",
    "http://172.16.5.5/x", "http://169.254.169.254/latest/meta-data", "http://[::1]/hook", "http://0.0.0.0/",
    "http://[fe80::1]/x", "http://[::ffff:127.0.0.1]/x", "http://100.64.0.1/x",
]


def test_private_urls_are_refused_unless_allowed(make_api: ApiFactory) -> None:
    api = make_api(clock=ManualClock(), services=False)
    register(api, "bot")
    for url in PRIVATE_URLS:
        r = api.post("/api/agents/bot/tasks", {"message": "x", "callback_mode": "webhook", "webhook_url": url},
                     headers=MEMBER)
        assert r.status_code == 400, (url, r.text)
        assert "webhook_url refused" in r.json()["error"], url
        assert "TASKLOOM_WEBHOOK_ALLOWED_HOSTS" in r.json()["error"], url
    assert api.get("/api/agents/bot/tasks").json()["tasks"] == []
    # An admin's list lets chosen receivers through (the tests' own receivers rely on it).
    allowed = make_api(clock=ManualClock(), services=False,
                       webhook_allowed_hosts="localhost,127.0.0.0/8,10.1.2.3,192.168.0.0/16,172.16.0.0/12,::1,"
                                             "169.254.169.254,0.0.0.0,fe80::/10,::ffff:127.0.0.1,100.64.0.0/10")
    for url in PRIVATE_URLS:
        r = allowed.post("/api/agents/bot/tasks", {"message": "x", "callback_mode": "webhook", "webhook_url": url},
                         headers=MEMBER)
        assert r.status_code == 202, (url, r.text)


def test_url_shape_and_public_address(manual_api: Api) -> None:
    api = manual_api
    register(api, "bot")
    for url, word in [("ftp://93.184.216.34/x", "http"), ("not a url", "http"), ("http:///x", "host"),
                      ("https://user:pw@93.184.216.34/x", "credentials"), ("http://93.184.216.34:99999/", "URL")]:
        r = api.post("/api/agents/bot/tasks", {"message": "x", "callback_mode": "webhook", "webhook_url": url},
                     headers=MEMBER)
        assert r.status_code == 400 and word in r.json()["error"], (url, r.text)
    r = api.post("/api/agents/bot/tasks", {"message": "x", "callback_mode": "webhook",
                                           "webhook_url": "https://93.184.216.34/hook"}, headers=MEMBER)
    assert r.status_code == 202, r.text
    r = api.post("/api/agents/bot/tasks", {"message": "x", "callback_mode": "webhook",
                                           "webhook_url": "https://93.184.216.34/hook", "webhook_secret": "short"},
                 headers=MEMBER)
    assert r.status_code == 400 and "webhook_secret" in r.json()["error"]


def test_allow_private_setting_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from taskloom.config import Settings

    monkeypatch.setenv("TASKLOOM_WEBHOOK_ALLOW_PRIVATE", "1")
    monkeypatch.setenv("TASKLOOM_WEBHOOK_RETRY_PERIOD_SECONDS", "120")
    settings = Settings.from_env()
    assert settings.webhook_allow_private and settings.webhook_retry_period_seconds == 120
    monkeypatch.setenv("TASKLOOM_WEBHOOK_ALLOW_PRIVATE", "")
    assert not Settings.from_env().webhook_allow_private


def _ts(text: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
