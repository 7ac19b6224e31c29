"""Limits every request meets before a route sees it: body size, JSON numbers, callers' rates.

- A body over ``TASKLOOM_MAX_BODY_BYTES`` is a 413, whether it declares a Content-Length
  or comes chunked; nothing past the limit is read.
- JSON numbers a database cannot keep are a 400 naming them: ``1e400`` (infinite),
  ``NaN``/``Infinity``, integers outside 64 bits. (Python would take them and store ``null``.)
  So is JSON nested more than ``MAX_JSON_DEPTH`` (128) arrays and objects deep (Python's parser
  would overflow its stack: a 500). The parsed body is handed on, so the fast path does not parse it again.
- A per-caller token bucket (``TASKLOOM_RATE_LIMIT_PER_SECOND``, ``TASKLOOM_RATE_LIMIT_BURST``,
  off by default): a caller (one bearer token or API key) over its rate gets 429 with
  ``Retry-After``, so a runaway agent cannot starve the others. The buckets are rows of the
  database (engine/rate_limit.py), so the limit holds across every process that serves it
  (``--workers N``, several machines on one PostgreSQL).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskloom.api.deps import JSONResponse
from taskloom.domain.actors import SYSTEM
from taskloom.domain.errors import TaskloomError
from taskloom.engine import rate_limit as rate_ops
from taskloom.engine.engine import Engine

INT_MIN, INT_MAX = -(2**63), 2**64 - 1  # what orjson and the databases' JSON can keep
UNLIMITED_PATHS = ("/healthz", "/readyz")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


class _BadNumber(ValueError):
    pass


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadNumber(f"the JSON number {text[:40]} is out of range (it would be infinite)")
    return value


def _int(text: str) -> int:
    if len(text) > 21:
        raise _BadNumber(f"the JSON integer {text[:24]}... does not fit in 64 bits")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise _BadNumber(f"the JSON integer {text} does not fit in 64 bits")
    return value


def _constant(text: str) -> Any:
    raise _BadNumber(f"{text} is not a JSON number")


MAX_JSON_DEPTH = 128  # arrays and objects within each other; deeper is refused (Python's parser would overflow)
_LONG_DIGITS = re.compile(rb"[0-9]{19}")  # a number that may not fit in 64 bits (orjson makes it a float)
PARSED_BODY = "taskloom.json_body"  # scope key: (body, value) once the guard has parsed a JSON body
_UNPARSED = object()


def parse_json_body(body: bytes) -> tuple[str | None, Any]:
    """``(problem, value)``: why the JSON ``body`` cannot be taken (a number we cannot keep,
    nesting deeper than MAX_JSON_DEPTH), or its parsed value. Malformed JSON is neither: the
    route reports it (value ``_UNPARSED``).

    orjson parses (several times faster than the standard library) unless the body holds a run
    of 19 digits; it refuses NaN, Infinity and 1e400 itself. Whatever it refuses, and the long
    numbers, go to the standard parser with exact checks, which words the problem."""
    value: Any = _UNPARSED
    if not _LONG_DIGITS.search(body):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
    if value is _UNPARSED:
        try:
            value = json.loads(body, parse_float=_float, parse_int=_int, parse_constant=_constant)
        except _BadNumber as exc:
            return str(exc), _UNPARSED
        except RecursionError:
            return f"arrays and objects nested more than {MAX_JSON_DEPTH} deep", _UNPARSED
        except ValueError:
            return None, _UNPARSED
    if (body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH) and _deeper_than(value, MAX_JSON_DEPTH):
        return f"arrays and objects nested more than {MAX_JSON_DEPTH} deep", _UNPARSED
    return None, value


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def json_number_problem(body: bytes) -> str | None:
    """Why the JSON ``body`` cannot be taken, or None (malformed JSON is the route's to report)."""
    return parse_json_body(body)[0]


class RequestGuard:
    """Body limit and JSON number check, as ASGI middleware: reads the body (up to the limit)
    before the app, then replays it."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._too_large(scope, receive, send)
            return
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.limit:  # stop here: the rest is never read
                await self._too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")
        if body and b"json" in headers.get(b"content-type", b"json"):
            problem, value = parse_json_body(body)
            if problem:
                await _error(400, f"invalid JSON value: {problem}")(scope, receive, send)
                return
            if value is not _UNPARSED:
                scope[PARSED_BODY] = (body, value)  # the fast path takes it instead of parsing again
        replay = iter([{"type": "http.request", "body": body, "more_body": False}]) if messages[-1][
            "type"] == "http.request" else iter(messages)

        async def replayed() -> Message:
            for message in replay:
                return message
            return await receive()

        await self.app(scope, replayed, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _error(413, f"request body too large: limit is {self.limit} bytes")(scope, receive, send)


class RateLimit:
    """A token bucket per caller (the bearer token or API key as sent; anonymous calls share one),
    kept in the database: one guarded upsert per request, in the engine's write path."""

    def __init__(self, app: ASGIApp, engine: Engine, per_second: float, burst: float):
        self.app = app
        self.engine = engine
        self.rate = per_second
        self.burst = max(burst, 1.0)
        self._takes = 0

    def _caller(self, scope: Scope) -> str:
        for name, value in scope.get("headers", ()):
            if name in (b"authorization", b"x-api-key"):
                return hashlib.sha256(value).hexdigest()
        return "anonymous"

    async def wait(self, caller: str) -> float:
        """0 if the call may go ahead, else the seconds until it could."""
        self._takes += 1
        purge = self._takes % rate_ops.PURGE_EVERY == 1
        return await self.engine.write(SYSTEM, lambda tx, ctx: rate_ops.take(
            tx, ctx, caller, self.rate, self.burst, purge=purge), origin="daemon", name="rate_limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNLIMITED_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            wait = await self.wait(self._caller(scope))
        except TaskloomError as exc:  # e.g. the database is unavailable: the same answer a route gives
            await _error(exc.status_code, exc.message)(scope, receive, send)
            return
        if wait > 0:
            retry_after = str(max(1, math.ceil(wait)))
            await _error(429, f"rate limit: at most {self.rate:g} requests per second per caller (burst"
                              f" {self.burst:g}); retry after {retry_after} s",
                         {"Retry-After": retry_after})(scope, receive, send)
            return
        await self.app(scope, receive, send)
