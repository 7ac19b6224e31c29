"""Taskloom's MCP server: tools with which an LLM agent claims work, asks a person and finishes,
and with which a supervisor approves, answers and watches.

One set of tools (agent_tools.py, supervisor_tools.py) is served over streamable HTTP at
``/mcp`` of every ``taskloom serve`` (http.py), where each call runs engine operations as the
caller's token. ``taskloom mcp`` (bridge.py) serves the same tools over stdio by relaying each
call to a running server's ``/mcp``; it never opens the database. See docs/mcp.md.

The package is not named ``mcp``: that would shadow the SDK.
"""
