#!/usr/bin/env python3
"""Dashboard read benchmark (issue 15): GET /api/observe/queues and /api/observe/agents.

Seeds a fresh SQLite database through the storage layer with --runs runs claimed over the
last hour (the window the queues view's depth history reads) on --channels channels by
--agents agents, plus --queued runs still waiting and --old runs finished a day ago (history
the views must not read), then starts ``taskloom serve`` on it and times --calls requests per
endpoint over real HTTP (one keep-alive client, one request at a time) after a warm-up.

The peer, measured in the same run on the same database, is the existing dashboard summary
GET /api/observe/tasks/dashboard. Target: p99 < 250 ms for both views at 50,000 runs claimed in
the hour (a busy deployment: 14 claims per second, all day); the exit status is 1 if one misses it.

    .venv/bin/python bench/dashboard.py
    .venv/bin/python bench/dashboard.py --runs 20000 --calls 30
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402
from bench.usage import pct  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402

from taskloom.storage import open_storage  # noqa: E402
from taskloom.storage.protocols import Tx  # noqa: E402

TARGET_MS = 250.0
OPTIONS = {
    "runs": (50_000, "runs claimed in the last hour"), "queued": (2_000, "runs still queued"),
    "old": (100_000, "runs finished a day ago"), "channels": (20, "channels"), "agents": (200, "claimers"),
    "calls": (50, "timed requests per endpoint"), "warmup": (3, "untimed requests first"),
}
ENDPOINTS = ("/api/observe/queues", "/api/observe/agents", "/api/observe/tasks/dashboard")


def seed(tx: Tx, first: int, count: int, args: argparse.Namespace, rng: random.Random, now: float) -> None:
    for i in range(first, first + count):
        kind = "old" if i < args.old else "queued" if i < args.old + args.queued else "recent"
        claimed = None if kind == "queued" else (now - 86_400 - rng.random() * 3600 if kind == "old"
                                                 else now - rng.random() * 3600)
        queued = (claimed or now) - rng.random() * 120
        channel = f"channel-{rng.randrange(args.channels)}"
        live = kind == "recent" and rng.random() < 0.02
        status = "queued" if kind == "queued" else ("running" if live else "completed")
        task_id = f"task_bd{i:08d}"
        tx.task_insert({
            "id": task_id, "identifier": f"BD-{i}", "title": f"bench {i}",
            "status": {"queued": "ready", "running": "in_progress"}.get(status, "completed"), "priority": 50,
            "scope": "global", "created_by_kind": "human", "created_by_ref": "bench", "origin_kind": "http",
            "approval_policy": "none", "approval_state": "not_required", "max_attempts": 3, "attempt_limit": 3,
            "attempts": 1, "network_channel": channel, "created_at": queued, "updated_at": queued,
            "last_activity_at": claimed or queued,
        })
        tx.run_insert({
            "id": f"run_bd{i:08d}", "task_id": task_id, "attempt": 1, "status": status, "priority": 50,
            "network_channel": channel, "available_at": queued, "queued_at": queued, "claimed_at": claimed,
            "ended_at": None if status != "completed" else (claimed or queued) + 20,
            "heartbeat_at": claimed, "lease_until": (now + 300) if live else None,
            "claimed_by_kind": None if claimed is None else "agent_session",
            "claimed_by_ref": None if claimed is None else f"agent-{rng.randrange(args.agents)}", "origin_kind": "http",
        })


async def seed_database(url: str, args: argparse.Namespace) -> float:
    storage = open_storage(url)
    storage.migrate()
    await storage.start()
    started, now = time.perf_counter(), time.time()
    total = args.old + args.queued + args.runs
    try:
        rng = random.Random(15)
        for done in range(0, total, 10_000):
            n = min(10_000, total - done)
            await storage.write(lambda tx, done=done, n=n: seed(tx, done, n, args, rng, now))
    finally:
        await storage.close()
    return time.perf_counter() - started


def measure(srv: srvmod.Server, calls: int, warmup: int) -> list[dict[str, Any]]:
    results = []
    with httpx.Client(base_url=srv.base_url, headers=srv.auth("bench"), timeout=60) as client:
        for path in ENDPOINTS:
            for _ in range(warmup):
                client.get(path).raise_for_status()
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                client.get(path).raise_for_status()
                times.append((time.perf_counter() - t) * 1000)
            results.append({"path": path, "median_ms": statistics.median(times), "p99_ms": pct(times, 99)})
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (default, meaning) in OPTIONS.items():
        parser.add_argument(f"--{name}", type=int, default=default, help=meaning)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-dashboard-") as data_dir:
        url = f"sqlite:///{data_dir}/taskloom.db"
        seed_s = asyncio.run(seed_database(url, args))
        srv = srvmod.start(url, data_dir=data_dir)
        try:
            results = measure(srv, args.calls, args.warmup)
        finally:
            srv.stop()
    print(f"Dashboard reads on SQLite: {args.runs:,} runs claimed in the last hour, {args.queued:,} queued, "
          f"{args.old:,} older, {args.channels} channels, {args.agents} agents (seeded in {seed_s:.1f} s); "
          f"target p99 < {TARGET_MS:.0f} ms\n")
    peer = results[-1]["median_ms"]
    print(f"| {'endpoint':<30} | median ms | p99 ms | vs dashboard | ok  |")
    print(f"|{'-' * 32}|-----------|--------|--------------|-----|")
    for r in results:
        ok = "yes" if r["p99_ms"] < TARGET_MS else "NO"
        ratio = r["median_ms"] / peer
        print(f"| {r['path']:<30} | {r['median_ms']:>9.1f} | {r['p99_ms']:>6.1f} | {ratio:>11.2f}x | {ok:<3} |")
    return 0 if all(r["p99_ms"] < TARGET_MS for r in results[:2]) else 1


if __name__ == "__main__":
    sys.exit(main())
