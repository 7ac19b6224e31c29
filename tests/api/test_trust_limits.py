"""Limits that hold (issue 13: D9, D11, numbers, string bounds, per-caller rate limit)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from taskloom.api.limits import json_number_problem
from taskloom.engine import rate_limit as rate_ops
from tests.acceptance.server import Server, start
from tests.conftest import ADMIN, Api, ApiFactory, agent, auth
from tests.harness import Harness


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("limits")
    srv = start(f"sqlite:///{folder}/taskloom.db", env={"TASKLOOM_MAX_BODY_BYTES": "1000"})
    yield srv
    srv.stop()


def _raw(srv: Server, head: bytes, parts: list[bytes]) -> bytes:
    """Send a request by hand (the body in ``parts``, unfinished) and read the answer."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(head)
        for part in parts:
            s.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            data = s.recv(65536)
            if not data:
                break
            answer += data
        return answer


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def test_d9_chunked_body_over_the_limit_is_413_before_it_ends(small_limit_server: Server) -> None:
    """Two 800-byte chunks and no end: the server answers 413 without waiting for the rest."""
    srv = small_limit_server
    token = srv.token("root").encode()
    head = (b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nAuthorization: Bearer " + token + b"\r\n\r\n")
    chunk = b"320\r\n" + b" " * 800 + b"\r\n"
    answer = _raw(srv, head, [chunk, chunk])
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"error"' in answer


def test_declared_length_over_the_limit_is_413_unread(small_limit_server: Server) -> None:
    srv = small_limit_server
    head = (b"POST /api/tasks HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n"
            b"Authorization: Bearer " + srv.token("root").encode() + b"\r\n\r\n")
    assert _raw(srv, head, [b"{"]).startswith(b"HTTP/1.1 413")


def test_d9_chunked_over_the_limit_in_process(api: Api) -> None:
    def body() -> Iterator[bytes]:
        for _ in range(12):
            yield b" " * 100_000

    r = api.client.post("/api/tasks", content=body(), headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 413, r.text


@pytest.mark.parametrize("raw, word", [
    ('{"title": "t", "metadata": {"x": 1e400}}', "1e400"),
    ('{"title": "t", "metadata": {"x": -1e400}}', "1e400"),
    ('{"title": "t", "metadata": {"x": NaN}}', "NaN"),
    ('{"title": "t", "metadata": {"x": Infinity}}', "Infinity"),
    ('{"title": "t", "metadata": {"x": 18446744073709551616}}', "64 bits"),
    ('{"title": "t", "metadata": {"x": -9223372036854775809}}', "64 bits"),
    ('{"title": "t", "metadata": {"x": ' + "9" * 5000 + "}}", "64 bits"),
])
def test_d11_numbers_that_do_not_fit_are_400(api: Api, raw: str, word: str) -> None:
    r = api.client.post("/api/tasks", content=raw, headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert word in r.json()["error"]
    assert api.get("/api/tasks").json()["tasks"] == []


def test_numbers_that_fit_pass() -> None:
    assert json_number_problem(b'{"a": 1.5e300, "b": -9223372036854775808, "c": 18446744073709551615}') is None
    assert json_number_problem(b"not json") is None  # the route reports malformed JSON


@pytest.mark.parametrize("path", ["/api/tasks", "/api/tasks/batch", "/api/agent/tasks/claim-next", "/tasks", "/mcp"])
@pytest.mark.parametrize("body", [b"[" * 100_000, b"[" * 50_000 + b"]" * 50_000,
                                  b'{"title": "t", "metadata": ' + b"[" * 129 + b"]" * 129 + b"}"])
def test_json_nested_too_deep_is_400_not_500(api: Api, path: str, body: bytes) -> None:
    # Python's JSON parser overflows its stack (RecursionError) on deep nesting: that was a 500.
    r = api.client.post(path, content=body, headers={**ADMIN, "Content-Type": "application/json",
                                                     "Accept": "application/json, text/event-stream"})
    assert r.status_code == 400, r.text
    assert "nested more than 128 deep" in r.json()["error"]
    assert api.get("/api/tasks").json()["tasks"] == []


def test_json_nested_to_the_limit_is_taken(api: Api) -> None:
    # 128 deep, counting the body's own object: body, metadata, then 126 arrays.
    body = b'{"title": "deep", "metadata": {"a": ' + b"[" * 126 + b"1" + b"]" * 126 + b"}}"
    r = api.client.post("/api/tasks", content=body, headers={**ADMIN, "Content-Type": "application/json"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("raw", [
    b'{"a": 1, "b": [1.5, -0.0, 2e10, true, null], "c": {"d": "\u00e9\ud83d\ude00 x"}}',
    b'  {"dup": 1, "dup": 2}  ', b'[18446744073709551615, -9223372036854775808, 1.2345678901234567890123]',
    b'"\u0000"', b"0.30000000000000004", b'\xef\xbb\xbf{"bom": 1}', '{"é": "ü"}'.encode("utf-16"),
])
def test_the_guard_parses_as_the_standard_library_does(raw: bytes) -> None:
    # The fast path takes the guard's parse (orjson unless a number may not fit in 64 bits) in place
    # of FastAPI's (the standard library's): the two must agree on every body the guard lets through.
    import json

    from taskloom.api.limits import parse_json_body

    problem, value = parse_json_body(raw)
    assert problem is None
    assert value == json.loads(raw) and repr(value) == repr(json.loads(raw))


@pytest.mark.parametrize("path, body", [
    ("/api/tasks", {"title": "t", "max_attempts": True}),
    ("/api/tasks", {"title": "t", "backoff_seconds": False}),
    ("/tasks", {"title": "t", "description": "d", "schedule_kind": "cron", "schedule_expr": "* * * * *",
                "payload": {}, "created_by": "00000000-0000-0000-0000-000000000001", "priority": True}),
    ("/api/backlogs/bot", {"title": "t", "priority": True}),
])
def test_d11_booleans_are_not_numbers(api: Api, path: str, body: dict[str, Any]) -> None:
    r = api.post(path, body)
    assert r.status_code == 400, r.text
    assert "boolean" in r.json()["error"] or "integer" in r.json()["error"]


@pytest.mark.parametrize("field, value", [
    ("parent_task_id", "p" * 201), ("required_capabilities", ["c" * 201]), ("title", "t" * 501),
])
def test_string_fields_are_bounded(api: Api, field: str, value: Any) -> None:
    r = api.post("/api/tasks", {"title": "t", field: value})
    assert r.status_code == 400, r.text
    assert field in r.json()["error"]


def test_rate_limit_is_off_by_default_and_429_with_retry_after(make_api: ApiFactory) -> None:
    api = make_api(services=False)
    for _ in range(40):
        assert api.get("/api/tasks").status_code == 200
    limited = make_api(services=False, rate_limit_per_second=0.01, rate_limit_burst=3)  # no refill during the test
    runaway, calm = agent("runaway"), auth("calm", role="admin")
    codes = [limited.get("/api/tasks", headers=runaway).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    r = limited.get("/api/tasks", headers=runaway)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1 and "rate limit" in r.json()["error"]
    assert limited.get("/api/tasks", headers=calm).status_code == 200  # another caller is not starved
    assert limited.client.get("/healthz").status_code == 200


def test_token_bucket_refills(harness: Harness) -> None:
    """The bucket is a row of the database (shared by every process): 2 per second, burst 2."""
    def take(caller: str = "a") -> float:
        return harness.write(lambda tx, ctx: rate_ops.take(tx, ctx, caller, 2.0, 2.0))

    assert take() == 0 and take() == 0
    assert take() == pytest.approx(0.5)
    assert take("b") == 0  # another caller, its own bucket
    harness.clock.advance(0.5)
    assert take() == 0  # half a second later one token is back
    assert take() == pytest.approx(0.5)
    harness.clock.advance(3600)
    assert harness.write(lambda tx, ctx: rate_ops.take(tx, ctx, "c", 2.0, 2.0, purge=True)) == 0
    assert take() == 0 and take() == 0 and take() > 0  # purged when full: the burst again, never more