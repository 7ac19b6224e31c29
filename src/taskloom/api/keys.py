"""API keys: /api/keys (admins). A key is shown once, at creation; lists never show it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from taskloom.api.auth import CurrentActor, forget_key
from taskloom.api.deps import EngineDep, ok
from taskloom.api.schemas import ERRORS, ActorKind, Body, Label, rules_400
from taskloom.api.views import iso
from taskloom.engine import api_keys as key_ops
from taskloom.engine.context import loads

router = APIRouter(prefix="/api/keys", tags=["keys"], responses=ERRORS)


class KeyCreate(Body):

    name: str = Field(min_length=1, max_length=200, description="What the key is for, shown in lists")
    sub: str = Field(min_length=1, max_length=200, description="The caller's reference, as a JWT's sub")
    kind: ActorKind = "human"
    role: Literal["admin", "member", "agent"] = "member"
    workspaces: list[Label] | None = Field(default=None, max_length=100)
    channels: list[Label] | None = Field(default=None, min_length=1, max_length=100,
                                       description="Claims come only from these network channels")
    expires_at: datetime | None = Field(default=None, description="ISO-8601; never expires when absent")


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    sub: str
    kind: str
    role: str
    workspaces: list[str] | None
    channels: list[str] | None
    created_by: dict[str, str]
    created_at: str
    expires_at: str | None
    revoked_at: str | None
    last_used_at: str | None


class KeyCreated(KeyOut):
    key: str = Field(description="The key itself: shown only in this answer")


class KeyList(BaseModel):
    keys: list[KeyOut]


def key_record(row: dict[str, Any]) -> dict[str, Any]:
    """A key as lists show it: never the secret or its hash."""
    return {
        "id": row["id"], "name": row["name"], "prefix": row["prefix"], "sub": row["sub"], "kind": row["kind"],
        "role": row["role"], "workspaces": loads(row["workspaces"]), "channels": loads(row["channels"]),
        "created_by": {"kind": row["created_by_kind"], "ref": row["created_by_ref"]},
        "created_at": iso(row["created_at"]), "expires_at": iso(row["expires_at"]),
        "revoked_at": iso(row["revoked_at"]), "last_used_at": iso(row["last_used_at"]),
    }


@router.post("", status_code=201, response_model=KeyCreated,
             responses=rules_400("expires_at in the future"), summary="Create an API key (admins)")
async def create_key(body: KeyCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Creates a revocable key acting like a JWT with the same sub, kind, role and workspaces. The key
    (`tlk_…`) is in this answer only; 403 for non-admins, 400 for a past `expires_at`."""
    fields = body.model_dump()
    if body.expires_at is not None:
        fields["expires_at"] = body.expires_at.timestamp()
    row, key = await engine.write(actor, lambda tx, ctx: key_ops.create_key(tx, ctx, fields))
    return ok({**key_record(row), "key": key}, 201)


@router.get("", response_model=KeyList, summary="List API keys (admins)")
async def list_keys(engine: EngineDep, actor: CurrentActor, include_revoked: bool = False,
                    limit: int = Query(default=100, ge=1, le=1000),
                    offset: int = Query(default=0, ge=0, le=2**62)) -> Response:
    """Lists keys without their secrets, with `last_used_at` (updated at most once a minute).
    Revoked keys are left out unless `include_revoked=true`; 403 for non-admins."""
    rows = await engine.read(actor, lambda tx, ctx: key_ops.list_keys(
        tx, ctx, include_revoked=include_revoked, limit=limit, offset=offset))
    return ok({"keys": [key_record(r) for r in rows]})


@router.delete("/{key_id}", status_code=204, summary="Revoke an API key (admins)")
async def revoke_key(key_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Revokes the key: from then on it gets 401 `api key revoked`, on every server process within
    a second. Revoking twice is harmless; 404 for an unknown id, 403 for non-admins."""
    await engine.write(actor, lambda tx, ctx: key_ops.revoke_key(tx, ctx, key_id))
    forget_key(key_id)
    return Response(status_code=204)
