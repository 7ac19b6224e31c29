"""Bearer JWT authentication (HS256) and the role rules.

Roles: ``admin`` may do everything; ``member`` (people) may create, change,
approve and cancel tasks but not delete tasks or act on runs other agents hold;
``agent`` may create tasks, claim work and act on its own runs, but may not
approve, reject, delete or change tasks it does not own.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import Annotated, Any

import jwt
from fastapi import Depends, Request

from taskloom.domain.actors import ACTOR_KINDS, ROLES, Actor
from taskloom.domain.errors import Forbidden, Unauthorized

ALGORITHM = "HS256"


def issue_token(secret: str, sub: str, *, kind: str = "human", role: str = "member",
                workspaces: list[str] | None = None, ttl: float | None = None) -> str:
    claims: dict[str, Any] = {"sub": sub, "kind": kind, "role": role, "iat": int(time.time())}
    if workspaces:
        claims["workspaces"] = list(workspaces)
    if ttl:
        claims["exp"] = int(time.time() + ttl)
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Actor:
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], options={"require": ["sub"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
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


# Verified tokens, so the hot path does not re-verify the signature on every call.
_cache: dict[tuple[str, str], tuple[Actor, float | None]] = {}


async def authenticate(request: Request) -> Actor:
    # async: FastAPI would run a plain function in a worker thread, a hop per request.
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized("missing Authorization: Bearer <token> header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'")
    secret = request.app.state.settings.jwt_secret
    key = (secret, token.strip())
    cached = _cache.get(key)
    if cached is not None and (cached[1] is None or cached[1] > time.time()):
        return cached[0]
    actor = decode_token(secret, key[1])
    if len(_cache) > 10_000:
        _cache.clear()
    _cache[key] = (actor, _token_exp(key[1]))
    return actor


def _token_exp(token: str) -> float | None:
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return float(exp) if exp is not None else None


CurrentActor = Annotated[Actor, Depends(authenticate)]


def require_admin(actor: Actor, action: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"only admins may {action}")


def require_not_agent(actor: Actor, action: str) -> None:
    if actor.role == "agent":
        raise Forbidden(f"agents may not {action}")
