#!/usr/bin/env python3
"""Operations benchmarks (issue #12), over real HTTP against `taskloom serve` subprocesses.

Parts (``--only``, comma-separated; default all):
  metrics  the hot path with metrics and request logs on (the default) vs both off
           (TASKLOOM_METRICS=0, TASKLOOM_LOG_LEVEL=warning): claim-next -> complete cycles/s and
           claim p50/p99, the two servers measured alternately in the same run, --repeat times.
  purge    claim-next p99 while the retention service deletes --purge-tasks finished tasks, vs
           the same claims on the same database with no purge running (same run).
  purge-cli  the same with `taskloom purge` running as another process (not in the default set).

    .venv/bin/python bench/ops.py                      # both parts, SQLite
    .venv/bin/python bench/ops.py --only metrics --backend postgres
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src"), str(ROOT / "bench")]

from bench.common import log, ms, pct  # noqa: E402
from bench.fills import fill_history, fresh_database, prefill  # noqa: E402
from run import Client, drain  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
OFF = {"TASKLOOM_METRICS": "0", "TASKLOOM_LOG_LEVEL": "warning"}
ON = {"TASKLOOM_LOG_FORMAT": "json"}


async def cycles(srv: srvmod.Server, agents: int) -> dict[str, Any]:
    async with Client(srv, agents) as c:
        return await drain(c, agents)


def part_metrics(args: argparse.Namespace) -> list[str]:
    results: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    for rep in range(args.repeat):
        for name, env in (("on", ON), ("off", OFF)) if rep % 2 == 0 else (("off", OFF), ("on", ON)):
            with fresh_database(args.backend, args.pg_url) as url:
                prefill(url, args.tasks)
                srv = srvmod.start(url, env=env, timeout=120)
                try:
                    r = asyncio.run(cycles(srv, args.agents))
                finally:
                    srv.stop()
                results[name].append(r)
                log(f"  metrics {name}: {r['rate']:.0f} cycles/s, claim p50 {r['claim_p50']:.1f} p99 "
                    f"{r['claim_p99']:.1f} ms")

    def m(name: str, key: str) -> float:
        return statistics.median(r[key] for r in results[name])

    ratio = m("on", "rate") / m("off", "rate")
    return [
        f"| metrics + request logs on vs off ({args.backend}, {args.agents} agents, {args.tasks} tasks, "
        f"medians of {args.repeat}) | on | off | on/off |",
        "|---|---|---|---|",
        f"| cycles/s | {m('on', 'rate'):.0f} | {m('off', 'rate'):.0f} | ×{ratio:.2f} |",
        f"| claim p50 ms | {m('on', 'claim_p50'):.1f} | {m('off', 'claim_p50'):.1f} | |",
        f"| claim p99 ms | {m('on', 'claim_p99'):.1f} | {m('off', 'claim_p99'):.1f} | |",
    ]


async def paced_claims(srv: srvmod.Server, seconds: float, stop: Any = None) -> list[float]:
    """Sequential create -> claim -> complete for ``seconds`` (or until ``stop()``): claim latencies."""
    out: list[float] = []
    async with Client(srv, 1) as c:
        t_end = time.monotonic() + seconds
        while time.monotonic() < t_end and not (stop and stop()):
            await c.post("/api/tasks", {"title": "live", "network_channel": "live"}, c.admin)
            status, body, dt = await c.post("/api/agent/tasks/claim-next", {"network_channel": "live"}, c.agents[0])
            if status != 200:
                raise RuntimeError(f"claim-next answered {status}: {body}")
            out.append(dt)
            claim = body["claim"]
            await c.post(f"/api/agent/tasks/{claim['run']['id']}/complete", {"claim_token": claim["claim_token"]},
                         c.agents[0])
    return out


def _remaining(url: str) -> int:
    return int(srvmod.query(url, "SELECT COUNT(*) FROM tasks WHERE title LIKE 'finished task%'")[0][0])


def part_purge(args: argparse.Namespace, *, by_cli: bool) -> list[str]:
    """Claims on a quiet server, then while the retention service (or `taskloom purge`) deletes
    --purge-tasks finished tasks from the same database."""
    with fresh_database(args.backend, args.pg_url) as url:
        log(f"  filling {args.purge_tasks} finished tasks ...")
        fill_history(url, args.purge_tasks)
        srv = srvmod.start(url, env={"TASKLOOM_RETENTION_DAYS": "0"}, timeout=120)
        try:
            quiet = asyncio.run(paced_claims(srv, args.seconds))
        finally:
            srv.stop()
        # The same database, now with retention on (everything closed over a second ago goes), or the CLI.
        env = {"TASKLOOM_RETENTION_DAYS": "0" if by_cli else "0.00001"}
        srv = srvmod.start(url, env=env, timeout=120)
        purge = None
        try:
            t0 = time.monotonic()
            if by_cli:
                purge = subprocess.Popen([*srvmod._taskloom_command(), "purge", "--older-than", "1s", "--database",
                                          url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            checked = [0.0, args.purge_tasks]

            def done() -> bool:
                if purge is not None:
                    return purge.poll() is not None
                if time.monotonic() - checked[0] > 2:
                    checked[:] = [time.monotonic(), _remaining(url)]
                return checked[1] == 0

            during = asyncio.run(paced_claims(srv, 3600, stop=done))
            took = time.monotonic() - t0
            if purge is not None and purge.wait() != 0:
                raise RuntimeError(f"purge failed: {purge.communicate()[1]}")
            log(f"  {'taskloom purge' if by_cli else 'retention service'}: {args.purge_tasks} tasks in {took:.1f} s")
            # The machine's load may change over a long purge: measure the quiet figure again after it.
            quiet += asyncio.run(paced_claims(srv, args.seconds))
        finally:
            srv.stop()
    ratio = pct(during, 99) / pct(quiet, 99)
    who = "`taskloom purge` (another process)" if by_cli else "the retention service"
    return [
        f"| claim latency while {who} deletes {args.purge_tasks} finished tasks ({args.backend}) "
        "| no purge (before + after) | during purge | during/no purge |",
        "|---|---|---|---|",
        f"| claim p50 ms | {ms(pct(quiet, 50)):.1f} | {ms(pct(during, 50)):.1f} | |",
        f"| claim p99 ms | {ms(pct(quiet, 99)):.1f} | {ms(pct(during, 99)):.1f} | ×{ratio:.2f} |",
        f"| claims measured | {len(quiet)} | {len(during)} | purge took {took:.0f} s |",
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    p.add_argument("--only", default="metrics,purge")
    p.add_argument("--agents", type=int, default=16)
    p.add_argument("--tasks", type=int, default=4000, help="tasks drained per metrics measurement")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--purge-tasks", type=int, default=200_000)
    p.add_argument("--seconds", type=float, default=10.0, help="baseline claim period for the purge part")
    p.add_argument("--pg-url", default=os.environ.get("TASKLOOM_BENCH_POSTGRES_URL")
                   or os.environ.get("TASKLOOM_TEST_POSTGRES_URL") or PG_DEFAULT)
    args = p.parse_args()
    lines: list[str] = []
    for part in args.only.split(","):
        log(f"{part} ({args.backend}) ...")
        if part == "metrics":
            lines += [""] + part_metrics(args)
        else:
            lines += [""] + part_purge(args, by_cli=part == "purge-cli")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
