#!/usr/bin/env python3
"""Usage benchmark (issue 16): GET /api/observe/usage over 100,000 runs.

Seeds --runs finished runs (with their tasks) into a fresh SQLite database through the
storage layer, recording each run's usage through the same roll-up code a heartbeat or
complete uses (engine/usage.py), then starts ``taskloom serve`` on it and times, over real
HTTP (one keep-alive client, one request at a time), --calls requests per query after a
warm-up. The data: runs spread over 30 days and --agents agents; each agent works one home
channel and workspace and uses one or two of six models.

The peer, measured in the same run on the same database, is the same question answered by
summing the runs table (what GET /api/observe/usage would cost without the roll-up).
Target: p99 < 100 ms for every query; the exit status is 1 if one misses it.

    .venv/bin/python bench/usage.py                 # 100,000 runs, 200 agents
    .venv/bin/python bench/usage.py --runs 20000 --calls 50
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

import httpx  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402

from taskloom.domain.actors import SYSTEM  # noqa: E402
from taskloom.engine import usage as usage_ops  # noqa: E402
from taskloom.engine.context import Ctx  # noqa: E402
from taskloom.storage import open_storage  # noqa: E402
from taskloom.storage.protocols import Tx  # noqa: E402

TARGET_MS = 100.0
MODELS = ("opus", "sonnet", "haiku", "gpt-large", "gpt-small", "local-8b")
DAYS = 30


def seed(tx: Tx, first: int, runs: int, agents: int, rng: random.Random) -> None:
    start = time.time() - DAYS * 86_400
    homes = [(f"channel-{i % 20}", f"ws-{i % 10}", rng.sample(MODELS, rng.choice((1, 2)))) for i in range(agents)]
    for i in range(first, first + runs):
        at = start + rng.random() * DAYS * 86_400
        a = rng.randrange(agents)
        channel, workspace, models = homes[a]
        task_id, run_id = f"task_bu{i:08d}", f"run_bu{i:08d}"
        tx.task_insert({
            "id": task_id, "identifier": f"BU-{i}", "title": "bench", "status": "completed", "priority": 50,
            "scope": "workspace", "workspace_id": workspace, "created_by_kind": "human", "created_by_ref": "bench",
            "origin_kind": "http", "approval_policy": "none", "approval_state": "not_required", "max_attempts": 1,
            "attempt_limit": 1, "attempts": 1, "network_channel": channel, "created_at": at, "updated_at": at,
            "last_activity_at": at,
        })
        run = tx.run_insert({
            "id": run_id, "task_id": task_id, "attempt": 1, "status": "completed", "priority": 50,
            "network_channel": channel, "workspace_id": workspace, "available_at": at, "queued_at": at,
            "claimed_at": at, "ended_at": at + 30, "claimed_by_kind": "agent_session", "claimed_by_ref": f"agent-{a}",
            "origin_kind": "http", "input_tokens": rng.randint(100, 20_000), "output_tokens": rng.randint(10, 4000),
            "total_cost": round(rng.random() / 10, 6), "tool_call_count": rng.randint(0, 30),
            "model": rng.choice(models), "provider": "bench",
        })
        usage_ops.record(tx, Ctx(now=at, actor=SYSTEM), run)


async def seed_database(url: str, runs: int, agents: int) -> float:
    storage = open_storage(url)
    storage.migrate()
    await storage.start()
    started = time.perf_counter()
    try:
        rng = random.Random(16)
        for done in range(0, runs, 10_000):
            await storage.write(lambda tx, done=done, n=min(10_000, runs - done): seed(tx, done, n, agents, rng))
    finally:
        await storage.close()
    return time.perf_counter() - started


def queries() -> list[tuple[str, str]]:
    week = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 7 * 86_400 - 3600 * 5))
    return [
        ("totals", ""),
        ("group_by=agent", "group_by=agent"),
        ("group_by=model", "group_by=model"),
        ("group_by=agent,day", "group_by=agent,day"),
        ("group_by=model,day, since a week ago (part-day edges)", f"group_by=model,day&since={week}"),
        ("group_by=channel,workspace", "group_by=channel,workspace"),
        ("group_by=day&agent=agent-7", "group_by=day&agent=agent-7"),
    ]


# The peer: the same sums straight from the runs table.
PEER_SQL = {
    "group_by=agent": "SELECT claimed_by_ref, SUM(input_tokens), SUM(output_tokens), SUM(total_cost),"
                      " SUM(tool_call_count), COUNT(*) FROM runs WHERE claimed_at IS NOT NULL GROUP BY claimed_by_ref",
    "group_by=agent,day": "SELECT claimed_by_ref, date(claimed_at, 'unixepoch') AS d, SUM(input_tokens),"
                          " SUM(output_tokens), SUM(total_cost), SUM(tool_call_count), COUNT(*) FROM runs"
                          " WHERE claimed_at IS NOT NULL GROUP BY claimed_by_ref, d",
}


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, min(len(s) - 1, round(p / 100 * len(s) + 0.5) - 1))]


def measure(srv: srvmod.Server, calls: int, warmup: int) -> list[dict[str, Any]]:
    results = []
    with httpx.Client(base_url=srv.base_url, headers=srv.auth("bench"), timeout=30) as client:
        for label, qs in queries():
            for _ in range(warmup):
                client.get("/api/observe/usage?" + qs).raise_for_status()
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                r = client.get("/api/observe/usage?" + qs)
                times.append((time.perf_counter() - t) * 1000)
                r.raise_for_status()
            results.append({"query": label, "groups": len(r.json()["groups"]), "median_ms": statistics.median(times),
                            "p99_ms": pct(times, 99), "max_ms": max(times)})
    return results


def measure_peer(path: str, calls: int) -> dict[str, float]:
    conn = sqlite3.connect(path)
    out = {}
    try:
        for label, sql in PEER_SQL.items():
            times = []
            for _ in range(calls):
                t = time.perf_counter()
                conn.execute(sql).fetchall()
                times.append((time.perf_counter() - t) * 1000)
            out[label] = statistics.median(times)
    finally:
        conn.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="taskloom-bench-usage-") as data_dir:
        path = f"{data_dir}/taskloom.db"
        url = f"sqlite:///{path}"
        seed_s = asyncio.run(seed_database(url, args.runs, args.agents))
        rollup_rows = sqlite3.connect(path).execute("SELECT COUNT(*) FROM usage_rollup").fetchone()[0]
        srv = srvmod.start(url, data_dir=data_dir)
        try:
            results = measure(srv, args.calls, args.warmup)
        finally:
            srv.stop()
        peer = measure_peer(path, max(5, args.calls // 20))
    print(f"GET /api/observe/usage on SQLite: {args.runs:,} runs, {args.agents} agents, {DAYS} days "
          f"({rollup_rows:,} roll-up rows), seeded in {seed_s:.1f} s; target p99 < {TARGET_MS:.0f} ms\n")
    print(f"| {'query':<54} | groups | median ms | p99 ms | max ms | peer median ms | ok  |")
    print(f"|{'-' * 56}|--------|-----------|--------|--------|----------------|-----|")
    for r in results:
        p = peer.get(r["query"])
        peer_text = f"{p:.1f} ({p / r['median_ms']:.0f}x)" if p else "-"
        ok = "yes" if r["p99_ms"] < TARGET_MS else "NO"
        print(f"| {r['query']:<54} | {r['groups']:>6} | {r['median_ms']:>9.2f} | {r['p99_ms']:>6.2f} | "
              f"{r['max_ms']:>6.2f} | {peer_text:>14} | {ok:<3} |")
    print("\npeer: the same sums read from the runs table by SQL alone (no HTTP), median")
    return 0 if all(r["p99_ms"] < TARGET_MS for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
