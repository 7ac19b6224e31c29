"""``taskloom mcp``: the same tools over stdio, for MCP clients that start a local command.

A thin relay: an MCP server on stdin/stdout whose tools/list and tools/call go, through the
SDK's streamable-HTTP client, to ``/mcp`` of a running Taskloom server with the caller's token.
It never opens the database; the server applies the token's role rules.
"""

from __future__ import annotations

import sys
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


async def relay(url: str, token: str) -> None:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT) as http,
        streamable_http_client(url + "/mcp", http_client=http) as (up_read, up_write),
        ClientSession(up_read, up_write) as upstream,
    ):
        hello = await upstream.initialize()

        async def list_tools(ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
                             ) -> types.ListToolsResult:
            return await upstream.list_tools(params=params)

        async def call_tool(ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
                            ) -> types.CallToolResult:
            try:
                return await upstream.call_tool(params.name, params.arguments or {})
            except MCPError as exc:  # the server could not be reached or refused the request
                return types.CallToolResult(is_error=True, content=[types.TextContent(
                    type="text", text=f"the Taskloom server at {url} did not answer the call: {exc}")])

        server: Server[Any] = Server("taskloom", version=__version__, instructions=hello.instructions,
                                     on_list_tools=list_tools, on_call_tool=call_tool)
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


def main(url: str, token: str) -> None:
    import anyio

    url = url.rstrip("/")
    check_server(url, token)
    print(f"taskloom mcp: relaying stdio to {url}/mcp", file=sys.stderr)
    anyio.run(relay, url, token)
