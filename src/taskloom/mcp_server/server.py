"""The MCP server behind ``/mcp``: the SDK's MCPServer with Taskloom's tools and token check.

Stateless and with JSON answers, so any process of ``taskloom serve --workers N`` can answer
any request (no session lives in one process). The bearer token goes through the SDK's
token-verifier hook, which asks Taskloom's one credential check (api/auth.verify_credential), so
JWTs and API keys work here as on the REST API.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp

from taskloom import __version__
from taskloom.api import auth
from taskloom.config import Settings
from taskloom.domain.errors import TaskloomError
from taskloom.engine.engine import Engine
from taskloom.mcp_server import agent_tools, supervisor_tools
from taskloom.mcp_server.calling import CallerToken
from taskloom.mcp_server.http import PATH

INSTRUCTIONS = (
    "Taskloom is a work queue shared by agents and the people who supervise them. As an agent: "
    "claim_task, then heartbeat while you work, ask_human + wait_for_answer when you need a person, "
    "and finish with complete_task or fail_task. As a supervisor: inbox, approve_task, answer_agent, "
    "list_tasks, get_task, create_task, queue_overview."
)


class TokenVerifier:
    """The SDK's token-verifier hook, answered by the REST API's own authentication."""

    def __init__(self, app: FastAPI):
        self.app = app

    async def verify_token(self, token: str) -> CallerToken | None:
        try:
            actor = await auth.verify_credential(self.app, token)
        except TaskloomError:
            return None  # the SDK answers 401 with WWW-Authenticate
        return CallerToken(token=token, client_id=f"{actor.kind}:{actor.ref}", scopes=[], actor=actor)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin checks against DNS rebinding. Off unless TASKLOOM_MCP_ALLOWED_HOSTS names the
    hosts: every request needs a bearer token anyway, and a server reached by a name (a container,
    a load balancer) must not answer 421."""
    hosts = [h.strip() for h in settings.mcp_allowed_hosts.split(",") if h.strip()]
    if not hosts:
        return TransportSecuritySettings(enable_dns_rebinding_protection=False)
    origins = [f"{scheme}://{h}" for h in hosts for scheme in ("http", "https")]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts,
                                     allowed_origins=origins)


def build_server(app: FastAPI, engine: Engine, settings: Settings) -> MCPServer[Any]:
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder is not None:
        root.addHandler(placeholder)  # MCPServer() calls logging.basicConfig: keep the app's logging ours
    try:
        server: MCPServer[Any] = MCPServer(
            "taskloom", version=__version__, instructions=INSTRUCTIONS, token_verifier=TokenVerifier(app),
            # issuer_url is required by the SDK but unused: Taskloom issues its tokens itself (no OAuth routes).
            auth=AuthSettings(issuer_url=AnyHttpUrl("http://127.0.0.1:8420"), resource_server_url=None),
        )
    finally:
        if placeholder is not None:
            root.removeHandler(placeholder)
    agent_tools.register(server, engine)
    supervisor_tools.register(server, engine, settings)
    return server


def endpoint(app: FastAPI, engine: Engine, settings: Settings) -> tuple[ASGIApp, MCPServer[Any]]:
    """The ASGI app answering /mcp, and its server (whose session manager must be running)."""
    server = build_server(app, engine, settings)
    asgi = server.streamable_http_app(
        streamable_http_path=PATH, stateless_http=True, json_response=True,
        transport_security=transport_security(settings), max_request_body_size=settings.max_body_bytes,
    )
    return asgi, server
