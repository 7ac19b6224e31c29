#!/usr/bin/env python3
"""MCP benchmark (issue 14): what a tool call over /mcp costs next to the same work over REST.

Starts ``taskloom serve`` on a fresh SQLite database and, one call at a time on keep-alive
connections, times --tasks agent cycles both ways:

- MCP: the SDK's streamable-HTTP client calls claim_task, heartbeat, complete_task;
- REST (the peer, same run, same server): POST claim-next, heartbeat, complete.

and --calls reads: get_task over MCP against GET /api/tasks/{id}. Prints medians and p99s
and the MCP/REST ratio. There is no target: the figure tells what the protocol layer adds.

    .venv/bin/python bench/mcp_calls.py                   # 200 cycles, 300 reads
    .venv/bin/python bench/mcp_calls.py --tasks 50 --calls 100
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402
import httpx2  # noqa: E402
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402


def summary(name: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f"  {name:<34} median {median * 1000:7.2f} ms   p99 {p99 * 1000:7.2f} ms   (n={len(ordered)})")
    return median


async def mcp_side(srv: srvmod.Server, tasks: int, calls: int, task_id: str) -> tuple[list[float], list[float]]:
    cycles: list[float] = []
    reads: list[float] = []
    headers = {"Authorization": "Bearer " + srv.token("bench-mcp", kind="agent_session", role="agent")}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http,
        streamable_http_client(srv.base_url + "/mcp", http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for _ in range(tasks):
            start = time.perf_counter()
            claim = (await session.call_tool("claim_task", {"channel": "bench-mcp", "wait_seconds": 0})
                     ).structured_content
            assert claim and claim["claimed"], claim
            await session.call_tool("heartbeat", {"run_id": claim["run_id"], "progress": "half"})
            done = await session.call_tool("complete_task", {"run_id": claim["run_id"], "result": {"ok": True}})
            assert not done.is_error
            cycles.append(time.perf_counter() - start)
        for _ in range(calls):
            start = time.perf_counter()
            got = await session.call_tool("get_task", {"task_id": task_id, "events": 30})
            assert not got.is_error
            reads.append(time.perf_counter() - start)
    return cycles, reads


def rest_side(srv: srvmod.Server, tasks: int, calls: int, task_id: str) -> tuple[list[float], list[float]]:
    cycles: list[float] = []
    reads: list[float] = []
    headers = srv.auth("bench-rest", kind="agent_session", role="agent")
    with httpx.Client(base_url=srv.base_url, headers=headers) as http:
        for _ in range(tasks):
            start = time.perf_counter()
            claim = http.post("/api/agent/tasks/claim-next", json={"network_channel": "bench-rest"}).json()["claim"]
            run_id = claim["run"]["id"]
            http.post(f"/api/agent/tasks/{run_id}/heartbeat", json={"progress": "half"}).raise_for_status()
            http.post(f"/api/agent/tasks/{run_id}/complete", json={"result": {"ok": True}}).raise_for_status()
            cycles.append(time.perf_counter() - start)
        for _ in range(calls):
            start = time.perf_counter()
            http.get(f"/api/tasks/{task_id}").raise_for_status()
            reads.append(time.perf_counter() - start)
    return cycles, reads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=200, help="agent cycles per side")
    parser.add_argument("--calls", type=int, default=300, help="reads per side")
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="taskloom-bench-mcp-")
    srv = srvmod.start(f"sqlite:///{folder}/taskloom.db", data_dir=folder)
    try:
        with httpx.Client(base_url=srv.base_url, headers=srv.auth("boss")) as boss:
            for channel in ("bench-mcp", "bench-rest"):
                tasks: list[dict[str, Any]] = [{"title": f"job {i}", "network_channel": channel,
                                                "metadata": {"i": i}} for i in range(args.tasks)]
                for body in tasks:
                    boss.post("/api/tasks", json=body).raise_for_status()
            task_id = boss.post("/api/tasks", json={"title": "read me", "start": False}).json()["task"]["id"]
        mcp_cycles, mcp_reads = asyncio.run(mcp_side(srv, args.tasks, args.calls, task_id))
        rest_cycles, rest_reads = rest_side(srv, args.tasks, args.calls, task_id)
    finally:
        srv.stop()
    print(f"MCP over streamable HTTP vs REST, same server, SQLite, one call at a time ({args.tasks} cycles):")
    a = summary("MCP claim+heartbeat+complete", mcp_cycles)
    b = summary("REST claim+heartbeat+complete", rest_cycles)
    print(f"  ratio MCP/REST: {a / b:.2f}x")
    c = summary("MCP get_task", mcp_reads)
    d = summary("REST GET /api/tasks/{id}", rest_reads)
    print(f"  ratio MCP/REST: {c / d:.2f}x")


if __name__ == "__main__":
    main()
