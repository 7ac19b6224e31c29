"""The claim pick stays a walk of the ordered partial index after a long history, on both backends:
planner statistics taken while nothing was queued must not turn each claim into a sort of every
queued run (PostgreSQL did, until migration 0018)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import psycopg
import pytest

from taskloom.storage import open_storage
from taskloom.storage.dialects import POSTGRES
from taskloom.storage.named_sql import statement

NOW = 1_000_000.0
# Finished (then queued) tasks with one run each, numbered lo..hi; :params as the backend writes them.
HISTORY = [
    "INSERT INTO tasks (id, identifier, title, status, priority, scope, created_by_kind, created_by_ref,"
    " origin_kind, network_channel, approval_policy, approval_state, max_attempts, attempt_limit,"
    " created_at, updated_at, last_activity_at)"
    " SELECT 't' || x, 'H-' || x, 'done', :status, 50, 'global', 'human', 'h', 'http', 'bench', 'none',"
    " 'not_required', 3, 3, :at + x, :at + x, :at + x FROM numbers",
    "INSERT INTO runs (id, task_id, attempt, status, held, priority, network_channel, available_at,"
    " queued_at, origin_kind)"
    " SELECT 'r' || x, 't' || x, 1, :run_status, 0, 50, 'bench', :at + x, :at + x, 'http' FROM numbers",
]
FINISHED = {"status": "completed", "run_status": "completed", "at": NOW - 50_000, "lo": 1, "hi": 30_000}
QUEUED = {"status": "ready", "run_status": "queued", "at": NOW - 1_000, "lo": 30_001, "hi": 30_500}


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan] + [n for child in plan.get("Plans", []) for n in _nodes(child)]


def _postgres_plan(url: str, pick: str, params: dict[str, Any]) -> tuple[list[str], bool]:
    """(indexes the pick reads runs r through, whether it sorts)."""
    numbers = "WITH numbers AS (SELECT generate_series(%(lo)s::int, %(hi)s::int) AS x) "
    with psycopg.connect(url, autocommit=True) as conn:
        for sql in HISTORY:
            conn.execute(numbers + POSTGRES.placeholders(sql.replace(":at", ":at::float8")), FINISHED)
        conn.execute("ANALYZE")  # the statistics say: nothing is queued
        for sql in HISTORY:
            conn.execute(numbers + POSTGRES.placeholders(sql.replace(":at", ":at::float8")), QUEUED)
        explained = conn.execute("EXPLAIN (FORMAT JSON) " + POSTGRES.placeholders(pick), params).fetchone()
    assert explained is not None
    plan = explained[0] if isinstance(explained[0], list) else json.loads(explained[0])
    nodes = _nodes(plan[0]["Plan"])
    scans = [str(n.get("Index Name")) for n in nodes if n.get("Relation Name") == "runs" and n.get("Alias") == "r"]
    return scans, any(n["Node Type"] in ("Sort", "Incremental Sort") for n in nodes)


def _sqlite_plan(url: str, pick: str, params: dict[str, Any]) -> tuple[list[str], bool]:
    numbers = "WITH RECURSIVE numbers(x) AS (SELECT :lo UNION ALL SELECT x + 1 FROM numbers WHERE x < :hi) "
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    try:
        for sql in HISTORY:
            conn.execute(numbers + sql, FINISHED)
        conn.execute("ANALYZE")
        for sql in HISTORY:
            conn.execute(numbers + sql, QUEUED)
        conn.commit()
        details = [str(r[-1]) for r in conn.execute("EXPLAIN QUERY PLAN " + pick, params)]
    finally:
        conn.close()
    scans = [d.split(" INDEX ")[1].split()[0] for d in details if d.startswith(("SCAN r ", "SEARCH r "))
             and " INDEX " in d]
    return scans, any("TEMP B-TREE FOR ORDER BY" in d for d in details)


@pytest.mark.parametrize("channel", [None, "bench"])
def test_the_claim_pick_walks_the_claimable_index_after_a_long_history(
        database_url: str, backend: str, channel: str | None) -> None:
    open_storage(database_url).migrate()
    params: dict[str, Any] = {"now": NOW, "assignee": "", "limit": 1}
    where = ""
    if channel is not None:
        params["channel"] = channel
        where = " AND r.network_channel = :channel"
    slots = {"filters": where}
    if backend == "sqlite" and channel is not None:  # as storage/sqlite.py asks (runs_claim_candidates)
        slots["index"] = "INDEXED BY runs_claimable_channel"
    pick = statement(backend, "claim", **slots)
    scans, sorts = (_postgres_plan if backend == "postgres" else _sqlite_plan)(database_url, pick, params)
    assert scans in (["runs_claimable"], ["runs_claimable_channel"]), scans
    assert not sorts, "each claim would sort the whole queue"
