"""``taskloom keys create|list|revoke``: manage API keys on the database directly (bootstrapping)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from taskloom.commands.db import run_op

app = typer.Typer(help="Create, list and revoke API keys (works on the database directly).", no_args_is_help=True)
Database = Annotated[str | None, typer.Option(help="Database URL (default: TASKLOOM_DATABASE_URL or the data folder)")]


@app.command()
def create(
    name: Annotated[str, typer.Option(help="What the key is for")],
    sub: Annotated[str, typer.Option(help="The caller's reference (agent id, user name)")],
    kind: Annotated[str, typer.Option(help="human | agent_session | automation | extension | network_peer | pool")]
    = "human",
    role: Annotated[str, typer.Option(help="admin | member | agent")] = "member",
    workspace: Annotated[list[str] | None, typer.Option(help="Restrict to this workspace (repeatable)")] = None,
    channel: Annotated[list[str] | None, typer.Option(help="Claim only from this channel (repeatable)")] = None,
    expires_at: Annotated[str | None, typer.Option(help="ISO-8601 expiry (default: never)")] = None,
    database: Database = None,
) -> None:
    """Create a key and print it (shown once; only its hash is stored)."""
    from taskloom.domain.errors import TaskloomError
    from taskloom.engine import api_keys as key_ops

    fields = {"name": name, "sub": sub, "kind": kind, "role": role, "workspaces": workspace or None,
              "channels": channel or None, "expires_at": _epoch(expires_at)}
    try:
        row, key = run_op(database, lambda tx, ctx: key_ops.create_key(tx, ctx, fields))
    except TaskloomError as exc:
        raise typer.BadParameter(exc.message) from exc
    typer.echo(f"created {row['id']} ({row['name']}); the key, shown once:", err=True)
    typer.echo(key)


@app.command("list")
def list_keys(
    include_revoked: Annotated[bool, typer.Option(help="Show revoked keys too")] = False,
    database: Database = None,
) -> None:
    """List keys as JSON lines (never the secret)."""
    from taskloom.api.keys import key_record
    from taskloom.engine import api_keys as key_ops

    rows = run_op(database, lambda tx, ctx: key_ops.list_keys(tx, ctx, include_revoked=include_revoked,
                                                               limit=100_000), write=False)
    for row in rows:
        typer.echo(json.dumps(key_record(row)))


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_…)")], database: Database = None) -> None:
    """Revoke a key: running servers refuse it within a second."""
    from taskloom.domain.errors import NotFound
    from taskloom.engine import api_keys as key_ops

    try:
        run_op(database, lambda tx, ctx: key_ops.revoke_key(tx, ctx, key_id))
    except NotFound as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"revoked {key_id}")


def _epoch(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise typer.BadParameter(f"expires-at must be ISO-8601, got {value!r}") from exc
