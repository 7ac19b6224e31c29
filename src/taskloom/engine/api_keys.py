"""API keys: revocable credentials that act exactly like a JWT with the same claims.

A key is ``tlk_`` plus 32 random bytes (URL-safe base64), shown once; only its
SHA-256 is stored. A key may be limited to some network channels: its claims then
come only from those channels (see ``Actor.claim_channels``).
"""

from __future__ import annotations

import secrets
from typing import Any

from taskloom.domain.actors import ACTOR_KINDS, ROLES, Actor
from taskloom.domain.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from taskloom.engine.context import Ctx, dumps, hash_token, loads, new_id
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

KEY_PREFIX = "tlk_"
TOUCH_INTERVAL = 60.0  # last_used_at is written at most once a minute per key


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def _require_admin(ctx: Ctx) -> None:
    if not ctx.actor.is_admin:
        raise Forbidden("only admins may manage API keys")


def create_key(tx: Tx, ctx: Ctx, fields: dict[str, Any]) -> tuple[Row, str]:
    """Store a new key; return (row, the key itself — shown once)."""
    _require_admin(ctx)
    if fields["kind"] not in ACTOR_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(ACTOR_KINDS)}")
    if fields["role"] not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}")
    expires_at = fields.get("expires_at")
    if expires_at is not None and expires_at <= ctx.now:
        raise InvalidInput("expires_at must be in the future")
    key = new_key()
    row: Row = {
        "id": new_id("key"),
        "name": fields["name"],
        "key_hash": hash_token(key),
        "prefix": key[:12],
        "sub": fields["sub"],
        "kind": fields["kind"],
        "role": fields["role"],
        "workspaces": dumps(fields.get("workspaces")),
        "channels": dumps(fields.get("channels")),
        "created_by_kind": ctx.actor.kind,
        "created_by_ref": ctx.actor.ref,
        "created_at": ctx.now,
        "expires_at": expires_at,
        "revoked_at": None,
        "last_used_at": None,
    }
    tx.api_key_insert(row)
    return row, key


def list_keys(tx: Tx, ctx: Ctx, *, include_revoked: bool = False, limit: int = 100, offset: int = 0) -> list[Row]:
    _require_admin(ctx)
    return tx.api_key_list(include_revoked=include_revoked, limit=limit, offset=offset)


def revoke_key(tx: Tx, ctx: Ctx, key_id: str) -> Row:
    _require_admin(ctx)
    row = tx.api_key_get(key_id)
    if row is None:
        raise NotFound(f"api key {key_id} not found")
    if row["revoked_at"] is None:
        tx.api_key_revoke(key_id, ctx.now)
    return tx.api_key_get(key_id) or row


def lookup(tx: Tx, key: str) -> Row | None:
    return tx.api_key_by_hash(hash_token(key))


def touch(tx: Tx, ctx: Ctx, key_id: str) -> None:
    tx.api_key_touch(key_id, ctx.now, TOUCH_INTERVAL)


def actor_of(row: Row | None, now: float) -> Actor:
    """The caller a stored key stands for, or the 401 that says why not."""
    if row is None:
        raise Unauthorized("invalid api key")
    if row["revoked_at"] is not None:
        raise Unauthorized("api key revoked")
    if row["expires_at"] is not None and row["expires_at"] <= now:
        raise Unauthorized("api key expired")
    workspaces = loads(row["workspaces"])
    channels = loads(row["channels"])
    return Actor(kind=row["kind"], ref=row["sub"], role=row["role"],
                 workspaces=tuple(workspaces) if workspaces is not None else None,
                 channels=tuple(channels) if channels is not None else None)
