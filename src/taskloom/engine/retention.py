"""Retention: delete closed tasks older than a cutoff, with everything that hangs off them
(runs, events, messages, webhook deliveries and attempts, triage rows, usage detail —
the schema cascades), in small transactions so claims are never held up.

A task that belongs to a tree (parent/children) or a DAG (dependencies) goes only with
its whole connected group, and only when every member is closed and older than the
cutoff: a group with an open member is kept whole. Scheduled tasks (their schedule
definition) are never purged. The usage roll-up (totals by day) is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from taskloom.domain.actors import SYSTEM
from taskloom.domain.states import TASK_TERMINAL
from taskloom.engine.context import Ctx
from taskloom.engine.engine import Service
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

if TYPE_CHECKING:
    from taskloom.engine.engine import Engine

log = logging.getLogger("taskloom.background")
MAX_BATCH = 1000
DEFAULT_BATCH = 500  # the most per transaction; the size actually used adapts to BATCH_SECONDS
BATCH_SECONDS = 0.02  # how long one batch may hold the writer (a claim may wait this long)
GROUP_LIMIT = 10_000  # a connected group larger than this is left alone (and logged)


@dataclass
class Page:
    """One batch: the task ids chosen (deleted unless a dry run) and where the next page starts."""

    ids: list[str] = field(default_factory=list)
    cursor: tuple[float, str] | None = None
    kept_groups: int = 0


def _group(tx: Tx, task_id: str) -> list[Row] | None:
    """The tree/DAG group of ``task_id`` (every task linked to it by parent or dependency)."""
    seen: dict[str, Row] = {}
    todo = [task_id]
    while todo:
        batch, todo = todo[:200], todo[200:]
        for row in tx.retention_group_step([t for t in batch if t not in seen]):
            if row["id"] not in seen:
                seen[row["id"]] = row
                todo.extend(n for n in row["_links"] if n not in seen)
        if len(seen) > GROUP_LIMIT:
            return None
    return list(seen.values())


def select_page(tx: Tx, cutoff: float, batch: int, cursor: tuple[float, str] | None) -> Page:
    """Up to ``batch`` purgeable task ids, oldest first, starting after ``cursor``."""
    page = Page(cursor=cursor)
    chosen: set[str] = set()
    while len(page.ids) < batch:
        candidates = tx.retention_candidates(cutoff, page.cursor, batch)
        if not candidates:
            page.cursor = None
            break
        for cand in candidates:
            page.cursor = (cand["closed_at"], cand["id"])
            if cand["id"] in chosen:
                continue
            if not cand["linked"]:
                chosen.add(cand["id"])
                page.ids.append(cand["id"])
            else:
                group = _group(tx, cand["id"])
                if group is None or any(
                    g["status"] not in TASK_TERMINAL or g["closed_at"] is None or g["closed_at"] >= cutoff
                    or g["scheduled"] for g in group
                ):
                    page.kept_groups += 1
                    continue
                for g in group:
                    if g["id"] not in chosen:
                        chosen.add(g["id"])
                        page.ids.append(g["id"])
            if len(page.ids) >= batch:
                break
    return page


def purge_page(tx: Tx, ctx: Ctx, cutoff: float, batch: int, cursor: tuple[float, str] | None,
               dry_run: bool = False) -> Page:
    page = select_page(tx, cutoff, min(batch, MAX_BATCH), cursor)
    if page.ids and not dry_run:
        tx.tasks_delete(page.ids)
    return page


async def purge(engine: Engine, cutoff: float, *, batch: int = DEFAULT_BATCH, dry_run: bool = False,
                min_pause: float = 0.01) -> tuple[int, int]:
    """Page through everything older than ``cutoff``: (tasks deleted or, dry, that would be; groups kept).

    A claim arriving during a batch waits for it, so batches are sized to take about
    ``BATCH_SECONDS`` (starting small, never more than ``batch`` tasks), and after each one it
    pauses at least as long as the batch took: the writer spends at most half its time purging.
    """
    total = kept = 0
    cursor: tuple[float, str] | None = None
    size = min(batch, 20)
    while True:
        def step(tx: Tx, ctx: Ctx, cursor: tuple[float, str] | None = cursor, size: int = size) -> Page:
            return purge_page(tx, ctx, cutoff, size, cursor, dry_run)

        began = time.monotonic()
        page = await (engine.read(SYSTEM, step) if dry_run else engine.system_write(step))
        took = time.monotonic() - began
        if took > BATCH_SECONDS and size > 1:
            size = max(1, size // 2)
        elif took < BATCH_SECONDS / 2:
            size = min(batch, size * 2)
        total += len(page.ids)
        kept += page.kept_groups
        if page.cursor is None:
            return total, kept
        # Deleted rows are gone, so a real run could restart from the top; the cursor also
        # skips past groups that were kept.
        cursor = page.cursor
        await asyncio.sleep(0 if dry_run else max(min_pause, took))  # let the claims waiting go first


class RetentionService(Service):
    """Applies TASKLOOM_RETENTION_DAYS (default 30; 0 keeps everything) every interval."""

    name = "retention"

    def __init__(self, days: float, interval: float = 60.0, batch: int = DEFAULT_BATCH):
        self.days = days
        self.interval = interval
        self.batch = batch

    async def tick(self, engine: Engine) -> None:
        if self.days <= 0:
            return
        began = time.monotonic()
        cutoff = engine.clock.now() - self.days * 86_400
        deleted, kept = await purge(engine, cutoff, batch=self.batch)
        if deleted or kept:
            log.info("retention pass: %d closed tasks older than %g days deleted", deleted, self.days,
                     extra={"fields": {"action": "retention.pass", "deleted": deleted, "groups_kept": kept,
                                       "days": self.days, "seconds": round(time.monotonic() - began, 3)}})
