"""Request logs, request ids, HTTP metrics and /metrics.

One log line per request (``taskloom.request``): method, route template, status, duration,
actor ``kind:ref`` and request id. The id comes from ``X-Request-Id`` (when it is a sane
token) or is generated, and is echoed in the answer's ``X-Request-Id``. Paths, query
strings, headers and bodies are never logged: they may hold ids or secrets.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import time
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskloom.api.auth import credential, verify_credential
from taskloom.config import Settings
from taskloom.domain.actors import SYSTEM
from taskloom.engine import read_models as rm
from taskloom.engine.engine import Engine
from taskloom.engine.observe import observe_commits
from taskloom.metrics import CONTENT_TYPE, Metrics, metrics

log = logging.getLogger("taskloom.request")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Generated request ids: a random prefix per process and a counter, unique without a uuid4
# (an os.urandom call) per request.
_ID_PREFIX = os.urandom(6).hex()
_next_id = itertools.count(1)


class RequestLog:
    """Pure ASGI (no per-request task or body copy): times the request and logs it once done."""

    def __init__(self, app: ASGIApp, observed: Metrics | None):
        self.app = app
        self.metrics = observed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                candidate = value.decode("latin-1")
                if REQUEST_ID.match(candidate):
                    request_id = candidate
                break
        request_id = request_id or f"{_ID_PREFIX}{next(_next_id):012x}"
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - began
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            actor = (scope.get("state") or {}).get("actor")
            method = scope["method"]
            if self.metrics is not None:
                self.metrics.http(route, method, status, seconds)
            if log.isEnabledFor(logging.INFO):
                log.info("%s %s %d %.1fms", method, route, status, seconds * 1000, extra={"fields": {
                    "method": method, "route": route, "status": status, "ms": round(seconds * 1000, 2),
                    "actor": f"{actor.kind}:{actor.ref}" if actor is not None else "-", "request_id": request_id,
                }})


def install_observability(app: FastAPI, engine: Engine, settings: Settings) -> None:
    """Request logs and metrics for this app; /metrics (token unless TASKLOOM_METRICS_PUBLIC=1).
    TASKLOOM_METRICS=0 turns metrics off (no counting, no /metrics), e.g. to measure their cost."""
    if not settings.metrics_enabled:
        app.add_middleware(RequestLog, observed=None)
        return
    observed = metrics(settings.metrics_max_channels)
    observe_commits(engine, observed)
    app.add_middleware(RequestLog, observed=observed)

    async def prometheus(request: Request) -> Response:
        """Prometheus text format: run counters and timings, queue gauges read from the database at
        scrape time, webhook and schedule counters, HTTP counters by route template, usage totals.
        Needs a token or API key unless TASKLOOM_METRICS_PUBLIC=1 (401 otherwise)."""
        if not settings.metrics_public:
            request.state.actor = await verify_credential(request.app, credential(request.headers))
        snapshot: dict[str, Any] = await engine.read(
            SYSTEM, lambda tx, ctx: rm.metrics_snapshot(tx, ctx, settings.stuck_after_seconds))
        body = observed.render(snapshot, settings.stuck_after_seconds, settings.cost_currency)
        return Response(body, media_type=CONTENT_TYPE)

    app.add_api_route("/metrics", prometheus, methods=["GET"], tags=["health"], summary="Prometheus metrics",
                      response_class=Response,
                      responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                      "description": "Prometheus text format"}})
