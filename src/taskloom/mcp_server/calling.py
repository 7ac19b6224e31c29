"""What every tool shares: who is calling, and turning refusals into tool errors that say why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, ConfigDict, ValidationError

from taskloom.domain.actors import Actor
from taskloom.domain.errors import TaskloomError

P = ParamSpec("P")
R = TypeVar("R")

# The HTTP status a refusal has over the REST API, named, so a tool error reads like it.
_STATUS_WORDS = {400: "invalid input", 401: "unauthorized", 403: "forbidden", 404: "not found",
                 409: "conflict", 413: "too large", 422: "unprocessable", 429: "too many requests",
                 503: "unavailable"}


class CallerToken(AccessToken):
    """The verified bearer token with the Taskloom caller it stands for."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    actor: Actor


def caller() -> Actor:
    token = get_access_token()
    if not isinstance(token, CallerToken):  # the bearer middleware lets nothing else through
        raise ToolError("unauthorized (HTTP 401): no verified bearer token on this call")
    return token.actor


def refusal(exc: TaskloomError) -> ToolError:
    word = _STATUS_WORDS.get(exc.status_code, "error")
    return ToolError(f"{word} (HTTP {exc.status_code}): {exc.message}")


def invalid(exc: ValidationError) -> ToolError:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "arguments"
        parts.append(f"{where}: {err.get('msg')}")
    return ToolError("invalid input (HTTP 400): " + "; ".join(parts))


def validated(model: type[BaseModel], **fields: Any) -> Any:
    """Build the REST API's request model from tool arguments, so both check input the same way."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise invalid(exc) from None


def tool_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Refusals from the engine (403, 404, 409, ...) become tool errors whose text says why."""

    @wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except TaskloomError as exc:
            raise refusal(exc) from None
        except ValidationError as exc:
            raise invalid(exc) from None

    return wrapper
