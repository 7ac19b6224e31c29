"""/mcp in-process: Host checks when TASKLOOM_MCP_ALLOWED_HOSTS is set, and JSON-RPC tool calls
without a session (stateless: any worker process can answer any request)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from tests.conftest import MEMBER, ApiFactory, agent

ACCEPT = {"Accept": "application/json, text/event-stream"}


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}


def test_allowed_hosts_refuse_other_names(make_api: ApiFactory) -> None:
    api = make_api(mcp_allowed_hosts="tl.example:*")
    ping = rpc("ping", {})
    evil = api.client.post("/mcp", json=ping, headers={**MEMBER, **ACCEPT, "Host": "evil.example:8420"})
    assert evil.status_code == 421
    good = api.client.post("/mcp", json=ping, headers={**MEMBER, **ACCEPT, "Host": "tl.example:8420"})
    assert good.status_code == 200, good.text


def test_tool_call_without_a_session_and_answer_needs_a_question(make_api: ApiFactory) -> None:
    api = make_api()
    task = api.post("/api/tasks", {"title": "no question here"}).json()["task"]
    answer = api.client.post("/mcp", json=rpc("tools/call", {"name": "answer_agent", "arguments": {
        "task_id": task["id"], "answer": "yes"}}), headers={**MEMBER, **ACCEPT})
    assert answer.status_code == 200, answer.text
    result = answer.json()["result"]
    assert result["isError"] is True
    assert f"conflict (HTTP 409): task {task['id']} has no open question to answer" in result["content"][0]["text"]

    me = agent("asker")
    asked = api.post("/api/tasks", {"title": "needs a person", "network_channel": "q"}).json()["task"]
    claim = api.post("/api/agent/tasks/claim-next", {"network_channel": "q"}, headers=me).json()["claim"]
    assert api.post(f"/api/agent/tasks/{claim['run']['id']}/awaiting-input", {"question": "ok?"},
                    headers=me).status_code == 200
    own = api.client.post("/mcp", json=rpc("tools/call", {"name": "answer_agent", "arguments": {
        "task_id": asked["id"], "answer": "sure"}}), headers={**me, **ACCEPT}).json()["result"]
    assert own["isError"] and "a person answers it" in own["content"][0]["text"]


def test_the_sdk_is_imported_on_first_use_not_at_start() -> None:
    """A server start (each --workers process) does not pay the SDK's import; /mcp does, once."""
    code = "import sys, taskloom.api.app; assert 'mcp' not in sys.modules, sorted(m for m in sys.modules if 'mcp' in m)"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
