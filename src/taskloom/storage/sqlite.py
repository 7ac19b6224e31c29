"""SQLite backend: one writer thread that groups commits, reader threads for queries.

Every write function runs inside a savepoint of the current group transaction;
a function that raises is rolled back alone. The group commits once, and only
then is each caller answered, so an answer always follows a durable commit.
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from taskloom.domain.errors import InvalidInput
from taskloom.rows import Row
from taskloom.storage.base import RUNS_CHANGED, StandingPlan, Storage
from taskloom.storage.dialects import SQLITE
from taskloom.storage.migrations import migration_files, split_statements
from taskloom.storage.named_sql import statement
from taskloom.storage.protocols import Tx
from taskloom.storage.sql import SqlTx

T = TypeVar("T")
MAX_GROUP = 512


class SqliteTx(SqlTx):
    dialect = "sqlite"
    sql_dialect = SQLITE

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        cur = self.conn.execute(sql, _storable(params or {}))
        if cur.description is None:
            return []
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return int(self.conn.execute(sql, _storable(params or {})).rowcount)

    def runs_claim_candidates(self, now: float, filters: Row, limit: int) -> list[Row]:
        # The single writer thread makes select-then-update atomic: the statement's key-limit
        # counts are exact for one run. Runs selected together were all checked against the
        # same counts: count them again, each after those before it.
        params, where = self._claim_params(now, filters)
        params["limit"] = limit
        index = "INDEXED BY runs_claimable_channel" if filters.get("network_channel") is not None else ""
        rows = self._rows(statement("sqlite", "claim", index=index, filters=where), params)
        return rows if limit == 1 else self.key_limits_admit(rows, now)


def _storable(params: dict[str, Any]) -> dict[str, Any]:
    """Refuse what PostgreSQL cannot store either (a NUL in text), so both backends give the
    same answer: 400 naming it, nothing written."""
    for value in params.values():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput("invalid value: a string cannot contain NUL (0x00) characters")
    return params


def _path_from_url(url: str) -> str:
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.removeprefix("sqlite:")
    return path or "taskloom.db"


def _connect(path: str, *, readonly: bool = False) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: the WAL is synced at every commit, so a committed group survives
    # power loss, not only a process kill. Grouping amortises the fsync.
    conn.execute(f"PRAGMA synchronous={os.environ.get('TASKLOOM_SQLITE_SYNCHRONOUS', 'FULL')}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    # Page cache per connection (writer + each reader), in KiB: RSS grows to about
    # (readers + 1) x this as it warms, then stays flat (bench/soak.py).
    conn.execute(f"PRAGMA cache_size=-{int(os.environ.get('TASKLOOM_SQLITE_CACHE_KIB') or 65536)}")
    conn.execute("PRAGMA temp_store=MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only=ON")
    return conn


class SqliteStorage(Storage):
    dialect = "sqlite"

    def __init__(self, url: str):
        super().__init__()
        self.url = url
        self.path = _path_from_url(url)
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self.runs_standings = True  # long-polling claims run in the commit that queues work

    def migrate(self) -> list[str]:
        conn = _connect(self.path)
        try:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at REAL)")
            done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            applied = []
            for name, sql in migration_files("sqlite"):
                if name in done:
                    continue
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for stmt in split_statements(sql):
                        conn.execute(stmt)
                    conn.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, time.time()))
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                applied.append(name)
            return applied
        finally:
            conn.close()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.hub.bind(self._loop)
        self._writer = threading.Thread(target=self._writer_main, name="taskloom-sqlite-writer", daemon=True)
        self._writer.start()
        self._readers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="taskloom-sqlite-reader")

    async def close(self) -> None:
        if self._writer is not None:
            self._queue.put(None)
            await asyncio.to_thread(self._writer.join, 10)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        for conn in self._reader_conns:
            conn.close()
        self._reader_conns.clear()

    async def write(self, fn: Callable[[Tx], T]) -> T:
        if self._writer is None:
            raise RuntimeError("storage not started")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.put((fn, fut))
        return await fut

    async def read(self, fn: Callable[[Tx], T]) -> T:
        assert self._readers is not None, "storage not started"
        return await asyncio.get_running_loop().run_in_executor(self._readers, self._read_call, fn)

    def _read_call(self, fn: Callable[[Tx], T]) -> T:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, readonly=True)
            self._local.conn = conn
            self._reader_conns.append(conn)
        conn.execute("BEGIN")
        try:
            return fn(SqliteTx(conn, readonly=True))
        finally:
            conn.execute("COMMIT")

    def _writer_main(self) -> None:
        conn = _connect(self.path)
        try:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                group = [item]
                stop = False
                while len(group) < MAX_GROUP:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    group.append(nxt)
                self._run_group(conn, group)
                if stop:
                    return
        finally:
            conn.close()

    def _run_group(self, conn: sqlite3.Connection, group: list[Any]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        notices: set[Any] = set()
        done: list[SqliteTx] = []
        conn.execute("BEGIN IMMEDIATE")
        for fn, fut in group:
            tx = SqliteTx(conn)
            conn.execute("SAVEPOINT op")
            try:
                result = fn(tx)
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                if isinstance(exc, OverflowError):  # a request's number beyond SQLite's 64-bit integers
                    exc = InvalidInput(f"invalid value: {exc}")
                outcomes.append((fut, None, exc))
            else:
                conn.execute("RELEASE op")
                outcomes.append((fut, result, None))
                notices |= tx.notices
                done.append(tx)
        if RUNS_CHANGED in notices:
            notices |= self._run_standings(conn, outcomes, done)
        try:
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            outcomes = [(fut, None, exc) for fut, _, _ in outcomes]
            notices = set()
            done = []
        for tx in done:
            self.committed(tx)
        assert self._loop is not None
        self._loop.call_soon_threadsafe(_resolve_all, outcomes)
        self.hub.publish(notices)


    def _run_standings(self, conn: sqlite3.Connection, outcomes: list[Any], done: list[SqliteTx]) -> set[Any]:
        """Work appeared in this group: try the waiting claims in the same transaction, oldest
        first; each that gets work is answered with this commit. The others wait on."""
        notices: set[Any] = set()
        tried = self.standings.take()
        plan = StandingPlan(sum((tx.work_appeared for tx in done), Counter()))
        empty = []
        for standing in tried:
            if not plan.may_serve(standing):  # nothing appeared that it could claim: it waits on
                empty.append(standing)
                continue
            tx = SqliteTx(conn)
            conn.execute("SAVEPOINT op")
            try:
                result = standing.fn(tx)
            except BaseException as exc:  # noqa: BLE001 - handed back to the waiter
                conn.execute("ROLLBACK TO op")
                conn.execute("RELEASE op")
                outcomes.append((standing.future, None, exc))
                continue
            conn.execute("RELEASE op")
            notices |= tx.notices
            done.append(tx)
            if result is None:
                empty.append(standing)
            else:
                plan.served(standing, result)
                outcomes.append((standing.future, result, None))
        outcomes.extend((standing.future, None, None) for standing in self.standings.put_back(empty))
        return notices


def _resolve_all(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, result, exc in outcomes:
        if fut.done():
            continue
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)


def _satisfies_tx(tx: SqliteTx) -> Tx:
    """mypy checks here that SqliteTx implements every storage protocol (storage/protocols.py)."""
    return tx
