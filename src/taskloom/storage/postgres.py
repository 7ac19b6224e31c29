"""PostgreSQL backend: a psycopg 3 connection pool used from worker threads,
``FOR UPDATE SKIP LOCKED`` claims and ``LISTEN/NOTIFY`` wake-ups across processes."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import errors as pg_errors
from psycopg.pq import ExecStatus
from psycopg.rows import dict_row, tuple_row
from psycopg_pool import ConnectionPool, PoolTimeout

from taskloom.domain.errors import InvalidInput, Unavailable
from taskloom.domain.key_limits import has_key_limits
from taskloom.domain.states import run_sources, task_sources
from taskloom.rows import Closed, Row, RunTake, Taken, TaskStep
from taskloom.storage.base import REMOTE_WORK, RUNS_CHANGED, Standing, StandingPlan, Storage
from taskloom.storage.dialects import POSTGRES
from taskloom.storage.migrations import migration_files, split_statements
from taskloom.storage.named_sql import statement
from taskloom.storage.protocols import Tx
from taskloom.storage.sql import RUN_COLUMNS, TASK_COLUMNS, SqlTx, _check_guard
from taskloom.storage.statements import in_list, set_clause

T = TypeVar("T")
log = logging.getLogger("taskloom.postgres")
CHANNEL = "taskloom"
PEER = ("peer", "*")  # the notice a notifier sends to say it is there (no one waits on it)
# The notice that says: someone in this process waits for notices (a long-poll, a stream).
INTERESTED = ("peer", "waiting")
RETRYABLE = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure, pg_errors.LockNotAvailable)
MIGRATION_LOCK = 7_243_118_001
CONNECT_TIMEOUT = 2  # seconds to open a connection
POOL_WAIT = 3.0  # seconds a request waits for a pooled connection
RECONNECT_GIVE_UP = 2.0
TUPLES_OK = ExecStatus.TUPLES_OK


_pg_sql = POSTGRES.placeholders


# The parts of each side-by-side answer (PostgresTx._row_parts): their first column's index and
# names, by statement text and column count (fixed once the schema is migrated).
_layouts: dict[tuple[str, int], list[tuple[int, tuple[str, ...]]]] = {}


def _layout(names: list[str]) -> list[tuple[int, tuple[str, ...]]]:
    marks = [i for i, name in enumerate(names) if name.startswith("|")]
    starts, ends = [0, *(i + 1 for i in marks)], [*marks, len(names)]
    return [(start, tuple(names[start:end])) for start, end in zip(starts, ends, strict=True)]


class PostgresTx(SqlTx):
    dialect = "postgres"
    sql_dialect = POSTGRES

    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        cur = self.conn.execute(_pg_sql(sql), params or {})
        # The result's status, not cur.description: that builds a Column object per column
        # (50 for a task row) on every statement.
        result = cur.pgresult
        if result is None or result.status != TUPLES_OK:
            return []
        return cur.fetchall()

    def _fetched(self, cur: Any) -> list[Row]:
        # As _rows: the result's status, not cur.description (a Column object per column).
        result = cur.pgresult
        if result is None or result.status != TUPLES_OK:
            return []
        return list(cur.fetchall())

    def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return int(self.conn.execute(_pg_sql(sql), params or {}).rowcount)

    def runs_claim_candidates(self, now: float, filters: Row, limit: int) -> list[Row]:
        chosen: list[Row] = []
        skip: list[str] = []
        tally: dict[tuple[str, str], int] = {}  # key limits: counted under the key's advisory lock
        for _ in range(20):
            params, where = self._claim_params(now, filters)
            # Rows this transaction locked already come back (SKIP LOCKED skips others' locks only).
            seen = skip + [r["id"] for r in chosen]
            refused = " AND r.id NOT IN " + in_list("skip", seen, params) if seen else ""
            want = params["limit"] = limit - len(chosen)
            rows = self._rows(statement("postgres", "claim", filters=where, skip=refused), params)
            if not rows:
                return chosen
            for row in rows:
                if not has_key_limits(row) or self.key_limit_refusal(row, now, tally) is None:
                    chosen.append(row)
                else:
                    skip.append(row["id"])
            if len(chosen) >= limit or len(rows) < want:
                return chosen
        return chosen

    def run_claim_take(self, now: float, filters: Row, take: RunTake) -> Taken | None:
        # One statement (claim_one) instead of four round trips; a run with a key falls back to
        # the candidate loop above, which counts its key under the key's advisory lock.
        params, where = self._claim_params(now, filters)
        params["limit"] = 1
        sql = statement("postgres", "claim_one", pick=statement("postgres", "claim", filters=where),
                        **self._step_slots(take.task, params), **self._run_slots(take, params))
        params["timeout_base"] = take.timeout_base
        parts = self._row_parts(sql, params)
        if parts is None:
            return None
        candidate, task, run = parts
        assert candidate is not None
        if has_key_limits(candidate):
            return super().run_claim_take(now, filters, take)
        if task is not None:
            self.notify(("task", task["id"]))
        if run is not None:
            self.run_transitions.append(run)
        return Taken(candidate, task, run)

    def run_complete_close(self, run_id: str, now: float, *, result: str | None, terminal_key: str | None,
                           usage: Row, fence: Row, close: TaskStep) -> Closed | None:
        # One statement (complete_close) instead of four round trips.
        params: dict[str, Any] = {}
        complete = self._complete_sql(run_id, now, result, terminal_key, usage, fence, params)
        parts = self._row_parts(statement("postgres", "complete_close", complete=complete,
                                          **self._step_slots(close, params)), params)
        if parts is None:
            return None
        run, task, dependents = parts
        assert run is not None
        self.run_transitions.append(run)
        if task is None:
            return Closed(run, None, [])
        self.notify(("task", task["id"]))
        return Closed(run, task, list((dependents or {}).get("dependents") or []))

    def _step_slots(self, step: TaskStep, params: dict[str, Any]) -> dict[str, str]:
        """The task-step slots of claim_one and complete_close, and the event's parameters."""
        ev = step.event
        params.update(ev_type=ev.event_type, ev_actor_kind=ev.actor_kind, ev_actor_ref=ev.actor_ref,
                      ev_origin_kind=ev.origin_kind, ev_origin_ref=ev.origin_ref, ev_created_at=ev.created_at,
                      # The payload's text after its leading "attempt" (the statement writes that part).
                      ev_payload_rest="," + orjson.dumps(ev.payload).decode()[1:] if ev.payload else "}")
        _check_guard(step.changes, step.expect, task_sources, "task")
        return {"task_step": statement("postgres", "task_step",
                                       task_sets=set_clause(step.changes, params, TASK_COLUMNS, "tasks", prefix="t_"),
                                       task_expect=in_list("te", list(step.expect), params))}

    def _run_slots(self, take: RunTake, params: dict[str, Any]) -> dict[str, str]:
        _check_guard(take.run_changes, take.run_expect, run_sources, "run")
        return {"run_sets": set_clause(take.run_changes, params, RUN_COLUMNS, "runs", prefix="r_"),
                "run_expect": in_list("re", list(take.run_expect), params)}

    def _row_parts(self, sql: str, params: dict[str, Any]) -> list[Row | None] | None:
        """The one row of a statement that answers several tables' rows side by side, split at its
        marker columns ("|name"); a part whose first column is NULL is None. None when no row."""
        cur = self.conn.cursor(row_factory=tuple_row)
        cur.execute(_pg_sql(sql), params)
        values = cur.fetchone()
        if values is None:
            return None
        result = cur.pgresult
        assert result is not None
        layout = _layouts.get((sql, result.nfields))
        if layout is None:
            layout = _layouts[(sql, result.nfields)] = _layout([result.fname(i).decode() for i in range(result.nfields)])
        return [dict(zip(names, values[start:start + len(names)], strict=True)) if values[start] is not None else None
                for start, names in layout]

    def task_identifier_next(self) -> int:
        # A sequence, not the counters row: a row would serialise every task creation
        # behind the previous one's commit.
        return int(self._scalar("SELECT nextval('task_identifier_seq') AS n"))

    def task_identifiers_next(self, n: int) -> list[int]:
        # n numbers in one statement (not n round trips), in increasing order. Unique; consecutive
        # unless another transaction takes numbers at the same moment (as with n single creates).
        if n <= 0:
            return []
        rows = self._rows("SELECT nextval('task_identifier_seq') AS n FROM generate_series(1, :n)", {"n": n})
        return sorted(int(r["n"]) for r in rows)


