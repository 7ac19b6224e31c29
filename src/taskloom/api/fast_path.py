"""The hot endpoints without the router walk and the dependency solver: an ASGI middleware
in front of FastAPI.

Starlette finds a route by trying every route of every included router in turn, and FastAPI
then solves the route's dependencies and builds a request object; on the agent hot path
(claim-next -> complete) that was about a third of the server's CPU. For the few hot routes
listed in ``HOT``, this middleware finds the route with one dict lookup (one regex for the
``{run_id}`` paths) and calls the route's own endpoint function itself. Nothing a caller can
see changes:

- the body is validated by the route's own pydantic model, the caller authenticated by the
  route's own ``CurrentActor`` dependency (``auth.authenticate``), and the endpoint function
  FastAPI would call answers;
- anything off the happy path (a body that is not JSON or fails validation, a missing or bad
  token) is handed to FastAPI untouched, with the body replayed, so error answers and their
  precedence stay exactly FastAPI's;
- the routes stay registered with FastAPI: OpenAPI and /docs describe them as before;
- a hot route is taken only if FastAPI would call it with nothing but the engine, the actor,
  its path parameters and one JSON body (checked on the first request against FastAPI's own
  view of the route). A route that gains another dependency or parameter is left to FastAPI.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from taskloom.api.auth import authenticate
from taskloom.api.deps import JSONResponse, get_engine
from taskloom.api.limits import PARSED_BODY
from taskloom.domain.errors import TaskloomError

# The routes worth it: the agent loop and task creation, single and batched.
HOT = (
    "/api/agent/tasks/claim-next", "/api/agent/tasks/claim-batch", "/api/agent/tasks/complete-batch",
    "/api/agent/tasks/fail-batch", "/api/agent/tasks/{run_id}/heartbeat", "/api/agent/tasks/{run_id}/complete",
    "/api/agent/tasks/{run_id}/fail", "/api/agent/tasks/{run_id}/release", "/api/tasks", "/api/tasks/batch",
)
_RUN_ACTION = re.compile(r"^/api/agent/tasks/([^/]+)/([a-z-]+)$")


@dataclass(frozen=True)
class Hot:
    endpoint: Callable[..., Awaitable[Any]]
    model: type[BaseModel]
    body_name: str
    optional_body: bool  # declared ``body: Model | None = None``
    engine_name: str
    actor_name: str
    route: Any  # what Starlette puts in scope["route"] (request logs and metrics read its path)


class FastPath:
    def __init__(self, app: ASGIApp, *, fastapi_app: Any):
        self.app = app
        self.fastapi_app = fastapi_app
        self.static: dict[str, Hot] | None = None
        self.run_actions: dict[str, Hot] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, self._build_at_startup(receive), send)
            return
        if scope["type"] != "http" or scope["method"] != "POST" or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        if self.static is None:
            self._build()
        found = self._lookup(scope["path"])
        if found is None:
            await self.app(scope, receive, send)
            return
        hot, params = found
        messages, body = await _read_body(receive)
        if not await self._answer(hot, params, scope, body, send):
            await self.app(scope, _replay(messages, receive), send)

    def _build_at_startup(self, receive: Receive) -> Receive:
        """The route table is built while the server starts (it walks every route: about a
        second of CPU), not by the first hot request, which would wait for it."""

        async def received() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup" and self.static is None:
                self._build()
            return message

        return received

    def _build(self) -> None:
        static: dict[str, Hot] = {}
        for context in iter_route_contexts(self.fastapi_app.routes):
            if context.path in HOT and "POST" in (context.methods or ()) and (hot := _plain_route(context)):
                if "{run_id}" in context.path:
                    self.run_actions[context.path.rsplit("/", 1)[1]] = hot
                else:
                    static[context.path] = hot
        self.static = static

    def _lookup(self, path: str) -> tuple[Hot, dict[str, str]] | None:
        assert self.static is not None
        hot = self.static.get(path)
        if hot is not None:
            return hot, {}
        m = _RUN_ACTION.match(path)
        if m is not None and (hot := self.run_actions.get(m.group(2))) is not None:
            return hot, {"run_id": m.group(1)}
        return None

    async def _answer(self, hot: Hot, params: dict[str, str], scope: Scope, body: bytes, send: Send) -> bool:
        """Answer the request, or return False to hand it to FastAPI unchanged."""
        content_type = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"content-type"), None)
        value = _parse(hot, body, content_type, scope.get(PARSED_BODY))
        if value is None:
            return False
        scope["route"] = hot.route
        request = Request(scope)
        try:
            actor = await authenticate(request)
        except TaskloomError:
            return False
        try:
            response = await hot.endpoint(**params, **{hot.engine_name: await get_engine(request),
                                                       hot.actor_name: actor, hot.body_name: value})
        except TaskloomError as exc:  # as the app's handler for domain errors answers them
            response = JSONResponse({"error": exc.message}, status_code=exc.status_code)
        if not isinstance(response, Response):
            raise TypeError(f"hot route {scope['path']} must return a Response")
        await response(scope, _no_receive, send)
        return True


def _plain_route(context: Any) -> Hot | None:
    """The route as the fast path can call it, or None if FastAPI would inject anything else."""
    d = context.dependant
    deps = {sub.call: sub for sub in d.dependencies}
    if (set(deps) != {get_engine, authenticate} or any(s.dependencies for s in d.dependencies)
            or d.query_params or d.header_params or d.cookie_params or len(d.body_params) != 1
            or d.request_param_name or d.response_param_name or d.background_tasks_param_name
            or [p.name for p in d.path_params] != re.findall(r"{(\w+)}", context.path)):
        return None
    field = d.body_params[0]
    if getattr(field.field_info, "embed", False):
        return None
    annotation = field.field_info.annotation
    optional = typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in typing.get_args(
        annotation)
    models = [a for a in (typing.get_args(annotation) if optional else (annotation,))
              if isinstance(a, type) and issubclass(a, BaseModel)]
    if len(models) != 1 or optional == field.field_info.is_required():
        return None
    return Hot(endpoint=context.endpoint, model=models[0], body_name=field.name, optional_body=optional,
               engine_name=deps[get_engine].name, actor_name=deps[authenticate].name, route=context)


def _parse(hot: Hot, body: bytes, content_type: str | None, parsed: tuple[bytes, Any] | None) -> BaseModel | None:
    """The validated body, or None where FastAPI should decide (and word the error). ``parsed``
    is what the request guard (api/limits.py) parsed from this body, if it did."""
    if not body:
        return hot.model() if hot.optional_body else None
    if not _is_json(content_type):
        return None
    if parsed is not None and (parsed[0] is body or parsed[0] == body):
        data = parsed[1]
    else:
        try:
            data = json.loads(body)  # FastAPI's parser: orjson would turn integers beyond 64 bits into floats
        except (ValueError, RecursionError):
            return None
    if data is None:
        return hot.model() if hot.optional_body else None
    try:
        return hot.model.model_validate(data)
    except ValidationError:
        return None


def _is_json(content_type: str | None) -> bool:
    # FastAPI's rule: application/json or application/<anything>+json.
    if not content_type:
        return False
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


async def _read_body(receive: Receive) -> tuple[list[Message], bytes]:
    messages: list[Message] = []
    chunks: list[bytes] = []
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return messages, b"".join(chunks)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


async def _no_receive() -> Message:  # a plain Response never reads
    return {"type": "http.disconnect"}
