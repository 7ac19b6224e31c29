"""``taskloom mcp``: the same tools over stdio, for MCP clients that start a local command.

A thin relay: an MCP server on stdin/stdout whose tools/list and tools/call go, through the
SDK's streamable-HTTP client, to ``/mcp`` of a running Taskloom server with the caller's token.
It never opens the database; the server applies the token's role rules.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.exceptions import MCPError

from taskloom import __version__

# Above the tools' own 50 s waits, so a long-poll is never cut short here.
TIMEOUT = httpx2.Timeout(30.0, read=120.0)


class BridgeError(Exception):
    """The server cannot be used (unreachable, or it refused the token): said once, at start."""


def check_server(url: str, token: str) -> None:
    """Fail early, in words, rather than with a JSON-RPC error on the client's first call."""
    try:
        httpx.get(url + "/healthz", timeout=10).raise_for_status()
        answer = httpx.get(url + "/api/tasks", params={"limit": 1}, headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
    except httpx.HTTPError as exc:
        raise BridgeError(f"cannot reach the Taskloom server at {url}: {exc}") from None
    if answer.status_code == 401:
        reason = answer.json().get("error", "unauthorized") if answer.headers.get("content-type", "").startswith(
            "application/json") else "unauthorized"
        raise BridgeError(f"the Taskloom server refused TASKLOOM_TOKEN (401): {reason}")


class Upstream:
    """The server's /mcp through the SDK's streamable-HTTP client, one short session per call:
    /mcp is stateless, so nothing is lost, and a server restarted between two calls (or a
    dropped connection) costs one failed call, not the whole bridge."""

    def __init__(self, url: str, http: httpx2.AsyncClient):
        self.url = url
        self.http = http

    @asynccontextmanager
    async def session(self) -> AsyncIterator[ClientSession]:
        async with (
            streamable_http_client(self.url + "/mcp", http_client=self.http) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            yield session

    async def list_tools(self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                         ) -> types.ListToolsResult:
        try:
            async with self.session() as session:
                return await session.list_tools(params=params)
        except Exception as exc:  # noqa: BLE001 - reported to the client as a JSON-RPC error
            raise MCPError(code=types.INTERNAL_ERROR, message=self.unreachable(exc)) from None

    async def call_tool(self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                        ) -> types.CallToolResult:
        try:
            async with self.session() as session:
                return await session.call_tool(params.name, params.arguments or {})
        except Exception as exc:  # noqa: BLE001 - a tool error the model can read
            return types.CallToolResult(is_error=True, content=[types.TextContent(type="text",
                                                                                  text=self.unreachable(exc))])

    def unreachable(self, exc: BaseException) -> str:
        while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
            exc = exc.exceptions[0]
        if isinstance(exc, MCPError):
            return f"the Taskloom server at {self.url} refused the call: {exc.error.message}"
        return f"the Taskloom server at {self.url} did not answer ({type(exc).__name__}: {exc}); try again"


async def relay(url: str, token: str) -> None:
    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT) as http:
        upstream = Upstream(url, http)
        async with upstream.session() as first:
            instructions = (await first.initialize()).instructions
        server: Server[Any] = Server("taskloom", version=__version__, instructions=instructions,
                                     on_list_tools=upstream.list_tools, on_call_tool=upstream.call_tool)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def main(url: str, token: str) -> None:
    import anyio

    url = url.rstrip("/")
    check_server(url, token)
    print(f"taskloom mcp: relaying stdio to {url}/mcp", file=sys.stderr)
    anyio.run(relay, url, token)
