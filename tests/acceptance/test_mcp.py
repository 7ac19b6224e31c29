"""The MCP server through the SDK's own client, against a real `taskloom serve`.

Streamable HTTP connects to /mcp; stdio spawns `taskloom mcp --url ...`. Both backends: the
PostgreSQL server runs with --workers 2, so successive MCP requests land on different processes.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.acceptance import server as srvmod

TOOLS = {
    "claim_task", "heartbeat", "complete_task", "fail_task", "release_task", "ask_human", "wait_for_answer",
    "create_subtask", "get_task", "list_tasks", "inbox", "approve_task", "reject_task", "answer_agent",
    "cancel_task", "retry_task", "create_task", "schedule_task", "queue_overview", "post_message", "stream_output",
}
READ_ONLY = {"get_task", "list_tasks", "inbox", "queue_overview", "wait_for_answer"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def srv(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[srvmod.Server]:
    tmp = tmp_path_factory.mktemp("mcp")
    env = {"TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.2"}
    if request.param == "sqlite":
        s = srvmod.start(f"sqlite:///{tmp}/taskloom.db", data_dir=str(tmp / "data"), env=env)
        yield s
        s.stop()
        return
    base = request.getfixturevalue("postgres_url")  # skips (or fails under CI) without PostgreSQL
    with srvmod.fresh_postgres(base) as url:
        # Two worker processes start slowly on a busy 2-core machine: a longer wait for /healthz.
        s = srvmod.start(url, data_dir=str(tmp / "data"), env=env, extra_args=["--workers", "2"], timeout=120)
        yield s
        s.stop()


@asynccontextmanager
async def connect(srv: srvmod.Server, token: str, transport: str = "http",
                  headers: dict[str, str] | None = None) -> AsyncIterator[ClientSession]:
    if transport == "stdio":
        params = StdioServerParameters(command=srvmod._taskloom_command()[0],
                                       args=[*srvmod._taskloom_command()[1:], "mcp", "--url", srv.base_url],
                                       env={"TASKLOOM_TOKEN": token})
        async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            yield session
        return
    async with (
        httpx2.AsyncClient(headers=headers if headers is not None else {"Authorization": f"Bearer {token}"},
                           timeout=httpx2.Timeout(30, read=90)) as http,
        streamable_http_client(srv.base_url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, f"{tool} failed: {result.content[0].text}"  # type: ignore[union-attr]
    assert result.structured_content is not None
    return result.structured_content


async def refused(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, f"{tool} should have been refused: {result.structured_content}"
    return str(result.content[0].text)  # type: ignore[union-attr]


def agent_token(srv: srvmod.Server, name: str) -> str:
    return srv.token(name, kind="agent_session", role="agent")


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_round_trip(srv: srvmod.Server, transport: str) -> None:
    channel = f"rt-{uuid.uuid4().hex[:8]}"

    async def scenario() -> str:
        async with connect(srv, srv.token("sam", role="member"), transport) as boss, \
                connect(srv, agent_token(srv, "agent-rt"), transport) as agent:
            created = await call(boss, "create_task", title="Deploy the web app", channel=channel,
                                 description="Pick the region with the operator", metadata={"app": "web"})
            task_id = created["task"]["id"]
            assert {t.name for t in (await agent.list_tools()).tools} == TOOLS

            claim = await call(agent, "claim_task", channel=channel, wait_seconds=5, lease_seconds=60)
            assert claim["claimed"] and claim["task"]["id"] == task_id
            assert claim["task"]["metadata"] == {"app": "web"} and claim["claim_token"] and claim["lease_until"]
            run_id = claim["run_id"]
            await call(agent, "heartbeat", run_id=run_id, progress="reading the runbook", claim_token=claim["claim_token"],
                       usage={"input_tokens": 120, "output_tokens": 30, "cost": 0.02, "tool_calls": 3, "model": "m-1"})
            sub = await call(agent, "create_subtask", run_id=run_id, title="Warm the cache", channel=channel)

            asked = await call(agent, "ask_human", run_id=run_id, question="which region?")
            assert asked["task_id"] == task_id
            inbox = await call(boss, "inbox", lane="questions")
            [item] = [i for i in inbox["lanes"][0]["items"] if i["task"]["id"] == task_id]
            assert item["question"] == "which region?" and item["task"]["blocked_reason"] == "awaiting_input"

            waiting = asyncio.ensure_future(call(agent, "wait_for_answer", run_id=run_id, wait_seconds=20))
            await asyncio.sleep(0.5)
            assert not waiting.done(), "wait_for_answer returned before anyone answered"
            await call(boss, "answer_agent", task_id=task_id, answer="eu-west-1")
            answer = await asyncio.wait_for(waiting, 15)
            assert answer["answered"] and answer["answer"] == "eu-west-1" and answer["answered_by"] == "human:sam"

            await call(agent, "complete_task", run_id=run_id, result={"region": "eu-west-1", "url": "https://web"})
            done = await call(boss, "get_task", task_id=task_id)
            assert done["task"]["status"] == "completed"
            assert done["result"] == {"region": "eu-west-1", "url": "https://web"}
            assert [c["id"] for c in done["children"]] == [sub["task"]["id"]]
            kinds = [e["event_type"] for e in done["timeline"]]
            for expected in ("task.created", "run.claimed", "run.heartbeat", "task.awaiting_input", "task.message",
                             "task.input_received", "run.completed"):
                assert expected in kinds, f"{expected} missing from {kinds}"
            assert kinds.index("task.awaiting_input") < kinds.index("task.input_received") < kinds.index(
                "run.completed")
            heartbeat = next(e for e in done["timeline"] if e["event_type"] == "run.heartbeat")
            assert heartbeat["payload"]["progress"] == "reading the runbook"
            return str(run_id)

    run_id = asyncio.run(scenario())
    usage = httpx.get(f"{srv.base_url}/api/task-runs/{run_id}", headers=srv.auth("boss")).json()["run"]["summary"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["tool_call_count"]) == (120, 30, 3)
    assert usage["model"] == "m-1"
    assert usage["total_cost"] == pytest.approx(0.02)


def test_refusals_say_why(srv: srvmod.Server) -> None:
    """The agent here holds an API key limited to one channel: keys work over /mcp as JWTs do."""
    channel = f"err-{uuid.uuid4().hex[:8]}"
    made = httpx.post(f"{srv.base_url}/api/keys", headers=srv.auth("root"), json={
        "name": "mcp agent", "sub": "agent-err", "kind": "agent_session", "role": "agent",
        "channels": [channel, f"{channel}-empty"]})
    assert made.status_code == 201, made.text
    key = made.json()["key"]

    async def scenario() -> None:
        async with connect(srv, srv.token("sam", role="member")) as boss, connect(srv, key) as agent:
            gated = await call(boss, "create_task", title="Drop the old table", channel=channel,
                               approval_policy="required")
            task_id = gated["task"]["id"]
            assert gated["run_id"] is None or gated["task"]["status"] == "blocked"
            over_http = httpx.post(f"{srv.base_url}/api/tasks/{task_id}/approve",
                                   headers={"Authorization": "Bearer " + key})
            assert over_http.status_code == 403
            text = await refused(agent, "approve_task", task_id=task_id)
            assert f"forbidden (HTTP 403): {over_http.json()['error']}" in text
            approvals = await call(boss, "inbox", lane="approvals")
            assert task_id in [i["task"]["id"] for i in approvals["lanes"][0]["items"]]
            approved = await call(boss, "approve_task", task_id=task_id, comment="fine")
            assert approved["run_id"] and approved["task"]["status"] == "ready"

            assert "not found (HTTP 404): task task_nope not found" in await refused(boss, "get_task",
                                                                                       task_id="task_nope")

            claim = await call(agent, "claim_task", channel=channel, wait_seconds=5, lease_seconds=1)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # the rescuer (every 0.2 s) takes the lapsed lease back
                runs = (await call(boss, "get_task", task_id=task_id))["runs"]
                if any(r["id"] == claim["run_id"] and r["status"] == "failed" for r in runs):
                    break
                await asyncio.sleep(0.2)
            text = await refused(agent, "complete_task", run_id=claim["run_id"], result="too late")
            assert "conflict (HTTP 409)" in text and "taken back" in text and "lease expired" in text

            nothing = await call(agent, "claim_task", channel=f"{channel}-empty", wait_seconds=0.5)
            assert not nothing["claimed"] and "call claim_task again" in nothing["message"].lower()
            assert "forbidden (HTTP 403): this API key may claim only from channels" in await refused(
                agent, "claim_task", channel="elsewhere", wait_seconds=0)

    asyncio.run(scenario())


def test_steering_tools(srv: srvmod.Server) -> None:
    channel = f"steer-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        async with connect(srv, srv.token("sam", role="member")) as boss, \
                connect(srv, agent_token(srv, "agent-steer")) as agent:
            task_id = (await call(boss, "create_task", title="Resize images", channel=channel))["task"]["id"]
            overview = await call(boss, "queue_overview", channel=channel)
            assert [(c["network_channel"], c["queued"]) for c in overview["channels"]] == [(channel, 1)]

            first = await call(agent, "claim_task", channel=channel, wait_seconds=5)
            released = await call(agent, "release_task", run_id=first["run_id"], reason="not mine")
            assert released["run_status"] == "queued"
            again = await call(agent, "claim_task", channel=channel, wait_seconds=5)
            assert again["task"]["id"] == task_id
            await call(agent, "fail_task", run_id=again["run_id"], error="disk full", retry=False)
            failed = await call(boss, "inbox", lane="failed_runs")
            assert task_id in [i["task"]["id"] for i in failed["lanes"][0]["items"]]
            retried = await call(boss, "retry_task", task_id=task_id)
            assert retried["task"]["status"] == "ready" and retried["run_id"]
            assert (await call(boss, "cancel_task", task_id=task_id, reason="not needed"))["task"]["status"] == "canceled"

            gated = await call(boss, "create_task", title="Delete backups", channel=channel, approval_policy="required")
            rejected = await call(boss, "reject_task", task_id=gated["task"]["id"], reason="no")
            assert rejected["task"]["status"] == "canceled"
            listed = await call(boss, "list_tasks", channel=channel, status="canceled", limit=100)
            assert {t["id"] for t in listed["tasks"]} == {task_id, gated["task"]["id"]}
            assert "metadata" not in listed["tasks"][0], "lists carry no payloads"
            assert (await call(boss, "list_tasks", search="resize images", channel=channel))["count"] == 1

            scheduled = await call(boss, "schedule_task", title="Nightly report", schedule_kind="cron",
                                   schedule_expr="0 2 * * *", channel=channel, payload={"report": "daily"})
            assert scheduled["status"] == "active" and scheduled["next_run_at"]

    asyncio.run(scenario())


def test_bad_token_is_401_at_http_level(srv: srvmod.Server) -> None:
    hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
             "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    headers = {"Accept": "application/json, text/event-stream"}
    bad = httpx.post(srv.base_url + "/mcp", json=hello, headers={**headers, "Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and "Bearer" in bad.headers["www-authenticate"]
    assert httpx.post(srv.base_url + "/mcp", json=hello, headers=headers).status_code == 401
    # Reached by a host name (not 127.0.0.1): no 421 from the SDK's DNS-rebinding check.
    named = httpx.post(srv.base_url + "/mcp", json=hello,
                       headers={**headers, "Authorization": "Bearer " + srv.token("sam"), "Host": "taskloom.internal:8420"})
    assert named.status_code == 200, named.text

    async def sdk_client() -> None:
        async with connect(srv, "not-a-token"):
            pass

    with pytest.raises(BaseException) as info:
        asyncio.run(sdk_client())
    assert _contains(info.value, MCPError), info.value
    # taskloom mcp (stdio) says so in words and exits, instead of failing every call later.
    done = subprocess.run([*srvmod._taskloom_command(), "mcp", "--url", srv.base_url], env={
        "TASKLOOM_TOKEN": "not-a-token", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL)
    assert done.returncode == 1 and "refused TASKLOOM_TOKEN (401): invalid token" in done.stderr, done.stderr


def test_api_key_in_x_api_key_header(srv: srvmod.Server) -> None:
    """The SDK's client with only ``X-API-Key`` (as on the REST routes): served as that key's caller."""
    channel = f"xkey-{uuid.uuid4().hex[:8]}"
    made = httpx.post(f"{srv.base_url}/api/keys", headers=srv.auth("root"), json={
        "name": "x-api-key agent", "sub": "agent-xkey", "kind": "agent_session", "role": "agent"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]

    async def scenario() -> None:
        async with connect(srv, srv.token("sam", role="member")) as boss, \
                connect(srv, "", headers={"X-API-Key": key}) as agent:
            task_id = (await call(boss, "create_task", title="via X-API-Key", channel=channel))["task"]["id"]
            claim = await call(agent, "claim_task", channel=channel, wait_seconds=5)
            assert claim["claimed"] and claim["task"]["id"] == task_id
            await call(agent, "complete_task", run_id=claim["run_id"], result="done")
            assert "forbidden (HTTP 403)" in await refused(agent, "approve_task", task_id=task_id)
        done = httpx.get(f"{srv.base_url}/api/tasks/{task_id}", headers=srv.auth("boss")).json()["task"]["task"]
        assert done["status"] == "completed"
        runs = httpx.get(f"{srv.base_url}/api/tasks/{task_id}/runs", headers=srv.auth("boss")).json()["runs"]
        assert runs[0]["claimed_by"] == {"kind": "agent_session", "ref": "agent-xkey"}

    asyncio.run(scenario())
    wrong = httpx.post(srv.base_url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                       headers={"Accept": "application/json, text/event-stream", "X-API-Key": "tlk_" + "0" * 43})
    assert wrong.status_code == 401


def _contains(exc: BaseException, kind: type[BaseException]) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_contains(e, kind) for e in exc.exceptions)
    return isinstance(exc, kind)


def test_post_message_and_stream_output(srv: srvmod.Server) -> None:
    """An agent streams output and posts on its run's coordination channel; a person posts too;
    REST reads back the same; refusals say why (another agent, a kind not allowed, 64 KB)."""
    channel = f"po-{uuid.uuid4().hex[:8]}"

    async def scenario() -> tuple[str, str]:
        async with connect(srv, srv.token("sam", role="member"), "http") as boss, \
                connect(srv, agent_token(srv, "agent-po"), "http") as agent, \
                connect(srv, agent_token(srv, "agent-other"), "http") as other:
            created = await call(boss, "create_task", title="Summarise the logs", channel=channel)
            claim = await call(agent, "claim_task", channel=channel, wait_seconds=5)
            run_id, token = claim["run_id"], claim["claim_token"]
            first = await call(agent, "stream_output", run_id=run_id, chunk="reading ", claim_token=token)
            assert (first["offset"], first["next_offset"]) == (0, 8)
            second = await call(agent, "stream_output", run_id=run_id, chunk="logs… done\n")
            assert (second["offset"], second["next_offset"], second["total_bytes"]) == (8, 19, 21)
            posted = await call(agent, "post_message", run_id=run_id, kind="status", body="half way")
            assert posted["kind"] == "status" and posted["channel_id"] == f"cc_{run_id}"
            assert posted["task_id"] == created["task"]["id"]
            note = await call(boss, "post_message", run_id=run_id, kind="note", body="take your time")
            assert note["sequence"] > posted["sequence"]
            assert "403" in await refused(other, "stream_output", run_id=run_id, chunk="not mine")
            assert await refused(agent, "post_message", run_id=run_id, kind="gossip", body="x")
            big = await refused(agent, "stream_output", run_id=run_id, chunk="x" * (64 * 1024 + 1))
            assert "413" in big and "64 KB" in big
            tools = {t.name: t for t in (await agent.list_tools()).tools}
            assert tools["post_message"].input_schema["properties"]["kind"]["enum"] == [
                "note", "question", "answer", "handoff", "status"]
            return run_id, created["task"]["id"]

    run_id, task_id = asyncio.run(scenario())
    boss = srv.auth("boss")
    out = httpx.get(f"{srv.base_url}/api/task-runs/{run_id}/output", headers=boss).json()
    assert out["text"] == "reading logs… done\n"
    msgs = httpx.get(f"{srv.base_url}/api/task-runs/{run_id}/messages", headers=boss).json()["messages"]
    assert [(m["kind"], m["body"], m["sender"]["ref"]) for m in msgs] == [
        ("status", "half way", "agent-po"), ("note", "take your time", "sam")]
    timeline = httpx.get(f"{srv.base_url}/api/tasks/{task_id}/timeline", params={"include_output": "true"},
                         headers=boss).json()["timeline"]
    assert [e["payload"]["chunk"] for e in timeline if e["event_type"] == "run.output"] == ["reading ",
                                                                                            "logs… done\n"]


def test_claim_task_says_when_a_budget_is_spent(srv: srvmod.Server) -> None:
    name = f"agent-b-{uuid.uuid4().hex[:6]}"
    admin = srv.auth("root", role="admin")
    budget = httpx.post(f"{srv.base_url}/api/budgets", json={"scope": "agent", "ref": name, "period": "total",
                                                              "max_tokens": 0}, headers=admin).json()["budget"]
    assert budget["exhausted"] is True

    async def scenario() -> dict[str, Any]:
        # Another server process learns of a first budget within 1 s (PostgreSQL runs two): ask until it does.
        async with connect(srv, agent_token(srv, name), "http") as agent:
            for _ in range(40):
                got = await call(agent, "claim_task", channel=f"none-{name}", wait_seconds=0)
                if got.get("budget_exhausted"):
                    break
                await asyncio.sleep(0.1)
            return got

    try:
        got = asyncio.run(scenario())
        assert got["claimed"] is False and got["budget_exhausted"] == budget["id"] and "spent" in got["message"]
    finally:
        httpx.delete(f"{srv.base_url}/api/budgets/{budget['id']}", headers=admin)


def test_list_tools(srv: srvmod.Server) -> None:
    """Every tool, typed, with an output schema and annotations (stdio lists the same: see the round trip)."""

    async def scenario() -> None:
        for transport in ("http",):
            async with connect(srv, agent_token(srv, "lister"), transport) as session:
                tools = {t.name: t for t in (await session.list_tools()).tools}
                assert set(tools) == TOOLS, transport
                for name, tool in tools.items():
                    assert tool.input_schema["type"] == "object" and tool.output_schema, name
                    assert tool.description and len(tool.description) > 40, name
                    assert tool.annotations is not None, name
                    assert tool.annotations.read_only_hint is (name in READ_ONLY), name
                for name in ("complete_task", "fail_task", "cancel_task", "reject_task", "approve_task"):
                    assert tools[name].annotations.destructive_hint is True, name  # type: ignore[union-attr]
                assert "wait_seconds" in tools["claim_task"].input_schema["properties"]
                assert tools["claim_task"].input_schema["properties"]["wait_seconds"]["maximum"] == 50

    asyncio.run(scenario())


def test_stdio_bridge_outlives_a_server_restart(tmp_path: Any) -> None:
    srv = srvmod.start(f"sqlite:///{tmp_path}/taskloom.db", data_dir=str(tmp_path / "data"))
    try:
        async def scenario() -> None:
            nonlocal srv
            async with connect(srv, srv.token("sam"), "stdio") as boss:
                await call(boss, "create_task", title="survives", channel="restart")
                srv.stop()
                text = await refused(boss, "list_tasks", channel="restart")
                assert f"the Taskloom server at {srv.base_url} did not answer" in text
                srv = srvmod.start(srv.database_url, data_dir=srv.data_dir, secret=srv.secret, port=srv.port)
                assert [t["title"] for t in (await call(boss, "list_tasks", channel="restart"))["tasks"]] == [
                    "survives"]

        asyncio.run(scenario())
    finally:
        srv.stop()
