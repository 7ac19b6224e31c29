"""Named SQL files: every statement exists for both dialects and compiles against the real schema."""

from __future__ import annotations

import re
import sqlite3

import psycopg
import pytest

from taskloom.domain.states import RUN_LIVE, RUN_OPEN, TASK_TERMINAL
from taskloom.storage import named_sql, open_storage
from taskloom.storage.postgres import _pg_sql

HOT_PATH = {"claim", "complete", "rescue", "complete_batch", "fail_batch", "claim_take"}
# Slots a statement cannot do without (a VALUES list), filled as the code fills them.
_STEP = named_sql.statement("postgres", "task_step", task_sets="title = :t", task_expect="('ready')")
REQUIRED = {"claim_one": {"pick": "SELECT * FROM runs", "task_step": _STEP, "run_sets": "held = 0",
                          "run_expect": "('queued')"},
            "complete_close": {"complete": "UPDATE runs SET held = 0 RETURNING *", "task_step": _STEP},
            "task_step": {"task_sets": "title = :t", "task_expect": "('ready')"},
            "complete_batch": {"items": "VALUES (CAST(:i AS text), CAST(:r AS text), CAST(:k AS text), CAST(:h AS text))"},
            "fail_batch": {"items": "VALUES (CAST(:i AS text), CAST(:e AS text), CAST(:k AS text), CAST(:h AS text))"},
            "claim_take": {"items": "VALUES (CAST(:i AS text), CAST(:h AS text), CAST(:t AS text))"}}
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def test_every_name_exists_for_every_dialect() -> None:
    sqlite_names, postgres_names = named_sql.names("sqlite"), named_sql.names("postgres")
    assert sqlite_names == postgres_names - named_sql.ONLY["postgres"]
    assert named_sql.ONLY["postgres"] <= postgres_names and not sqlite_names & named_sql.ONLY["postgres"]
    assert HOT_PATH <= sqlite_names
    for dialect in named_sql.DIALECTS:
        for name in named_sql.names(dialect):
            assert named_sql.statement(dialect, name).strip(), (dialect, name)


def test_slots_fill_and_typos_fail() -> None:
    sql = named_sql.statement("sqlite", "claim", filters=" AND r.priority >= :minp")
    assert "r.priority >= :minp" in sql and "/*" not in sql and "--" not in sql
    assert "/*" not in named_sql.statement("postgres", "claim")
    with pytest.raises(named_sql.UnknownStatement):
        named_sql.statement("sqlite", "claim", filterz="")
    with pytest.raises(named_sql.UnknownStatement):
        named_sql.statement("sqlite", "no_such_statement")


def test_every_statement_compiles_on_its_backend(database_url: str, backend: str) -> None:
    open_storage(database_url).migrate()
    for name in sorted(named_sql.names(backend)):
        sql = named_sql.statement(backend, name, **REQUIRED.get(name, {}))
        if name == "task_step":  # a part of a WITH list: compiled inside one
            sql = f"WITH taking AS (SELECT id, task_id, attempt FROM runs), {sql} SELECT 1"
        params = {p: None for p in _PARAM.findall(sql)}
        if backend == "sqlite":
            conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
            try:
                conn.execute("EXPLAIN " + sql, params)
            finally:
                conn.close()
        else:
            with psycopg.connect(database_url) as conn:
                conn.execute("EXPLAIN " + _pg_sql(sql), params)


_STATUS_LIST = re.compile(r"status (?:NOT )?IN \(([^)]*)\)")
_DOMAIN_SETS = {frozenset(str(s) for s in group) for group in (RUN_LIVE, RUN_OPEN, TASK_TERMINAL)}


def test_status_lists_in_sql_files_are_the_domain_sets() -> None:
    """A file cannot build its status list from domain/states.py, so this test holds it to one of
    the domain's sets (a state added there and forgotten here fails)."""
    seen = 0
    for dialect in named_sql.DIALECTS:
        for name in sorted(named_sql.names(dialect)):
            for listed in _STATUS_LIST.findall(named_sql.raw(dialect, name)):
                values = frozenset(v.strip().strip("'") for v in listed.split(","))
                assert values in _DOMAIN_SETS, f"{dialect}/{name}.sql: status list {sorted(values)}"
                seen += 1
    assert seen >= 6
