#!/usr/bin/env python3
"""Scheduler benchmark: 10,000 active cron tasks ("* * * * *") firing every minute on SQLite.

Measures, for each of --rounds minute boundaries, how long after the due time the last
of the N firings was committed (enqueued, durable). Target: <= 5 s for 10,000.

The scheduler runs as in production (the Scheduler service loop, 1 s interval) on a
real clock shifted so a minute boundary is a few seconds away; no HTTP. Between rounds
the runs are marked completed with one SQL statement (standing in for agents), so the
next minute fires every task again instead of queueing behind open runs.

    .venv/bin/python bench/schedules.py                 # 10,000 tasks, 3 rounds
    .venv/bin/python bench/schedules.py --tasks 2000 --rounds 1
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from taskloom.clock import Clock  # noqa: E402
from taskloom.domain import schedules as sched_math  # noqa: E402
from taskloom.domain.actors import SYSTEM  # noqa: E402
from taskloom.engine import schedules as ops  # noqa: E402
from taskloom.engine.engine import Engine  # noqa: E402
from taskloom.engine.scheduler import Scheduler  # noqa: E402
from taskloom.storage import open_storage  # noqa: E402

LEAD = 4.0  # seconds between "now" and the next due minute when a round starts


class ShiftedClock(Clock):
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


class TimedScheduler(Scheduler):
    """Records the clock time at which each batch of firings committed."""

    def __init__(self) -> None:
        super().__init__(interval=1.0)
        self.commits: list[tuple[float, int]] = []

    async def tick(self, engine: Engine) -> None:
        while True:
            n = await engine.system_write(lambda tx, ctx: ops.fire_due(tx, ctx, self.batch))
            if n:
                self.commits.append((engine.clock.now(), n))
            if n < self.batch:
                break


def _create_batch(tx: Any, ctx: Any, start: int, count: int) -> None:
    expr, tz_name, nxt = sched_math.validate("cron", "* * * * *", None, ctx.now)
    checked = ops.CheckedSchedule("cron", expr, tz_name, nxt, ctx.now)
    for i in range(start, start + count):
        ops.create(tx, ctx, ops.ScheduleSpec(
            title=f"bench {i}", description="every minute", schedule_kind="cron", schedule_expr="* * * * *",
            payload={"n": i}, created_by=str(uuid.UUID(int=i + 1)), queue="bench-schedules"), checked)


def _finish_all(tx: Any, ctx: Any) -> None:
    """Stand in for agents: every open run completes, every task closes."""
    tx._exec("UPDATE runs SET status = 'completed', ended_at = :now WHERE status = 'queued'", {"now": ctx.now})
    tx._exec("UPDATE tasks SET status = 'completed', closed_at = :now WHERE status = 'ready'", {"now": ctx.now})


async def run(tasks: int, rounds: int) -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix="taskloom-bench-sched-")
    storage = open_storage(f"sqlite:///{folder}/bench.db")
    storage.migrate()
    clock = ShiftedClock()
    scheduler = TimedScheduler()
    engine = Engine(storage, clock, services=[scheduler])
    await engine.start(run_services=False)
    t = time.perf_counter()
    for start in range(0, tasks, 500):
        await engine.write(SYSTEM, lambda tx, ctx, s=start: _create_batch(tx, ctx, s, min(500, tasks - s)))
    create_s = time.perf_counter() - t
    lags: list[float] = []
    cpus: list[float] = []
    loop_task = None
    try:
        for _ in range(rounds):
            now = clock.now()
            due = math.ceil((now + LEAD) / 60.0) * 60.0
            clock.offset += (due - LEAD) - now  # the next due minute is LEAD seconds away
            scheduler.commits.clear()
            cpu0 = time.process_time()
            if loop_task is None:
                loop_task = asyncio.create_task(engine._loop(scheduler))
            deadline = time.time() + LEAD + 60
            while sum(n for _, n in scheduler.commits) < tasks and time.time() < deadline:
                await asyncio.sleep(0.05)
            fired = sum(n for _, n in scheduler.commits)
            last = max((c for c, _ in scheduler.commits), default=float("nan"))
            lags.append(last - due)
            cpu = time.process_time() - cpu0
            cpus.append(cpu)
            print(f"round: {fired} firings, last enqueued {last - due:.2f} s after the due time "
                  f"(process CPU {cpu:.2f} s, load average {os.getloadavg()[0]:.1f})", flush=True)
            await engine.system_write(_finish_all)
    finally:
        engine._stopping.set()
        if loop_task is not None:
            loop_task.cancel()
            try:
                await loop_task
            except (asyncio.CancelledError, Exception):
                pass
        await engine.stop()
    return {"tasks": tasks, "create_seconds": create_s, "lags": lags, "cpus": cpus}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = asyncio.run(run(args.tasks, args.rounds))
    worst = max(result["lags"])
    print(f"schedules: {result['tasks']} active cron tasks (created in {result['create_seconds']:.1f} s); "
          f"all enqueued within {worst:.2f} s of the due minute (worst of {len(result['lags'])} rounds; "
          f"target <= 5 s) -> {'PASS' if worst <= 5.0 else 'FAIL'}; scheduler CPU per round "
          f"{max(result['cpus']):.2f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
