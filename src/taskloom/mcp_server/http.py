"""``/mcp`` in the Taskloom app, built on its first request.

Importing the MCP SDK costs about a second of CPU; every ``taskloom serve`` start (each
``--workers`` process) would pay it before answering anything. So the route is mounted at
once and the server behind it (server.py) is imported and started when /mcp is first called.
The SDK's session manager runs in a task of the app's own lifespan (a mounted sub-app's
lifespan never runs), entered and left in that one task.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

PATH = "/mcp"
log = logging.getLogger("taskloom.mcp")


class LazyEndpoint:
    def __init__(self, app: Any, engine: Any, settings: Any):
        self.app, self.engine, self.settings = app, engine, settings
        self._asgi: ASGIApp | None = None
        self._wanted = asyncio.Event()
        self._ready = asyncio.Event()
        self._stop = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Enter in the app's lifespan: serves /mcp until the app stops."""
        runner = asyncio.create_task(self._run(), name="taskloom-mcp")
        try:
            yield
        finally:
            self._stop.set()
            self._wanted.set()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await runner

    async def _run(self) -> None:
        try:
            await self._wanted.wait()
            if self._stop.is_set():
                return
            # The import in a thread: the event loop keeps answering REST calls meanwhile.
            server_module = await asyncio.to_thread(importlib.import_module, "taskloom.mcp_server.server")
            asgi, server = server_module.endpoint(self.app, self.engine, self.settings)
            async with server.session_manager.run():
                self._asgi = asgi
                self._ready.set()
                await self._stop.wait()
        except Exception:
            log.exception("the MCP endpoint could not start")
        finally:
            self._asgi = None
            self._ready.set()  # waiters get 503 instead of hanging

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = with_api_key_as_bearer(scope)
        self._wanted.set()
        await self._ready.wait()
        if self._asgi is None:
            from taskloom.api.deps import JSONResponse

            await JSONResponse({"error": "the MCP endpoint is not available (server shutting down?)"},
                               status_code=503)(scope, receive, send)
            return
        await self._asgi(scope, receive, send)


def with_api_key_as_bearer(scope: Scope) -> Scope:
    """``X-API-Key: tlk_...`` works on /mcp as on the REST routes: the SDK's auth reads only
    ``Authorization: Bearer``, so a request with a key and no Authorization header gets one
    carrying the key (the same credential check then runs: api/auth.verify_credential)."""
    headers = scope.get("headers") or []
    if any(name == b"authorization" for name, _ in headers):
        return scope
    key = next((value.strip() for name, value in headers if name == b"x-api-key"), b"")
    if not key:
        return scope
    return {**scope, "headers": [*headers, (b"authorization", b"Bearer " + key)]}


def mount(app: Any, engine: Any, settings: Any) -> LazyEndpoint:
    """Route /mcp (a plain route, not a Mount: /mcp itself answers, with no redirect to /mcp/)."""
    lazy = LazyEndpoint(app, engine, settings)
    app.router.routes.append(Route(PATH, endpoint=lazy))
    return lazy
