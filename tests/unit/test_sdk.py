"""The SDK's own logic without a server: light imports, retry decisions, Retry-After."""

from __future__ import annotations

import subprocess
import sys
import time
from email.utils import formatdate

import httpx
import pytest

from taskloom.sdk import Client, ServerUnreachable, TaskloomError
from taskloom.sdk.calls import Call, RetryPolicy, retry_after

SERVER_MODULES = ("fastapi", "starlette", "uvicorn", "psycopg", "psycopg_pool", "pydantic", "jwt", "typer", "orjson")


def test_importing_the_sdk_does_not_import_the_server() -> None:
    code = ("import sys, taskloom.sdk; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_MODULES!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=0.2, cap=5.0)
    for attempt, top in ((0, 0.2), (3, 1.6), (10, 5.0)):
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(top / 2 <= d <= top for d in delays) and len(set(delays)) > 100
    assert policy.delay(4, retry_after=7.5) == 7.5
    assert retry_after("3") == 3.0 and retry_after(None) is None and retry_after("soon") is None
    assert 8 < (retry_after(formatdate(time.time() + 10, usegmt=True)) or 0) <= 10


def _client(answers: list[int | Exception], seen: list[str], headers: dict[str, str] | None = None) -> Client:
    def reply(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, json={"error": "busy"} if answer >= 400 else {"ok": True}, headers=headers)

    client = Client("http://taskloom.test", "t", retry_for=5)
    client.retry = RetryPolicy(budget=5, base=0.01, cap=0.02)
    client.http = httpx.Client(base_url=client.url, transport=httpx.MockTransport(reply))
    return client


def test_safe_calls_retry_502_503_504_and_connection_errors() -> None:
    seen: list[str] = []
    client = _client([502, 503, 504, httpx.ConnectError("refused"), httpx.ReadError("lost"), 200], seen)
    assert client.send(Call("POST", "/x", {"a": 1})) == {"ok": True}
    assert len(seen) == 6


def test_unsafe_calls_retry_only_what_surely_did_not_arrive() -> None:
    seen: list[str] = []
    client = _client([httpx.ConnectError("refused"), 429, 503], seen)
    with pytest.raises(TaskloomError) as info:
        client.send(Call("POST", "/api/tasks", {}, safe=False))
    assert info.value.status == 503 and len(seen) == 3, "a 503 may have been applied: not re-sent"
    client = _client([httpx.ReadError("lost after sending")], [])
    with pytest.raises(ServerUnreachable):
        client.send(Call("POST", "/api/tasks", {}, safe=False))


def test_429_waits_for_retry_after() -> None:
    seen: list[str] = []
    client = _client([429, 200], seen, headers={"Retry-After": "0.3"})
    started = time.monotonic()
    client.send(Call("GET", "/x"))
    assert time.monotonic() - started >= 0.3 and len(seen) == 2


def test_gives_up_after_the_budget_with_a_one_line_message() -> None:
    client = _client([httpx.ConnectError("refused")] * 1000, [])
    client.retry = RetryPolicy(budget=0.2, base=0.01, cap=0.05)
    with pytest.raises(ServerUnreachable) as info:
        client.send(Call("GET", "/x"))
    assert info.value.message.startswith("cannot reach http://taskloom.test: is the server running?")


def test_client_reads_its_configuration_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKLOOM_URL", "http://example.test:9/")
    monkeypatch.setenv("TASKLOOM_TOKEN", "tok")
    client = Client()
    assert client.url == "http://example.test:9" and client.http.headers["Authorization"] == "Bearer tok"
    monkeypatch.delenv("TASKLOOM_TOKEN")
    with pytest.raises(ValueError, match="TASKLOOM_TOKEN"):
        Client()
