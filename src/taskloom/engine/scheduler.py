"""The scheduler: fires due schedules and releases firings that waited behind an open run.

Safe to run in every process on one database: each firing is claimed by a guarded
update of ``next_run_at`` in the transaction that enqueues its run (and on
PostgreSQL due rows are read ``FOR UPDATE SKIP LOCKED``), so a firing is enqueued
exactly once however many schedulers tick at the same moment.

Catch-up after downtime: a schedule found overdue fires once, for its first missed
occurrence, with ``missed_firings`` = how many later occurrences it stands for; then
``next_run_at`` moves to the first occurrence after now. No burst.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from taskloom.engine.engine import Service
from taskloom.engine.observe import schedule_firings
from taskloom.engine.schedules import fire_due, release_waiting

if TYPE_CHECKING:
    from taskloom.engine.engine import Engine

BATCH = 500


class Scheduler(Service):
    name = "scheduler"

    def __init__(self, interval: float = 1.0, batch: int = BATCH):
        self.interval = interval
        self.batch = batch
        self.fired = 0

    async def tick(self, engine: Engine) -> None:
        while True:
            n = await engine.system_write(lambda tx, ctx: fire_due(tx, ctx, self.batch))
            self.fired += n
            schedule_firings("fired", n)
            if n < self.batch:
                break
        while await engine.system_write(lambda tx, ctx: release_waiting(tx, ctx, self.batch)) >= self.batch:
            pass


def interval_from_env(default: float = 1.0) -> float:
    value = os.environ.get("TASKLOOM_SCHEDULER_INTERVAL_SECONDS")
    return default if value in (None, "") else float(value)
