"""Named SQL files: every statement exists for both dialects and compiles against the real schema."""

from __future__ import annotations

import re
import sqlite3

import psycopg
import pytest

from taskloom.storage import named_sql, open_storage
from taskloom.storage.postgres import _pg_sql

HOT_PATH = {"claim", "complete", "rescue"}
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def test_every_name_exists_for_every_dialect() -> None:
    sqlite_names, postgres_names = named_sql.names("sqlite"), named_sql.names("postgres")
    assert sqlite_names == postgres_names
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
        sql = named_sql.statement(backend, name)
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
