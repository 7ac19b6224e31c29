"""Migration 0008 converts an existing database: usage reported before it is in the roll-up, and
seed 002's conversation (agent_messages) becomes coordination-channel messages."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import psycopg

from taskloom.storage import open_storage
from taskloom.storage.migrations import migration_files, split_statements

T0 = 1_764_583_200.0  # 2025-12-01T10:00:00Z


def _before_0008(database_url: str) -> None:
    """Build the schema as it was before migration 0008, the way migrate() records it."""
    dialect = "sqlite" if database_url.startswith("sqlite") else "postgres"
    files = [(n, sql) for n, sql in migration_files(dialect) if n < "0008"]
    if dialect == "sqlite":
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        run, done = conn.execute, conn.commit
        run("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    else:
        pg = psycopg.connect(database_url, autocommit=True)
        pg.execute("DROP SCHEMA public CASCADE")
        pg.execute("CREATE SCHEMA public")
        run, done = (lambda sql, params=(): pg.execute(sql.replace("?", "%s").encode(), params)), pg.close
        run("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
    for name, sql in files:
        for stmt in split_statements(sql):
            run(stmt)
        run("INSERT INTO schema_migrations (name) VALUES (?)", (name,))
    run("INSERT INTO tasks (id, identifier, title, status, priority, scope, created_by_kind, created_by_ref,"
        " origin_kind, approval_policy, approval_state, max_attempts, attempt_limit, created_at, updated_at,"
        " last_activity_at) VALUES ('task_old', 'TL-1', 'old', 'in_progress', 50, 'global', 'human', 'h', 'http',"
        " 'none', 'not_required', 1, 1, ?, ?, ?)", (T0, T0, T0))
    run("INSERT INTO runs (id, task_id, attempt, status, priority, network_channel, available_at, queued_at,"
        " claimed_at, claimed_by_kind, claimed_by_ref, origin_kind, input_tokens, output_tokens, total_cost,"
        " tool_call_count) VALUES ('run_old', 'task_old', 1, 'running', 50, 'alpha', ?, ?, ?, 'agent_session',"
        " 'bot', 'http', 120, 30, 0.5, 2)", (T0, T0, T0))
    for seq, role, kind, body in ((1, "agent", "question", "Aisle or window?"), (2, "user", "message", "window")):
        run("INSERT INTO agent_messages (id, task_id, sequence, run_id, role, kind, body, sender_kind, sender_ref,"
            " created_at) VALUES (?, 'task_old', ?, 'run_old', ?, ?, ?, 'human', 'h', ?)",
            (f"msg_{seq}", seq, role, kind, body, T0 + seq))
    done()


def test_migration_0008_converts_existing_data(database_url: str) -> None:
    _before_0008(database_url)
    storage = open_storage(database_url)
    applied = storage.migrate()
    assert any(name.startswith("0008") for name in applied)

    async def read() -> tuple[list, dict, list]:
        await storage.start()
        try:
            def op(tx):  # type: ignore[no-untyped-def]
                groups = tx.usage_sums(["agent", "day", "channel"], {}, visible_workspaces=None, full_days=None,
                                       edges=None)
                return tx.messages_of_task("task_old"), tx.run_get("run_old"), groups
            return await storage.read(op)
        finally:
            await storage.close()

    messages, run, groups = asyncio.run(read())
    assert [(m["sequence"], m["role"], m["kind"], m["body"]) for m in messages] == [
        (1, "agent", "question", "Aisle or window?"), (2, "user", "note", "window")]
    assert run["channel_activity_at"] == T0 + 2 and run["model"] is None
    assert [(g["agent"], g["day"], g["channel"], g["input_tokens"], g["runs"]) for g in groups] == [
        ("bot", time.strftime("%Y-%m-%d", time.gmtime(T0)), "alpha", 120, 1)]


def test_old_ids_keep_working(database_url: str, make_api: Any) -> None:
    """Ids are not rewritten: a ``task_<hex>`` id from before stays valid beside its identifier."""
    _before_0008(database_url)
    api = make_api(services=False)
    for ref in ("task_old", "TL-1"):
        r = api.get(f"/api/tasks/{ref}")
        assert r.status_code == 200, r.text
        assert r.json()["task"]["task"]["id"] == "task_old"
    assert api.get("/api/task-runs/run_old").json()["run"]["run"]["coordination_channel_id"] == "cc_run_old"
