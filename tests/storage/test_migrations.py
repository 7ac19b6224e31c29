"""Migrations, per dialect: each applies once, and a database that was upgraded step by step
(with data in it) ends with exactly the schema of a fresh install."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from taskloom.storage import open_storage
from taskloom.storage.migrations import migration_files, split_statements

FreshDatabase = Callable[[], str]


@pytest.fixture
def fresh_database(backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> Iterator[FreshDatabase]:
    """Make empty databases of this backend (PostgreSQL: a new database each, dropped after)."""
    made: list[str] = []
    base = request.getfixturevalue("postgres_url") if backend == "postgres" else ""

    def make() -> str:
        if backend == "sqlite":
            return f"sqlite:///{tmp_path}/{uuid.uuid4().hex[:8]}.db"
        name = f"taskloom_mig_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return base.rsplit("/", 1)[0] + "/" + name

    yield make
    for name in made:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgres"


def _normal(sql: str | None) -> str:
    return re.sub(r"\s+", " ", sql or "").strip()


def schema_of(url: str) -> dict[str, Any]:
    """Everything a migration can change: tables, columns (type, null, default), indexes,
    constraints, as the database reports it."""
    if _dialect(url) == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            objects = sorted((t, n, tbl, _normal(sql)) for t, n, tbl, sql in conn.execute(
                "SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name <> 'schema_migrations'"
                " AND tbl_name <> 'schema_migrations'"))
            columns = {tbl: [tuple(r) for r in conn.execute(f"PRAGMA table_info({tbl})")]
                       for kind, tbl, _, _ in objects if kind == "table" and not tbl.startswith("sqlite_")}
            return {"objects": objects, "columns": columns}
        finally:
            conn.close()
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type, is_nullable, column_default, ordinal_position"
            " FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"
            " ORDER BY table_name, column_name").fetchall()
        indexes = conn.execute("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
                               " AND tablename <> 'schema_migrations' ORDER BY indexname").fetchall()
        constraints = conn.execute(
            "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c"
            " JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = 'public'"
            " AND c.conrelid::regclass::text <> 'schema_migrations' ORDER BY 1, 2").fetchall()
    return {"columns": columns, "indexes": indexes, "constraints": constraints}


def _apply_first(url: str) -> None:
    """Apply only the first migration (what an early install has) and put rows in it."""
    dialect = _dialect(url)
    name, sql = migration_files(dialect)[0]
    now = time.time()
    task = {"id": "task_old", "identifier": "TL-1", "title": "made before the upgrade", "status": "ready",
            "priority": 50, "scope": "global", "created_by_kind": "human", "created_by_ref": "old",
            "origin_kind": "http", "approval_policy": "none", "approval_state": "not_required", "max_attempts": 3,
            "attempt_limit": 3, "created_at": now, "updated_at": now, "last_activity_at": now}
    run = {"id": "run_old", "task_id": "task_old", "attempt": 1, "status": "queued", "priority": 50,
           "available_at": now, "queued_at": now, "origin_kind": "http"}
    if dialect == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        for stmt in split_statements(sql):
            conn.execute(stmt)
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, now))
        for table, row in (("tasks", task), ("runs", run)):
            conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                         list(row.values()))
        conn.commit()
        conn.close()
        return
    with psycopg.connect(url) as conn:
        for stmt in split_statements(sql):
            conn.execute(stmt.encode())
        conn.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ DEFAULT now())")
        conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
        for table, row in (("tasks", task), ("runs", run)):
            conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('%s' for _ in row)})",
                         list(row.values()))


def test_migrations_apply_once(fresh_database: FreshDatabase) -> None:
    url = fresh_database()
    storage = open_storage(url)
    names = [n for n, _ in migration_files(_dialect(url))]
    assert storage.migrate() == names
    assert storage.migrate() == []


def test_an_upgraded_database_has_the_fresh_schema(fresh_database: FreshDatabase) -> None:
    fresh, upgraded = fresh_database(), fresh_database()
    open_storage(fresh).migrate()
    _apply_first(upgraded)
    applied = open_storage(upgraded).migrate()
    assert applied == [n for n, _ in migration_files(_dialect(upgraded))][1:]
    assert schema_of(upgraded) == schema_of(fresh)


def test_dialects_have_the_same_migrations() -> None:
    assert [n for n, _ in migration_files("sqlite")] == [n for n, _ in migration_files("postgres")]


def _columns(database_url: str) -> dict[str, set[str]]:
    schema = schema_of(database_url)
    if _dialect(database_url) == "sqlite":
        return {t: {c[1] for c in cols} for t, cols in schema["columns"].items()}
    out: dict[str, set[str]] = {}
    for table, column, *_ in schema["columns"]:
        out.setdefault(table, set()).add(column)
    return out


def test_both_dialects_build_the_same_schema(tmp_path: Any, request: pytest.FixtureRequest) -> None:
    sqlite_url = f"sqlite:///{tmp_path}/schema.db"
    open_storage(sqlite_url).migrate()
    pg_url = request.getfixturevalue("postgres_url")
    open_storage(pg_url).migrate()
    assert _columns(sqlite_url) == _columns(pg_url)
