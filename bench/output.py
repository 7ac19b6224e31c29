#!/usr/bin/env python3
"""Streamed output benchmark (issue 16): how soon a follower sees a chunk.

Starts ``taskloom serve`` on a fresh SQLite database, claims one run, opens the task's SSE
stream (the follower) and posts --chunks chunks of output one after another over real HTTP
(keep-alive, aiohttp). For each chunk it notes when the POST's answer arrived and when the
follower received its ``run.output`` event; the follower latency is the difference (negative
when the event arrived before the answer). Target: p99 <= 50 ms. As the peer, measured in the
same run, the POST's own latency is set beside a heartbeat's.

    .venv/bin/python bench/output.py                # 500 chunks
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import aiohttp  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402

TARGET_MS = 50.0


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))]


async def follow(session: aiohttp.ClientSession, url: str, seen: dict[int, float], want: int,
                 ready: asyncio.Event, headers: dict[str, str]) -> None:
    async with session.get(url, headers=headers) as resp:
        ready.set()
        async for raw in resp.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("data: "):
                event = json.loads(line[6:])
                if event["type"] == "run.output":
                    seen[int(event["timeline"]["payload"]["chunk"].split()[0])] = time.perf_counter()
                    if len(seen) >= want:
                        return


async def run(chunks: int, spacing: float) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-output-") as data_dir:
        srv = srvmod.start(f"sqlite:///{data_dir}/taskloom.db", data_dir=data_dir)
        try:
            admin = srv.auth("bench")
            agent = srv.auth("agent-1", kind="agent_session", role="agent")
            async with aiohttp.ClientSession(srv.base_url) as http:
                async with http.post("/api/tasks", json={"title": "streamed"}, headers=admin) as r:
                    task = (await r.json())["task"]
                async with http.post("/api/agent/tasks/claim-next", json={}, headers=agent) as r:
                    run_id = (await r.json())["claim"]["run"]["id"]
                async with http.get(f"/api/tasks/{task['id']}/timeline", headers=admin) as r:
                    last = (await r.json())["timeline"][-1]["sequence"]
                seen: dict[int, float] = {}
                ready = asyncio.Event()
                follower = asyncio.create_task(follow(http, f"/api/tasks/{task['id']}/stream?after_sequence={last}",
                                                      seen, chunks, ready, admin))
                await ready.wait()
                await asyncio.sleep(0.2)
                answered: dict[int, float] = {}
                post_ms, heartbeat_ms = [], []
                for i in range(chunks):
                    t = time.perf_counter()
                    async with http.post(f"/api/agent/tasks/{run_id}/output",
                                         json={"chunk": f"{i} " + "token " * 20}, headers=agent) as r:
                        assert r.status == 200, await r.text()
                    answered[i] = time.perf_counter()
                    post_ms.append((answered[i] - t) * 1000)
                    t = time.perf_counter()
                    async with http.post(f"/api/agent/tasks/{run_id}/heartbeat", json={}, headers=agent) as r:
                        assert r.status == 200
                    heartbeat_ms.append((time.perf_counter() - t) * 1000)
                    await asyncio.sleep(spacing)
                await asyncio.wait_for(follower, 30)
        finally:
            srv.stop()
    return {"follower_ms": [(seen[i] - answered[i]) * 1000 for i in range(chunks)], "post_ms": post_ms,
            "heartbeat_ms": heartbeat_ms}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=500)
    parser.add_argument("--spacing", type=float, default=0.01, help="seconds between chunks")
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args.chunks, args.spacing))
    f = figures["follower_ms"]
    print(f"Streamed output on SQLite: {args.chunks} chunks, one follower on the task's SSE stream; "
          f"target p99 <= {TARGET_MS:.0f} ms after the POST's answer\n")
    print("| measure                                   | median ms | p99 ms | max ms |")
    print("|-------------------------------------------|-----------|--------|--------|")
    rows = [("follower sees the chunk (after the answer)", f),
            ("POST /api/agent/tasks/{id}/output", figures["post_ms"]),
            ("peer: POST .../heartbeat", figures["heartbeat_ms"])]
    for label, values in rows:
        print(f"| {label:<41} | {statistics.median(values):>9.2f} | {pct(values, 99):>6.2f} | {max(values):>6.2f} |")
    ratio = statistics.median(figures["post_ms"]) / statistics.median(figures["heartbeat_ms"])
    print(f"\noutput POST / heartbeat POST, medians: {ratio:.2f}x")
    return 0 if pct(f, 99) <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
