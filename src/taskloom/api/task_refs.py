"""Task identifiers in paths: every ``{task_id}`` (and ``{depends_on_id}``) of every family also
accepts the task's identifier (``TL-42``, ``MKT-001``). A small ASGI middleware swaps a visible
task's identifier for its id in the path before routing, so routes and the engine deal in ids
only. Paths holding ids pay nothing (no look-up); an identifier the caller cannot see is left
as it is, and the route answers 404 naming it."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from taskloom.api.auth import authenticate
from taskloom.domain.errors import TaskloomError
from taskloom.domain.task_ids import looks_like_identifier
from taskloom.engine import tasks as task_ops


def task_positions(segments: list[str]) -> list[int]:
    """Which path segments are task ids, family by family."""
    n = len(segments)
    if segments[:2] == ["api", "tasks"] and n > 2:
        return [2, 4] if n > 4 and segments[3] == "dependencies" else [2]
    if segments[:2] == ["api", "agents"] and n > 4 and segments[3] == "tasks":
        return [4]
    if segments[:2] == ["api", "backlogs"] and n == 4:
        return [3]
    if segments[0] in ("tasks", "work-queue-tasks") and n > 1:
        return [1]
    return []


class TaskRefs:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            segments = scope["path"].split("/")[1:]
            refs = [i for i in task_positions(segments) if i < len(segments) and looks_like_identifier(segments[i])]
            if refs:
                await self._resolve(scope, segments, refs)
        await self.app(scope, receive, send)

    async def _resolve(self, scope: Scope, segments: list[str], refs: list[int]) -> None:
        request = Request(scope)
        try:
            actor = await authenticate(request)
        except TaskloomError:
            return  # the route answers 401 itself
        engine: Any = request.app.state.engine
        for i in refs:
            ref = segments[i]
            task_id = await engine.read(actor, lambda tx, ctx, ref=ref: task_ops.id_of_identifier(tx, ctx, ref))
            if task_id is not None:
                segments[i] = task_id
        path = "/" + "/".join(segments)
        scope["path"] = path
        scope["raw_path"] = path.encode()