class PostgresStorage(Storage):
    dialect = "postgres"

    def __init__(self, url: str, *, pool_size: int | None = None):
        super().__init__()
        self.runs_standings = True  # this process's long-polling claims run in the commit that queues work
        self.url = url.replace("postgres://", "postgresql://", 1)
        # Threads (and connections) that run transactions. Each holds the GIL only
        # between round trips, but more threads mean more GIL hand-offs per request.
        self._pool_size = pool_size or int(os.environ.get("TASKLOOM_PG_POOL_SIZE", "8"))
        self._pool: ConnectionPool | None = None
        self._threads: ThreadPoolExecutor | None = None
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while the LISTEN connection is up (tests wait for it)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closing = threading.Event()
        self._checking = threading.Event()
        self._notifier = _Notifier(self.url, self._closing, waiting=self.hub.has_waiters)
        self.hub.on_first_waiter = self._notifier.interested

    def migrate(self) -> list[str]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            # Several servers may start at once on one database: one migrates at a time.
            conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
            try:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TIMESTAMPTZ"
                    " DEFAULT now())"
                )
                done = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
                applied = []
                for name, sql in migration_files("postgres"):
                    if name in done:
                        continue
                    with conn.transaction():
                        for stmt in split_statements(sql):
                            conn.execute(stmt.encode())
                        conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (name,))
                    applied.append(name)
                return applied
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.hub.bind(self._loop)
        self._pool = ConnectionPool(
            self.url,
            min_size=2,
            max_size=self._pool_size,
            kwargs={"row_factory": dict_row, "autocommit": False, "connect_timeout": CONNECT_TIMEOUT},
            open=False,
            # During an outage a request waits at most this long for a connection, then gets 503.
            timeout=POOL_WAIT,
            # Give up a reconnection loop quickly: the next request starts a fresh one at once,
            # instead of waiting out an exponential backoff after the database is back.
            reconnect_timeout=RECONNECT_GIVE_UP,
        )
        await asyncio.to_thread(self._pool.open, True, 30)
        self._threads = ThreadPoolExecutor(max_workers=self._pool_size, thread_name_prefix="taskloom-pg")
        self.listening = asyncio.Event()  # of this start's loop
        self._listener = asyncio.create_task(self._listen())
        self._notifier.start()

    async def close(self) -> None:
        self._closing.set()
        await asyncio.to_thread(self._notifier.stop)
        if self._listener is not None:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._pool is not None:
            await asyncio.to_thread(self._pool.close)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        assert self._threads is not None, "storage not started"
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._write_call, fn)

    async def read(self, fn: Callable[[Tx], T]) -> T:
        assert self._threads is not None, "storage not started"
        return await asyncio.get_running_loop().run_in_executor(self._threads, self._read_call, fn)

    def _write_call(self, fn: Callable[[Tx], T]) -> T:
        with self._unavailable_is_503(), _bad_values_are_input_errors():
            return self._write_with_retries(fn)

    def _write_with_retries(self, fn: Callable[[Tx], T]) -> T:
        assert self._pool is not None
        for attempt in range(8):
            tried: list[Standing] = []
            answers: list[tuple[Standing, Any, BaseException | None]] = []
            try:
                with self._pool.connection() as conn:
                    with conn.transaction():
                        tx = PostgresTx(conn)
                        result = fn(tx)
                        done = [tx]
                        if RUNS_CHANGED in tx.notices:
                            tried = self.standings.take()
                            answers = self._run_standings(conn, tried, done)
            except BaseException as exc:
                self._answer_standings([], tried)
                if isinstance(exc, RETRYABLE) and attempt < 7:
                    log.debug("retrying transaction after deadlock/serialization failure")
                    continue
                raise
            notices: set[tuple[str, str]] = set()
            for each in done:
                self.committed(each)
                notices |= each.notices
            self._answer_standings(answers, [s for s in tried if all(s is not a for a, _, _ in answers)])
            if notices:
                # After the commit: wake this process at once, and others through
                # the notifier. NOTIFY inside the data transaction would take
                # PostgreSQL's global notify lock until commit and serialise every
                # commit (and its fsync) behind the previous one.
                self.hub.publish(notices)
                self._notifier.send(notices)
            return result
        raise AssertionError("unreachable")

    def _run_standings(self, conn: psycopg.Connection[Any], tried: list[Standing],
                       done: list[PostgresTx]) -> list[tuple[Standing, Any, BaseException | None]]:
        """Work appeared in this transaction: try this process's waiting claims in it (one
        savepoint each, oldest first), so each that gets work is answered with this commit."""
        answers: list[tuple[Standing, Any, BaseException | None]] = []
        plan = StandingPlan(sum((tx.work_appeared for tx in done), Counter()))
        for standing in tried:
            if not plan.may_serve(standing):  # nothing appeared that it could claim: it waits on
                continue
            stx = PostgresTx(conn)
            try:
                with conn.transaction():
                    found = standing.fn(stx)
            except RETRYABLE:
                raise
            except Exception as exc:  # noqa: BLE001 - handed back to the waiter
                answers.append((standing, None, exc))
                continue
            done.append(stx)
            if found is not None:
                plan.served(standing, found)
                answers.append((standing, found, None))
        return answers

    def _answer_standings(self, answers: list[tuple[Standing, Any, BaseException | None]],
                          empty: list[Standing]) -> None:
        gone = self.standings.put_back(empty)
        outcomes = [(s.future, found, exc) for s, found, exc in answers] + [(s.future, None, None) for s in gone]
        if outcomes and self._loop is not None:
            self._loop.call_soon_threadsafe(_resolve_futures, outcomes)

    def _read_call(self, fn: Callable[[Tx], T]) -> T:
        assert self._pool is not None
        with self._unavailable_is_503(), _bad_values_are_input_errors(), self._pool.connection() as conn:
            with conn.transaction():
                return fn(PostgresTx(conn, readonly=True))

    @contextmanager
    def _unavailable_is_503(self) -> Iterator[None]:
        """A lost or refused connection answers 503 ``database unavailable`` (never a 500 or a hang).
        The first loss also checks every idle connection in the background, so connections to a
        restarted server are replaced at once rather than one failed request each."""
        try:
            yield
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if isinstance(exc, RETRYABLE):
                raise
            if not self._checking.is_set() and self._pool is not None and not self._closing.is_set():
                self._checking.set()
                threading.Thread(target=self._check_pool, name="taskloom-pg-check", daemon=True).start()
            log.warning("database unavailable: %s", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise Unavailable("database unavailable") from exc

    def _check_pool(self) -> None:
        try:
            if self._pool is not None:
                self._pool.check()
        except Exception:  # noqa: BLE001 - best effort; requests find bad connections anyway
            pass
        finally:
            self._checking.clear()

    async def _listen(self) -> None:
        """Forward NOTIFYs (from any process on this database) to the local hub."""
        while not self._closing.is_set():
            try:
                aconn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
                async with aconn:
                    await aconn.execute(f"LISTEN {CHANNEL}")
                    self._notifier.greet()
                    # After a reconnect something may have been missed: wake everyone.
                    self.hub.publish([("*", "*")])
                    self.listening.set()
                    async for note in aconn.notifies():
                        if note.pid != self._notifier.backend_pid:  # ours were published already
                            notices = _decode_notices(note.payload)
                            self._notifier.heard_peer(interested=INTERESTED in notices)
                            self.hub.publish(notices)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep listening through outages
                self.listening.clear()
                log.warning("notification listener lost its connection: %s", exc)
                await asyncio.sleep(1)


def _resolve_futures(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for fut, result, exc in outcomes:
        if not fut.done():
            fut.set_exception(exc) if exc is not None else fut.set_result(result)


@contextmanager
def _bad_values_are_input_errors() -> Iterator[None]:
    """A value PostgreSQL cannot store (a NUL in text, a number out of range) came from the
    request: answer 400 naming it, not 500."""
    try:
        yield
    except psycopg.DataError as exc:
        raise InvalidInput(f"invalid value: {str(exc).splitlines()[0]}") from exc


class _Notifier:
    """Sends NOTIFY for committed changes from its own autocommit connection,
    coalescing everything pending into one message. A NOTIFY-only transaction writes
    no WAL, so it costs no fsync; listeners also re-check by themselves every second,
    so a notice lost in a crash only delays a wake-up.

    Only while another process waits for notices: each notifier says it is there (a ``peer``
    notice) when it starts and every ``PEER_EVERY`` seconds, and answers a peer it had not heard
    from at once. While someone in its process waits (a long-poll, an event stream: the hub has
    waiters) the notice also says so (``INTERESTED``), and the first waiter after a quiet spell
    says it at once. A notifier sends changes only while some other process said so in the last
    ``PEER_TTL`` seconds: busy workers whose agents never wait pay no NOTIFY per commit (each
    was a round trip here and a decode in every other process). A change committed in the
    moment between a first waiter and its announcement reaching the others reaches that waiter
    through its once-a-second re-check instead."""

    PEER_EVERY = 5.0
    PEER_TTL = 12.0

    def __init__(self, url: str, closing: threading.Event, waiting: Callable[[], bool] = lambda: False):
        self.url = url
        self.closing = closing
        self.waiting = waiting  # whether this process has waiters (the hub's)
        self.pending: set[tuple[str, str]] = set()
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.backend_pid: int | None = None
        self.peers_until = 0.0  # time.monotonic() until which another process is known to listen
        self.interest_until = 0.0  # ... and to have waiters
        self.greet_at = float("inf")  # when to say "peer" next: once the listener listens
        self.said_interest = -float("inf")  # when this one last said it has waiters
        self.sent_changes = 0  # NOTIFYs that carried committed changes (not only greetings)

    def start(self) -> None:
        self.thread = threading.Thread(target=self._main, name="taskloom-pg-notify", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.ready.set()
        if self.thread is not None:
            self.thread.join(5)

    def send(self, notices: set[tuple[str, str]]) -> None:
        if time.monotonic() > self.interest_until:
            return  # nobody else waits
        with self.lock:
            self.pending |= notices
        self.ready.set()

    def greet(self) -> None:
        """Say "peer" now (this process's listener has just started listening: answers reach it)."""
        self.greet_at = 0.0
        self.ready.set()

    def interested(self) -> None:
        """This process's first waiter after none (the hub's hook, on the event loop): say so now,
        unless that was said in the last second (the others still count on it for PEER_TTL)."""
        if time.monotonic() - self.said_interest > 1.0:
            self.greet()

    def heard_peer(self, interested: bool = False) -> None:
        """Another process's notice arrived (any of them: it has a listener); ``interested``:
        it says it has waiters."""
        now = time.monotonic()
        if now > self.peers_until:  # a newcomer (or one back): tell it we are here, now
            self.greet()
        self.peers_until = now + self.PEER_TTL
        if interested:
            self.interest_until = now + self.PEER_TTL

    def _main(self) -> None:
        conn: psycopg.Connection[Any] | None = None
        while not self.closing.is_set():
            self.ready.wait(1.0)
            self.ready.clear()
            with self.lock:
                batch, self.pending = self.pending, set()
            greet = time.monotonic() >= self.greet_at
            interest = greet and self.waiting()
            if greet:
                batch.add(PEER)
            if interest:
                batch.add(INTERESTED)
            if not batch:
                continue
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True)
                    self.backend_pid = conn.info.backend_pid
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, _encode_notices(batch)))
                if greet:
                    self.greet_at = time.monotonic() + self.PEER_EVERY
                if interest:
                    self.said_interest = time.monotonic()
                if batch - {PEER, INTERESTED}:
                    self.sent_changes += 1
            except psycopg.Error as exc:
                log.warning("could not send notifications: %s", exc)
                conn = None
        if conn is not None:
            conn.close()


def _encode_notices(notices: set[tuple[str, str]]) -> str:
    payload = json.dumps(sorted(notices))
    return payload if len(payload) < 7000 else json.dumps([["*", "*"]])


def _decode_notices(payload: str) -> list[tuple[str, str]]:
    """Another process's notices; its new work is marked REMOTE_WORK (no commit here tried this
    process's standing claims for it)."""
    try:
        notices = [(str(a), str(b)) for a, b in json.loads(payload)]
    except (ValueError, TypeError):
        return [("*", "*")]
    return [*notices, REMOTE_WORK] if RUNS_CHANGED in notices else notices


def _satisfies_tx(tx: PostgresTx) -> Tx:
    """mypy checks here that PostgresTx implements every storage protocol (storage/protocols.py)."""
    return tx
