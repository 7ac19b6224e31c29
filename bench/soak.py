#!/usr/bin/env python3
"""Soak: create -> claim-next -> heartbeat -> complete, plus SSE clients, for --minutes against a
real `taskloom serve` subprocess on loopback. It must show RSS flat once the SQLite page cache
has warmed (TASKLOOM_SQLITE_CACHE_KIB per connection), no growth in p99, and no growth in open
file descriptors.

Every 30 s it prints the server's RSS and open descriptors; every minute the p99 (and p50) of
each operation in that minute; at the end the descriptor count and a summary.

    .venv/bin/python bench/soak.py                      # 10 minutes, SQLite
    .venv/bin/python bench/soak.py --minutes 3 --backend postgres --agents 4 --sse 4

The loops are bounded by --minutes and the request rate by --agents (each waits for its answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import aiohttp  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
CHANNEL = "soak"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))] if ordered else 0.0


class Stats:
    def __init__(self) -> None:
        self.minutes: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        self.errors: dict[str, int] = defaultdict(int)
        self.start = time.monotonic()

    def add(self, op: str, ms: float) -> None:
        self.minutes[int((time.monotonic() - self.start) // 60)][op].append(ms)


async def timed(stats: Stats, op: str, call: Any) -> Any:
    """(status, JSON body) of one call, its latency recorded; a failed connection is an error, status 0."""
    began = time.perf_counter()
    try:
        async with call as response:
            body = await response.json() if response.status not in (204,) else None
            stats.add(op, (time.perf_counter() - began) * 1000)
            if response.status >= 400:
                stats.errors[f"{op} {response.status}"] += 1
            return response.status, body
    except (aiohttp.ClientError, TimeoutError) as exc:
        stats.errors[f"{op} {type(exc).__name__}"] += 1
        await asyncio.sleep(0.1)
        return 0, None


async def worker(session: aiohttp.ClientSession, base: str, admin: dict[str, str], agent: dict[str, str],
                 stats: Stats, until: float) -> None:
    while time.monotonic() < until:
        await timed(stats, "create", session.post(f"{base}/api/tasks", json={"title": "soak", "network_channel": CHANNEL,
                                                                            "metadata": {"n": 1}}, headers=admin))
        status, body = await timed(stats, "claim", session.post(f"{base}/api/agent/tasks/claim-next",
                                                                json={"network_channel": CHANNEL}, headers=agent))
        if status != 200 or not body:
            continue
        run_id = body["claim"]["run"]["id"]
        await timed(stats, "heartbeat", session.post(f"{base}/api/agent/tasks/{run_id}/heartbeat", json={},
                                                     headers=agent))
        await timed(stats, "complete", session.post(f"{base}/api/agent/tasks/{run_id}/complete",
                                                    json={"result": {"ok": True}}, headers=agent))


async def sse_client(session: aiohttp.ClientSession, base: str, admin: dict[str, str], stats: Stats,
                     until: float, hold: float) -> None:
    """Open a task's stream, read it for ``hold`` seconds, close it, repeat on a new task."""
    while time.monotonic() < until:
        status, body = await timed(stats, "create", session.post(f"{base}/api/tasks", json={"title": "watched",
                                                                                        "start": False}, headers=admin))
        if status != 201:
            await asyncio.sleep(1)
            continue
        task_id = body["task"]["id"]
        began = time.perf_counter()
        try:
            async with session.get(f"{base}/api/tasks/{task_id}/stream", headers=admin,
                                   timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as response:
                stats.add("sse_open", (time.perf_counter() - began) * 1000)
                end = min(until, time.monotonic() + hold)
                while time.monotonic() < end:
                    try:
                        await asyncio.wait_for(response.content.readline(), timeout=max(0.1, end - time.monotonic()))
                    except TimeoutError:
                        break
        except aiohttp.ClientError:
            stats.errors["sse"] += 1


async def sampler(pid: int, until: float, samples: list[tuple[float, float, int]], every: float) -> None:
    start = time.monotonic()
    while True:
        samples.append((time.monotonic() - start, rss_mib(pid), fds(pid)))
        print(f"  t={samples[-1][0]:6.0f}s  RSS {samples[-1][1]:7.1f} MiB  fds {samples[-1][2]}", flush=True)
        if time.monotonic() + every > until:
            return
        await asyncio.sleep(every)


async def soak(base: str, srv: Any, minutes: float, agents: int, sse: int, sse_hold: float) -> dict[str, Any]:
    stats = Stats()
    until = time.monotonic() + minutes * 60
    admin = srv.auth("soak-admin")
    samples: list[tuple[float, float, int]] = []
    connector = aiohttp.TCPConnector(limit=agents + sse + 4)
    async with aiohttp.ClientSession(connector=connector) as session:
        jobs = [worker(session, base, admin, srv.auth(f"soak-agent-{i}", kind="agent_session", role="agent"),
                       stats, until) for i in range(agents)]
        jobs += [sse_client(session, base, admin, stats, until, sse_hold) for _ in range(sse)]
        jobs.append(sampler(srv.proc.pid, until, samples, 30.0))
        await asyncio.gather(*jobs)
    await asyncio.sleep(2)  # let closed streams finish on the server
    samples.append((time.monotonic() - stats.start, rss_mib(srv.proc.pid), fds(srv.proc.pid)))
    return {"stats": stats, "samples": samples}


def report(result: dict[str, Any], backend: str, minutes: float) -> str:
    stats: Stats = result["stats"]
    samples = result["samples"]
    lines = [f"## Soak: {backend}, {minutes:g} min", "", "| minute | op | n | p50 ms | p99 ms |", "|---|---|---|---|---|"]
    for minute in sorted(stats.minutes):
        for op, values in sorted(stats.minutes[minute].items()):
            lines.append(f"| {minute + 1} | {op} | {len(values)} | {statistics.median(values):.1f} | "
                         f"{pct(values, 99):.1f} |")
    lines += ["", "| t (s) | RSS MiB | fds |", "|---|---|---|"]
    lines += [f"| {t:.0f} | {rss:.1f} | {fd} |" for t, rss, fd in samples]
    lines += ["", f"errors: {dict(stats.errors) or 'none'}",
              f"fds at the end: {samples[-1][2]} (first sample {samples[0][2]})", "", *summary(stats, samples)]
    return "\n".join(lines)


def summary(stats: Stats, samples: list[tuple[float, float, int]]) -> list[str]:
    """The figures to judge a run by: RSS growth after the first minute (page cache warm-up), p99
    of the first and last full minute per operation, requests and errors."""
    warm = [s for s in samples if s[0] >= 60] or samples
    growth = warm[-1][1] - warm[0][1]
    total = sum(len(v) for m in stats.minutes.values() for v in m.values())
    errors = sum(stats.errors.values())
    full = sorted(stats.minutes)[:-1] or sorted(stats.minutes)  # the last minute is partial
    lines = ["### Summary", "",
             f"- requests: {total}, errors: {errors} ({100.0 * errors / max(total, 1):.3f} %)",
             f"- RSS: {samples[0][1]:.1f} MiB at start, {warm[0][1]:.1f} MiB at {warm[0][0]:.0f} s,"
             f" {warm[-1][1]:.1f} MiB at the end: {growth:+.1f} MiB after warm-up"
             f" ({60 * growth / max(warm[-1][0] - warm[0][0], 1):+.2f} MiB/min)",
             f"- open descriptors: {samples[0][2]} at start, {max(s[2] for s in samples)} at most,"
             f" {samples[-1][2]} at the end"]
    if full:
        first, last = full[0], full[-1]
        for op in sorted(stats.minutes[first]):
            if op in stats.minutes[last]:
                lines.append(f"- p99 {op}: {pct(stats.minutes[first][op], 99):.1f} ms in minute {first + 1},"
                             f" {pct(stats.minutes[last][op], 99):.1f} ms in minute {last + 1}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--sse", type=int, default=4, help="SSE clients, each re-opening a stream every --sse-hold s")
    parser.add_argument("--sse-hold", type=float, default=20.0)
    parser.add_argument("--sqlite-cache-kib", type=int, default=None, help="TASKLOOM_SQLITE_CACHE_KIB for the server")
    args = parser.parse_args()
    env = {"TASKLOOM_SSE_KEEPALIVE_SECONDS": "5"}
    if args.sqlite_cache_kib is not None:
        env["TASKLOOM_SQLITE_CACHE_KIB"] = str(args.sqlite_cache_kib)
    folder = tempfile.mkdtemp(prefix="taskloom-soak-")
    if args.backend == "sqlite":
        url_ctx: Any = None
        url = f"sqlite:///{folder}/soak.db"
    else:
        url_ctx = srvmod.fresh_postgres(os.environ.get("TASKLOOM_TEST_POSTGRES_URL", PG_DEFAULT), "taskloom_soak")
        url = url_ctx.__enter__()
    srv = srvmod.start(url, env=env, data_dir=folder)
    try:
        print(f"soak: {args.backend}, {args.minutes:g} min, {args.agents} agents, {args.sse} SSE clients", flush=True)
        result = asyncio.run(soak(srv.base_url, srv, args.minutes, args.agents, args.sse, args.sse_hold))
        text = report(result, args.backend, args.minutes)
        print(text)
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / f"soak-{args.backend}.md").write_text(text + "\n")
    finally:
        srv.stop()
        if url_ctx is not None:
            url_ctx.__exit__(None, None, None)


if __name__ == "__main__":
    main()
