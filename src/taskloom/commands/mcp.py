"""``taskloom mcp``: serve Taskloom's MCP tools over stdio, relayed to a running server."""

from __future__ import annotations

import os
from typing import Annotated

import typer


def mcp(
    url: Annotated[str, typer.Option(envvar="TASKLOOM_URL", help="The running Taskloom server")]
    = "http://127.0.0.1:8420",
) -> None:
    """MCP over stdio for LLM agents: the tools of URL/mcp, as the token in TASKLOOM_TOKEN.

    Put it in an MCP client's configuration as the command `taskloom mcp --url URL` with
    TASKLOOM_TOKEN in its environment. It opens no database: the server does the work."""
    from taskloom.mcp_server.bridge import BridgeError, main

    token = os.environ.get("TASKLOOM_TOKEN", "").strip()
    if not token:
        typer.echo("taskloom mcp: set TASKLOOM_TOKEN to the agent's (or supervisor's) token", err=True)
        raise typer.Exit(2)
    try:
        main(url, token)
    except BridgeError as exc:
        typer.echo(f"taskloom mcp: {exc}", err=True)
        raise typer.Exit(1) from None
