"""Where SQLite and PostgreSQL differ: one small ``Dialect`` object per backend.

Shared SQL (storage/sql.py and the ``queries_*`` mixins) asks its transaction's
``sql_dialect`` for each piece that differs, by name; no query module tests which backend
it runs on. What is the same in both stays plain SQL: ``:name`` parameters, ``ON CONFLICT``
upserts, ``RETURNING``, IN-lists (``statements.in_list``), and timestamps, which are epoch
seconds passed in by the engine (never the database's ``now()``). Statements that differ as
a whole are named SQL files per dialect instead (storage/named_sql.py).

| hook | SQLite | PostgreSQL |
|---|---|---|
| ``placeholders`` | ``:name`` as written | ``%(name)s`` (psycopg) |
| ``positional`` | ``?`` by position | ``%s`` by position |
| ``row_source`` | ``VALUES (...), (...)`` | one JSON parameter (``jsonb_array_elements``) |
| ``insert_rows`` | multi-row ``VALUES``, ~1,000 values a statement | one ``json_populate_recordset`` |
| ``json_values`` | ``json_each`` | ``json_array_elements_text`` |
| ``lock`` | nothing: one writer serialises every write | ``FOR UPDATE`` / ``FOR SHARE`` |
| ``skip_locked`` | nothing | ``FOR UPDATE SKIP LOCKED`` |
| ``index_hint`` | ``INDEXED BY`` (no statistics) | nothing: the planner has statistics |
| ``floor`` | ``CAST(x AS INTEGER)`` (x >= 0) | ``FLOOR(x)`` |
| ``key_lock`` | None: nothing to serialise | ``pg_advisory_xact_lock`` |
| ``capabilities_cover`` | ``json_each`` | ``jsonb <@`` |
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Literal

import orjson

from taskloom.domain.errors import InvalidInput
from taskloom.storage.statements import in_list

LockMode = Literal["update", "share"]
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@lru_cache(maxsize=512)  # batch statements repeat the same few texts (one per batch size)
def _positional(sql: str, mark: str) -> tuple[str, tuple[str, ...]]:
    names: list[str] = []

    def one(m: re.Match[str]) -> str:
        names.append(m.group(1))
        return mark

    return _PARAM.sub(one, sql.replace("%", "%%") if mark == "%s" else sql), tuple(names)


@lru_cache(maxsize=256)  # the same few shapes each batch: the text (and the driver's prepared statement) is reused
def _insert_sql(table: str, columns: tuple[str, ...], rows: int, tail: str) -> str:
    one = ", ".join(f":{c}" for c in columns)  # the names only mark places: the values come by position
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([f'({one})'] * rows)}{tail}"


@lru_cache(maxsize=64)
def _json_rows_sql(prefix: str, types: tuple[str, ...]) -> str:
    # Each row a JSON array, read as jsonb: parsed once, then ->> looks each element up. (As json,
    # every ->> parses the row again: ~3 us a row more in PostgreSQL than unnest of arrays; jsonb is
    # ~2 us a row less than unnest, and json_to_recordset would need an object a row from Python.)
    cols = ", ".join(f"e->>{j}" if t == "text" else f"CAST(e->>{j} AS {t})" for j, t in enumerate(types))
    return f"SELECT {cols} FROM jsonb_array_elements(CAST(:{prefix} AS jsonb)) AS e"


@lru_cache(maxsize=256)
def _values_sql(prefix: str, rows: int, width: int) -> str:
    return "VALUES " + ", ".join("(" + ", ".join(f":{prefix}{i}_{j}" for j in range(width)) + ")" for i in range(rows))


Statement = tuple[str, list[Any]]  # text with :name marks, and the values of its parameters in order


class Dialect:
    """The hooks every backend's dialect implements."""

    name: str

    def placeholders(self, sql: str) -> str:
        """The statement with its ``:name`` parameters in the driver's style."""
        raise NotImplementedError

    positional_mark: str

    def positional(self, sql: str) -> tuple[str, tuple[str, ...]]:
        """The statement with its ``:name`` parameters bound by position instead, and the names
        in the order the driver wants their values (a name used twice is listed twice)."""
        return _positional(sql, self.positional_mark)

    def row_source(self, prefix: str, rows: Sequence[Sequence[Any]], types: Sequence[str]) -> Statement:
        """The rows of a batch statement's ``WITH items(...) AS (<here>)`` (an UPDATE ... FROM
        items), and the values of its parameters in order: they must open the statement.
        ``types``: each column's type (PostgreSQL's name)."""
        raise NotImplementedError

    def insert_rows(self, table: str, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]],
                    tail: str = "") -> list[Statement]:
        """Statements inserting ``rows`` (``columns`` of each; a missing key is NULL), each
        ending in ``tail`` (a RETURNING clause)."""
        raise NotImplementedError

    def json_values(self, param: str) -> str:
        """A subquery of the elements of the JSON list of strings in parameter ``param`` (one
        parameter, however long the list: an IN list of 100 is 100 names to bind, and psycopg
        parses a statement of more than 50 parameters on every execution)."""
        raise NotImplementedError

    @staticmethod
    def returned_float(value: float) -> float | int:
        """A float inserted into a numeric column as ``RETURNING`` gives it back."""
        return value

    def lock(self, mode: LockMode | None) -> str:
        """The clause that locks the rows a ``SELECT`` reads until the transaction ends."""
        raise NotImplementedError

    def skip_locked(self) -> str:
        """The clause that locks the rows read and skips those another transaction holds."""
        raise NotImplementedError

    def index_hint(self, index: str) -> str:
        """A hint naming the index that serves a query (after ``FROM table``)."""
        raise NotImplementedError

    def floor(self, expr: str) -> str:
        """The integer part of a non-negative number."""
        raise NotImplementedError

    def key_lock(self, space: int, param: str) -> str | None:
        """A statement that makes concurrent transactions wait for each other on the key in
        parameter ``param`` until they end; None where writes are serialised anyway."""
        raise NotImplementedError

    def capabilities_cover(self, column: str, capabilities: list[str], params: dict[str, Any]) -> str:
        """True where the JSON list in ``column`` (NULL: none) is a subset of ``capabilities``."""
        raise NotImplementedError


