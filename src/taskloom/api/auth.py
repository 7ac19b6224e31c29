"""Authentication — a bearer JWT (HS256) or an API key — and the role rules.

``verify_credential`` is the one check: every route (through ``authenticate``), the
SSE streams and /mcp call it. An API key acts exactly like a JWT with the same claims.

Roles: ``admin`` may do everything; ``member`` (people) may create, change,
approve and cancel tasks but not delete tasks or act on runs other agents hold;
``agent`` may create tasks, claim work and act on its own runs, but may not
approve, reject, delete or change tasks it does not own.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Mapping
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from taskloom.domain.actors import ACTOR_KINDS, ROLES, SYSTEM, Actor
from taskloom.domain.errors import Unauthorized
from taskloom.engine import api_keys as key_ops
from taskloom.engine.authorization import require_admin as require_admin  # the role rules: engine/authorization.py
from taskloom.engine.authorization import require_not_agent as require_not_agent
from taskloom.engine.engine import Engine

ALGORITHM = "HS256"


def signing_secrets(secret: str) -> list[str]:
    """``TASKLOOM_JWT_SECRET`` may list several secrets, comma-separated, for rotation:
    new tokens are signed with the first, every one of them verifies."""
    return [part.strip() for part in secret.split(",") if part.strip()]


def issue_token(secret: str, sub: str, *, kind: str = "human", role: str = "member",
                workspaces: list[str] | None = None, ttl: float | None = None) -> str:
    claims: dict[str, Any] = {"sub": sub, "kind": kind, "role": role, "iat": int(time.time())}
    if workspaces:
        claims["workspaces"] = list(workspaces)
    if ttl:
        claims["exp"] = int(time.time() + ttl)
    return jwt.encode(claims, signing_secrets(secret)[0], algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Actor:
    claims: dict[str, Any] | None = None
    for candidate in signing_secrets(secret):
        try:
            claims = jwt.decode(token, candidate, algorithms=[ALGORITHM], options={"require": ["sub"]})
            break
        except jwt.InvalidSignatureError:
            continue  # perhaps signed with another of the secrets
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
    if claims is None:
        raise Unauthorized("invalid token: Signature verification failed")
    kind = claims.get("kind", "human")
    role = claims.get("role", "member")
    if kind not in ACTOR_KINDS:
        raise Unauthorized(f"invalid token: unknown kind {kind!r}")
    if role not in ROLES:
        raise Unauthorized(f"invalid token: unknown role {role!r}")
    workspaces = claims.get("workspaces")
    if workspaces is not None and not (isinstance(workspaces, list) and all(isinstance(w, str) for w in workspaces)):
        raise Unauthorized("invalid token: workspaces must be a list of strings")
    return Actor(kind=kind, ref=str(claims["sub"]), role=role,
                 workspaces=tuple(workspaces) if workspaces is not None else None)


def load_or_create_secret(data_dir: str) -> tuple[str, bool]:
    """The signing secret from the data folder, created on first start. (secret, created)."""
    path = os.path.join(data_dir, "jwt-secret")
    if os.path.exists(path):
        with open(path) as fh:
            return fh.read().strip(), False
    os.makedirs(data_dir, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    return secret, True


# Verified JWTs, so the hot path does not re-verify the signature on every call.
_cache: dict[tuple[str, str], tuple[Actor, float | None]] = {}
# API keys looked up in the database, by key: (actor or the 401 it gets, looked up at).
# Kept briefly so that a revocation by any process is seen here within KEY_CACHE_SECONDS.
_key_cache: dict[str, tuple[Actor | Unauthorized, float, str | None]] = {}
KEY_CACHE_SECONDS = 0.5
_touched: dict[str, float] = {}


def credential(headers: Mapping[str, str]) -> str:
    """The token or API key of a request: ``Authorization: Bearer <token|tlk_key>`` or ``X-API-Key: tlk_…``."""
    header = headers.get("authorization")
    if not header:
        key = headers.get("x-api-key", "").strip()
        if key:
            return key
        raise Unauthorized("missing Authorization: Bearer <token> header (or X-API-Key)")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()


async def verify_credential(app: Any, token: str) -> Actor:
    """The caller a JWT or API key stands for, or Unauthorized. The one check every entry
    point uses (HTTP routes, SSE, /mcp): ``app`` is the Taskloom FastAPI app."""
    if key_ops.is_api_key(token):
        return await _verify_key(app.state.engine, token)
    secret = app.state.settings.jwt_secret
    key = (secret, token)
    cached = _cache.get(key)
    if cached is not None and (cached[1] is None or cached[1] > time.time()):
        return cached[0]
    actor = decode_token(secret, token)
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (actor, _token_exp(token))
    return actor


async def _verify_key(engine: Engine, key: str) -> Actor:
    now = time.monotonic()
    cached = _key_cache.get(key)
    if cached is None or now - cached[1] > KEY_CACHE_SECONDS:
        row = await engine.read(SYSTEM, lambda tx, ctx: key_ops.lookup(tx, key))
        try:
            result: Actor | Unauthorized = key_ops.actor_of(row, engine.clock.now())
        except Unauthorized as exc:
            result = exc
        if len(_key_cache) > 10_000:
            _key_cache.clear()
        _key_cache[key] = cached = (result, now, row["id"] if row else None)
        if row is not None and not isinstance(result, Unauthorized):
            _note_use(engine, row["id"], row["last_used_at"])
    if isinstance(cached[0], Unauthorized):
        raise Unauthorized(cached[0].message)
    return cached[0]


def _note_use(engine: Engine, key_id: str, last_used_at: float | None) -> None:
    """Write last_used_at at most once a minute, off the request's path."""
    now = engine.clock.now()
    last = max(_touched.get(key_id, 0.0), last_used_at or 0.0)
    if now - last < key_ops.TOUCH_INTERVAL:
        return
    _touched[key_id] = now
    task = asyncio.get_running_loop().create_task(
        engine.system_write(lambda tx, ctx: key_ops.touch(tx, ctx, key_id)))
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()


def forget_key(key_id: str) -> None:
    """A key was revoked in this process: drop what is cached about it at once."""
    for key, (_, _, cached_id) in list(_key_cache.items()):
        if cached_id == key_id:
            _key_cache.pop(key, None)
    _touched.pop(key_id, None)


async def authenticate(request: Request) -> Actor:
    # async: FastAPI would run a plain function in a worker thread, a hop per request.
    actor = await verify_credential(request.app, credential(request.headers))
    request.state.actor = actor  # for the request log line
    return actor


def _token_exp(token: str) -> float | None:
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return float(exp) if exp is not None else None


CurrentActor = Annotated[Actor, Depends(authenticate)]
