"""`taskloom token`: sign a JWT with the secret of the server it will be used against.

It never creates a secret (only `taskloom serve` does): a token signed with a secret the
server does not know would be refused with "Signature verification failed".
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

SECRET_FILE = "jwt-secret"


def find_secret(data_dir: str) -> tuple[str | None, str]:
    """The signing secret and where it came from; (None, where we looked) when there is none."""
    from_env = os.environ.get("TASKLOOM_JWT_SECRET")
    if from_env:
        return from_env, "TASKLOOM_JWT_SECRET"
    path = os.path.abspath(os.path.join(data_dir, SECRET_FILE))
    try:
        with open(path) as fh:
            secret = fh.read().strip()
    except FileNotFoundError:
        secret = ""
    return (secret or None), path


def token(
    sub: Annotated[str, typer.Option(help="The caller's reference (agent id, user name)")],
    kind: Annotated[str, typer.Option(help="human | agent_session | automation | extension | network_peer | pool")]
    = "human",
    role: Annotated[str, typer.Option(help="admin | member | agent")] = "member",
    workspace: Annotated[list[str] | None, typer.Option(help="Restrict to this workspace (repeatable)")] = None,
    ttl: Annotated[float | None, typer.Option(help="Lifetime in seconds (default: no expiry)")] = None,
    data_dir: Annotated[str, typer.Option(envvar="TASKLOOM_DATA_DIR", help="The server's data folder")]
    = "taskloom-data",
) -> None:
    """Print a signed JWT for the server's secret (TASKLOOM_JWT_SECRET, or the data folder's jwt-secret)."""
    from taskloom.api.auth import issue_token
    from taskloom.domain.actors import ACTOR_KINDS, ROLES

    if kind not in ACTOR_KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(ACTOR_KINDS)}")
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    secret, where = find_secret(data_dir)
    if secret is None:
        typer.echo(f"no signing secret: TASKLOOM_JWT_SECRET is not set and {where} does not exist. "
                   "Run this in the folder where `taskloom serve` runs, pass --data-dir (or TASKLOOM_DATA_DIR), "
                   "or set TASKLOOM_JWT_SECRET to the server's secret.", err=True)
        raise typer.Exit(1)
    typer.echo(issue_token(secret, sub, kind=kind, role=role, workspaces=workspace or None, ttl=ttl))