class SqliteDialect(Dialect):
    name = "sqlite"
    positional_mark = "?"

    def placeholders(self, sql: str) -> str:
        return sql

    def row_source(self, prefix: str, rows: Sequence[Sequence[Any]], types: Sequence[str]) -> Statement:
        # A column of NULLs and text is text; the statements cast the others where they use them.
        return _values_sql(prefix, len(rows), len(types)), [v for row in rows for v in row]

    def insert_rows(self, table: str, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]],
                    tail: str = "") -> list[Statement]:
        per = max(1, 1000 // len(columns))  # ~1,000 values a statement
        return [(_insert_sql(table, columns, len(rows[i:i + per]), tail),
                 [row.get(c) for row in rows[i:i + per] for c in columns]) for i in range(0, len(rows), per)]

    def json_values(self, param: str) -> str:
        return f"SELECT value FROM json_each(:{param})"

    @staticmethod
    def returned_float(value: float) -> float | int:
        # SQLite keeps an integral REAL as an integer in the record, and RETURNING hands it out so.
        return int(value) if value.is_integer() else value

    def lock(self, mode: LockMode | None) -> str:
        return ""

    def skip_locked(self) -> str:
        return ""

    def index_hint(self, index: str) -> str:
        return f" INDEXED BY {index}"

    def floor(self, expr: str) -> str:
        return f"CAST({expr} AS INTEGER)"

    def key_lock(self, space: int, param: str) -> str | None:
        return None

    def capabilities_cover(self, column: str, capabilities: list[str], params: dict[str, Any]) -> str:
        caps = in_list("cap", capabilities or [""], params)
        return f"({column} IS NULL OR NOT EXISTS (SELECT 1 FROM json_each({column}) j WHERE j.value NOT IN {caps}))"


class PostgresDialect(Dialect):
    name = "postgres"
    positional_mark = "%s"

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def placeholders(self, sql: str) -> str:
        cached = self._cache.get(sql)
        if cached is None:
            cached = _PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))
            self._cache[sql] = cached
        return cached

    # Batches pass one parameter for all rows (JSON): the statement's text does not grow with the
    # batch, so psycopg parses it once (it caches only statements of <= 4,096 characters and <= 50
    # parameters) and the server prepares it. JSON, not one array a column: psycopg dumps a text
    # array in Python, element by element with a regex each (29 % of a batch's CPU in the writer).
    def row_source(self, prefix: str, rows: Sequence[Sequence[Any]], types: Sequence[str]) -> Statement:
        if "\x00" in "".join([v for row in rows for v in row if type(v) is str]):  # as _rows_at refuses it
            raise InvalidInput("invalid value: a string cannot contain NUL (0x00) characters")
        try:
            data = orjson.dumps(rows).decode()
        except (orjson.JSONEncodeError, TypeError) as exc:  # an integer beyond 64 bits
            raise InvalidInput(f"invalid value: {exc}") from exc
        return _json_rows_sql(prefix, tuple(types)), [data]

    def insert_rows(self, table: str, columns: tuple[str, ...], rows: Sequence[Mapping[str, Any]],
                    tail: str = "") -> list[Statement]:
        try:
            data = orjson.dumps(rows).decode()  # keys other than ``columns`` are ignored
        except (orjson.JSONEncodeError, TypeError) as exc:  # an integer beyond 64 bits
            raise InvalidInput(f"invalid value: {exc}") from exc
        names = ", ".join(columns)
        return [(f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table},"
                 f" CAST(:rows AS json)){tail}", [data])]

    def json_values(self, param: str) -> str:
        return f"SELECT json_array_elements_text(CAST(:{param} AS json))"

    def lock(self, mode: LockMode | None) -> str:
        return {None: "", "update": " FOR UPDATE", "share": " FOR SHARE"}[mode]

    def skip_locked(self) -> str:
        return " FOR UPDATE SKIP LOCKED"

    def index_hint(self, index: str) -> str:
        return ""

    def floor(self, expr: str) -> str:
        return f"FLOOR({expr})"

    def key_lock(self, space: int, param: str) -> str | None:
        return f"SELECT pg_advisory_xact_lock({int(space)}, hashtext(:{param}))"

    def capabilities_cover(self, column: str, capabilities: list[str], params: dict[str, Any]) -> str:
        params["caps"] = json.dumps(list(capabilities))
        return f"({column} IS NULL OR {column}::jsonb <@ :caps::jsonb)"


SQLITE = SqliteDialect()
POSTGRES = PostgresDialect()
