"""The databases bench/run.py (and bench/ops.py) measure on: a fresh one per repetition, queued
tasks made through the engine's own create_task, and a bulk-inserted finished history."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from bench.common import CHANNEL
from tests.acceptance import server as srvmod

from taskloom.domain.actors import Actor
from taskloom.engine.context import Ctx
from taskloom.engine.tasks import TaskSpec, create_task
from taskloom.storage import open_storage


@contextmanager
def fresh_database(backend: str, pg_url: str) -> Iterator[str]:
    """A brand-new database URL, removed afterwards."""
    if backend == "postgres":
        with srvmod.fresh_postgres(pg_url, prefix="taskloom_bench") as url:
            yield url
        return
    folder = tempfile.mkdtemp(prefix="taskloom-bench-")
    try:
        yield f"sqlite:///{folder}/taskloom.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def prefill(database_url: str, n: int, channel: str = CHANNEL, batch: int = 2000) -> float:
    """Create ``n`` ready tasks in-process through the engine's own create_task (the same rows,
    runs and events an HTTP create makes), ``batch`` per transaction, before the server starts.
    Returns tasks per second."""
    storage = open_storage(database_url)
    storage.migrate()
    actor = Actor(kind="human", ref="bench-admin", role="admin")

    def make(k: int) -> Any:
        return lambda tx: [create_task(tx, Ctx(now=time.time(), actor=actor),
                                       TaskSpec(title="bench task", network_channel=channel)) for _ in range(k)]

    async def go() -> None:
        await storage.start()
        try:
            for start in range(0, n, batch):
                await storage.write(make(min(batch, n - start)))
        finally:
            await storage.close()

    t0 = time.perf_counter()
    asyncio.run(go())
    return n / (time.perf_counter() - t0)


def fill_history(database_url: str, n: int) -> float:
    """Bulk-insert ``n`` finished tasks (task + completed run + one event each) in one transaction."""
    open_storage(database_url).migrate()
    t0 = time.perf_counter()
    now = time.time()
    span = 30 * 86400.0  # spread over the last 30 days
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA cache_size=-262144")
        seq = "WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < :n) "
        tid = "printf('task_hist_%08d', x)"
        rid = "printf('run_hist_%08d', x)"
        conn.execute("BEGIN")
    else:
        conn = psycopg.connect(database_url)
        seq = ""
        tid = "'task_hist_' || lpad(x::text, 8, '0')"
        rid = "'run_hist_' || lpad(x::text, 8, '0')"
    gen = "FROM g" if seq else "FROM generate_series(1, :n) AS x"
    t = "(:base + x * :step)"
    statements = [
        f"{seq}INSERT INTO tasks (id, identifier, title, status, priority, scope, created_by_kind, created_by_ref,"
        " origin_kind, network_channel, approval_policy, approval_state, max_attempts, attempt_limit, attempts,"
        " result, event_seq, created_at, updated_at, started_at, closed_at, last_activity_at)"
        f" SELECT {tid}, 'H-' || x, 'finished task ' || x, 'completed', 50, 'global', 'human', 'history',"
        f" 'http', :channel, 'none', 'not_required', 3, 3, 1, '{{\"ok\":true}}', 1, {t}, {t} + 2, {t} + 1,"
        f" {t} + 2, {t} + 2 {gen}",
        f"{seq}INSERT INTO runs (id, task_id, attempt, status, held, priority, network_channel, available_at,"
        " queued_at, claimed_at, started_at, ended_at, heartbeat_at, lease_until, lease_seconds,"
        " claimed_by_kind, claimed_by_ref, claim_token_hash, origin_kind, result, last_event_type,"
        " last_activity_at)"
        f" SELECT {rid}, {tid}, 1, 'completed', 0, 50, :channel, {t}, {t}, {t} + 1, {t} + 1, {t} + 2,"
        f" {t} + 1, {t} + 301, 300, 'agent_session', 'history-agent', 'h', 'http', '{{\"ok\":true}}',"
        f" 'run.completed', {t} + 2 {gen}",
        f"{seq}INSERT INTO events (task_id, sequence, run_id, event_type, actor_kind, actor_ref, origin_kind,"
        f" payload, created_at) SELECT {tid}, 1, {rid}, 'run.completed', 'agent_session', 'history-agent',"
        f" 'http', '{{\"attempt\":1}}', {t} + 2 {gen}",
    ]
    params = {"n": n, "base": now - span, "step": span / n, "channel": CHANNEL}
    try:
        for sql in statements:
            if database_url.startswith("sqlite"):
                conn.execute(sql, params)
            else:
                conn.execute(sql.replace(":n", "%(n)s").replace(":base", "%(base)s")
                             .replace(":step", "%(step)s").replace(":channel", "%(channel)s"), params)
        conn.commit() if not database_url.startswith("sqlite") else conn.execute("COMMIT")
    finally:
        conn.close()
    if not database_url.startswith("sqlite"):
        # A long-lived database has planner statistics (autovacuum); a fresh bulk load does not yet.
        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute("VACUUM ANALYZE")
    return time.perf_counter() - t0
