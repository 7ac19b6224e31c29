"""Operation-level queries shared by both dialects.

SQL here is written once with ``:name`` parameters; the PostgreSQL backend
rewrites them to ``%(name)s``. ``SqlTx`` implements the storage protocols (storage/protocols.py)
for both backends; where the dialects really differ (claiming, counters, JSON containment) the
backend's subclass overrides the method.
Every status-changing update is guarded by the expected current status, so a
lost race changes nothing and the caller sees it (rowcount 0 / None).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any

from taskloom.domain.errors import InvalidInput
from taskloom.domain.states import RUN_OPEN, IllegalTransition, run_sources, sql_list, task_sources
from taskloom.rows import EventRow, NewRun, Notice, Row
from taskloom.storage.base import ANY_CHANNEL, RUNS_CHANGED
from taskloom.storage.columns import CLAIMED_RUN_COLUMNS, COMPLETED_RUN_COLUMNS, EVENT_COLUMNS, RUN_COLUMNS, TASK_COLUMNS
from taskloom.storage.dialects import Dialect
from taskloom.storage.queries_agents import AgentQueries
from taskloom.storage.queries_api_keys import ApiKeyQueries
from taskloom.storage.queries_backlogs import BacklogQueries
from taskloom.storage.queries_budgets import BudgetQueries
from taskloom.storage.queries_channels import ChannelQueries
from taskloom.storage.queries_claims import ClaimQueries
from taskloom.storage.queries_graph import GraphQueries
from taskloom.storage.queries_limits import KeyLimitQueries
from taskloom.storage.queries_observe import ObserveQueries
from taskloom.storage.queries_ops import OpsQueries
from taskloom.storage.queries_output import OutputQueries
from taskloom.storage.queries_rate_limit import RateBucketQueries
from taskloom.storage.queries_schedules import ScheduleQueries
from taskloom.storage.queries_usage import UsageQueries
from taskloom.storage.queries_work_queues import WorkQueueQueries
from taskloom.storage.statements import Coalesce, check_columns, in_list, insert_statement, set_clause, visible_clause

__all__ = ["CLAIMED_RUN_COLUMNS", "COMPLETED_RUN_COLUMNS", "EVENT_COLUMNS", "RUN_COLUMNS", "TASK_COLUMNS",
           "Coalesce", "Row", "SqlTx"]


_OPEN = sql_list(RUN_OPEN)
_EVENT_INSERT = (f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
                 f"VALUES ({', '.join(':' + c for c in EVENT_COLUMNS)})")


def _check_guard(changes: Row, expect_status: Sequence[str] | None,
                 sources: Callable[[str], tuple[StrEnum, ...]], kind: str) -> None:
    """A status write must be guarded by states the state table allows it from."""
    if "status" not in changes:
        return
    target = str(changes["status"])
    if expect_status is None:
        raise IllegalTransition(f"an unguarded write of {kind} status {target}")
    allowed = {s.value for s in sources(target)}
    illegal = [str(s) for s in expect_status if str(s) not in allowed]
    if illegal:
        raise IllegalTransition(f"the state table has no {kind} transition {', '.join(illegal)} → {target}")


class SqlTx(ClaimQueries, GraphQueries, WorkQueueQueries, BacklogQueries, AgentQueries, ScheduleQueries,
         ApiKeyQueries, UsageQueries, ChannelQueries, OpsQueries, ObserveQueries, OutputQueries,
         BudgetQueries, KeyLimitQueries, RateBucketQueries):
    """One transaction. Engine code calls only the named methods below."""

    dialect = "sql"
    sql_dialect: Dialect  # where the SQL differs (storage/dialects.py): set by each backend

    def __init__(self, conn: Any, *, readonly: bool = False):
        self.conn = conn
        self.readonly = readonly
        self.notices: set[Notice] = set()
        # Runs this transaction made claimable, by channel: which standing claims it can serve (StandingPlan).
        self.work_appeared: Counter[Any] = Counter()
        # Runs whose status this transaction changed (the updated rows), for commit hooks
        # (metrics, logs): they see only what was committed.
        self.run_transitions: list[Row] = []
        self.after_commit: list[Callable[[], None]] = []  # run once committed, on the storage thread
        # (task id, state) pairs this transaction already wrote a webhook delivery for: one
        # delivery per state change, whatever events follow it (engine/webhooks.py).
        self.outbox_written: set[tuple[str, str]] = set()

    # -- low-level helpers (private to storage) --------------------------------
    def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]:
        raise NotImplementedError

    def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None:
        rows = self._rows(sql, params)
        return rows[0] if rows else None

    def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int:
        raise NotImplementedError

    def _rows_at(self, sql: str, params: dict[str, Any] | None = None, lead: Sequence[Any] = ()) -> list[Row]:
        """``_rows`` with the parameters bound by position (the batch statements, hundreds of
        parameters each). SQLite finds a named parameter by a linear search over the statement's
        names, so binding n of them costs O(n^2): a 100-row event INSERT took 19 us a row named,
        3.5 us by position. ``lead``: the values of the statement's first parameters, in order
        (a dialect's ``row_source`` or ``insert_rows``), so they need no names in ``params``."""
        text, names = self.sql_dialect.positional(sql)
        args = [*lead, *(params[n] for n in names[len(lead):])] if params else list(lead)
        # What SQLite's _storable refuses, refused the same way on both (one scan of all the text).
        if "\x00" in "".join([v for v in args if type(v) is str]):
            raise InvalidInput("invalid value: a string cannot contain NUL (0x00) characters")
        return self._fetched(self.conn.execute(text, args))

    def _fetched(self, cur: Any) -> list[Row]:
        """The rows of an executed statement, as dicts (none for a statement that returns none)."""
        if cur.description is None:
            return []
        rows = cur.fetchall()
        if rows and not isinstance(rows[0], dict):  # sqlite3 gives tuples, psycopg (dict_row) dicts
            columns = [d[0] for d in cur.description]
            return [dict(zip(columns, r, strict=False)) for r in rows]  # one name per column by construction
        return list(rows)

    def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        row = self._one(sql, params)
        return None if row is None else next(iter(row.values()))

    def notify(self, notice: Notice) -> None:
        self.notices.add(notice)
        if notice == RUNS_CHANGED:  # from engine code that does not say on which channel
            self.work_appeared[ANY_CHANNEL] += 1

    def _claimable(self, channels: Iterable[str | None]) -> None:
        """Runs became claimable on these channels: wake long-polling claims."""
        for channel in channels:
            self.work_appeared[channel] += 1
            self.notices.add(RUNS_CHANGED)

    # -- counters ---------------------------------------------------------------
    def counter_next(self, name: str, start: int = 1) -> int:
        """Next value of a named counter; values are never handed out twice."""
        value = self._scalar(
            "INSERT INTO counters (name, value) VALUES (:name, :start) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + 1 RETURNING value",
            {"name": name, "start": start},
        )
        return int(value)

    def task_identifier_next(self) -> int:
        """The number in a new task's ``TL-<n>`` identifier."""
        return self.counter_next("task_identifier")

    def task_identifiers_next(self, n: int) -> list[int]:
        """``n`` identifier numbers at once (batch create), in increasing order: one statement
        where the numbers come from the counters row, else one ``task_identifier_next`` each
        (a backend that numbers them its own way, as PostgreSQL with a sequence)."""
        if n <= 0:
            return []
        if type(self).task_identifier_next is not SqlTx.task_identifier_next:
            return [self.task_identifier_next() for _ in range(n)]
        last = int(self._scalar(
            "INSERT INTO counters (name, value) VALUES ('task_identifier', :n) "
            "ON CONFLICT (name) DO UPDATE SET value = counters.value + :n RETURNING value", {"n": n}))
        return list(range(last - n + 1, last + 1))

    # -- tasks ------------------------------------------------------------------
    def task_insert(self, row: Row) -> None:
        self._exec(insert_statement("tasks", row, TASK_COLUMNS), row)

    def tasks_insert_many(self, rows: list[Row]) -> list[Row]:
        """Insert tasks sharing one set of columns with multi-row INSERTs; the stored rows, in order.

        Reading every row back (``RETURNING *``, 45 columns) was ~40 % of a batch create's task
        insert, so only the first is read back when the others are alike: the same columns, each
        value of the same type as the first's (None where it is None). They come back as the
        first did: given values over the first's column defaults (every task column default is a
        constant), a float as the backend's RETURNING gives it (``returned_float``). Rows not
        alike, or a first row that came back otherwise, are all read back."""
        if len(rows) < 2:
            return self._insert_many("tasks", rows, TASK_COLUMNS)
        first = self._insert_many("tasks", rows[:1], TASK_COLUMNS)[0]
        rest = rows[1:]
        columns = tuple(rows[0])
        shape = tuple(map(type, rows[0].values()))
        floats = [c for c, t in zip(columns, shape, strict=True) if t is float]
        returned_float = self.sql_dialect.returned_float
        template = dict(first)  # the stored column order and defaults
        template.update(rows[0])
        for c in floats:
            template[c] = returned_float(template[c])
        if (template != first or any(type(template[c]) is not type(first[c]) for c in columns)
                or any(tuple(r) != columns or tuple(map(type, r.values())) != shape for r in rest)):
            return [first, *self._insert_many("tasks", rest, TASK_COLUMNS)]
        for sql, lead in self.sql_dialect.insert_rows("tasks", columns, rest):
            self._rows_at(sql, lead=lead)
        stored = [first]
        for row in rest:
            task = template.copy()
            task.update(row)
            for c in floats:
                task[c] = returned_float(task[c])
            stored.append(task)
        return stored

    def _insert_many(self, table: str, rows: Sequence[Mapping[str, Any]], allowed: frozenset[str]) -> list[Row]:
        if not rows:
            return []
        columns = list(rows[0])
        check_columns(columns, allowed, table)
        stored: dict[str, Row] = {}
        for sql, lead in self.sql_dialect.insert_rows(table, tuple(columns), rows, " RETURNING *"):
            for got in self._rows_at(sql, lead=lead):
                stored[got["id"]] = got
        return [stored[row["id"]] for row in rows]

    def task_get(self, task_id: str, *, for_update: bool = False) -> Row | None:
        return self._one("SELECT * FROM tasks WHERE id = :id" + self._lock_clause(for_update), {"id": task_id})

    def task_get_by_identifier(self, identifier: str) -> Row | None:
        return self._one("SELECT * FROM tasks WHERE identifier = :i", {"i": identifier})

    def tasks_get_many(self, task_ids: Sequence[str]) -> dict[str, Row]:
        if not task_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(f"SELECT * FROM tasks WHERE id IN {in_list('t', list(task_ids), params)}", params)
        return {r["id"]: r for r in rows}

    def task_update(self, task_id: str, changes: Row, *, expect_status: Sequence[str] | None = None) -> Row | None:
        """Apply ``changes`` (guarded by ``expect_status``) and bump the event sequence.

        Returns the updated row, or None when the row is missing or its status
        was not one of ``expect_status``.
        """
        _check_guard(changes, expect_status, task_sources, "task")
        params: dict[str, Any] = {"id": task_id}
        sets = [set_clause(changes, params, TASK_COLUMNS, "tasks"), "event_seq = event_seq + 1"]
        where = "id = :id"
        if expect_status is not None:
            where += " AND status IN " + in_list("s", list(expect_status), params)
        row = self._one(f"UPDATE tasks SET {', '.join(sets)} WHERE {where} RETURNING *", params)
        if row is not None:
            self.notify(("task", task_id))
        return row

    def tasks_update_many(self, items: Sequence[Row], changes: Row, *, expect_status: Sequence[str]) -> list[Row]:
        """``task_update`` for many tasks in one statement: ``changes`` for all, plus each item's
        own text columns (``items``: ``id`` and the same further keys in each), guarded by
        ``expect_status``, each task's event sequence bumped. Returns the updated rows."""
        if not items:
            return []
        own = [k for k in items[0] if k != "id"]
        _check_guard(changes, expect_status, task_sources, "task")
        check_columns(own, TASK_COLUMNS, "tasks")
        params: dict[str, Any] = {}
        values, lead = self.sql_dialect.row_source("u", [[item["id"], *(item[k] for k in own)] for item in items],
                                                   ["text"] * (1 + len(own)))
        sets = [set_clause(changes, params, TASK_COLUMNS, "tasks"), *(f"{k} = items.{k}" for k in own),
                "event_seq = tasks.event_seq + 1"]
        rows = self._rows_at(
            f"WITH items({', '.join(['id', *own])}) AS ({values})"
            f" UPDATE tasks SET {', '.join(s for s in sets if s)} FROM items"
            f" WHERE tasks.id = items.id AND tasks.status IN {in_list('s', list(expect_status), params)}"
            # SQLite's RETURNING takes no "tasks.*"; PostgreSQL's "*" adds the items' columns,
            # which hold the same values as the task's own.
            " RETURNING *",
            params, lead,
        )
        for row in rows:
            self.notify(("task", row["id"]))
        return rows

    def task_delete(self, task_id: str) -> int:
        return self._exec("DELETE FROM tasks WHERE id = :id", {"id": task_id})

    def task_list(self, filters: Row, *, limit: int, offset: int = 0, order: str = "created_desc") -> list[Row]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = self._task_where(filters, params)
        order_sql = {
            "created_desc": "created_at DESC, id DESC",
            "created_asc": "created_at ASC, id ASC",
            "priority": "priority DESC, created_at ASC, id ASC",
        }[order]
        return self._rows(
            f"SELECT * FROM tasks WHERE {where} ORDER BY {order_sql} LIMIT :limit OFFSET :offset", params
        )

    def task_count(self, filters: Row) -> int:
        params: dict[str, Any] = {}
        where = self._task_where(filters, params)
        return int(self._scalar(f"SELECT COUNT(*) AS n FROM tasks WHERE {where}", params))

    def _task_where(self, filters: Row, params: dict[str, Any]) -> str:
        """Build a WHERE clause from simple equality filters plus a few special keys."""
        clauses = ["1 = 1"]
        for key, value in filters.items():
            if value is None:
                continue
            if key == "visible_workspaces":
                clauses.append(visible_clause("vw", value, params))
            elif key == "status_in":
                clauses.append("status IN " + in_list("si", list(value), params))
            elif key == "exclude_drafts":
                if value:
                    clauses.append("draft = 0")
            elif key == "query":
                params["query"] = f"%{str(value).lower()}%"
                clauses.append("(LOWER(title) LIKE :query OR LOWER(identifier) LIKE :query)")
            else:
                check_columns([key], TASK_COLUMNS, "tasks")
                params[f"f_{key}"] = value
                clauses.append(f"{key} = :f_{key}")
        return " AND ".join(clauses)

    # -- runs -------------------------------------------------------------------
    def run_insert(self, row: NewRun) -> Row:
        """Insert a run; returns the stored row (with column defaults)."""
        stored = self._one(insert_statement("runs", row, RUN_COLUMNS, returning=True), dict(row))
        if row.get("status") == "queued" and not row.get("held"):
            self._claimable([row.get("network_channel")])
        assert stored is not None
        return stored

    def run_get(self, run_id: str, *, for_update: bool = False) -> Row | None:
        return self._one("SELECT * FROM runs WHERE id = :id" + self._lock_clause(for_update), {"id": run_id})

    def runs_get_many(self, run_ids: Sequence[str]) -> dict[str, Row]:
        if not run_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(f"SELECT * FROM runs WHERE id IN {in_list('r', list(run_ids), params)}", params)
        return {r["id"]: r for r in rows}

    def run_update(self, run_id: str, changes: Row, *, expect_status: Sequence[str] | None = None) -> Row | None:
        _check_guard(changes, expect_status, run_sources, "run")
        params: dict[str, Any] = {"id": run_id}
        sets = set_clause(changes, params, RUN_COLUMNS, "runs")
        where = "id = :id"
        if expect_status is not None:
            where += " AND status IN " + in_list("s", list(expect_status), params)
        row = self._one(f"UPDATE runs SET {sets} WHERE {where} RETURNING *", params)
        if row is not None and "status" in changes:
            self.run_transitions.append(row)
        if row is not None and row["status"] == "queued" and not row["held"]:
            self._claimable([row["network_channel"]])
        return row

    def runs_of_task(self, task_id: str, *, status: str | None = None, session_id: str | None = None,
                     limit: int = 1000) -> list[Row]:
        params: dict[str, Any] = {"id": task_id, "limit": limit}
        where = "task_id = :id"
        if status:
            where += " AND status = :status"
            params["status"] = status
        if session_id:
            where += " AND session_id = :session"
            params["session"] = session_id
        return self._rows(f"SELECT * FROM runs WHERE {where} ORDER BY attempt, queued_at LIMIT :limit", params)

    def open_run_of_task(self, task_id: str) -> Row | None:
        return self._one(
            f"SELECT * FROM runs WHERE task_id = :id AND status IN {_OPEN}"
            " ORDER BY attempt DESC LIMIT 1",
            {"id": task_id},
        )

    def open_runs_of_tasks(self, task_ids: Sequence[str]) -> dict[str, Row]:
        if not task_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(
            f"SELECT * FROM runs WHERE status IN {_OPEN} AND task_id IN "
            f"{in_list('o', list(task_ids), params)} ORDER BY attempt",
            params,
        )
        return {r["task_id"]: r for r in rows}

    def latest_runs_of_tasks(self, task_ids: Sequence[str]) -> dict[str, Row]:
        if not task_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(
            f"SELECT * FROM runs WHERE task_id IN {in_list('l', list(task_ids), params)} ORDER BY attempt",
            params,
        )
        return {r["task_id"]: r for r in rows}

    # -- events -----------------------------------------------------------------
    def runs_insert_returning(self, rows: list[NewRun]) -> list[Row]:
        """Insert runs sharing one set of columns with multi-row INSERTs; the stored rows, in order."""
        stored = self._insert_many("runs", rows, RUN_COLUMNS)
        self._claimable([r["network_channel"] for r in stored if r["status"] == "queued" and not r["held"]])
        return stored

    def runs_insert_many(self, rows: list[NewRun]) -> None:
        """Insert runs that share one set of columns with multi-row INSERTs, reading nothing back
        (``runs_insert_returning`` when the stored rows are wanted)."""
        if rows:
            columns = list(rows[0])
            check_columns(columns, RUN_COLUMNS, "runs")
            for sql, lead in self.sql_dialect.insert_rows("runs", tuple(columns), rows):
                self._rows_at(sql, lead=lead)
            self._claimable([r.get("network_channel") for r in rows])

    def events_insert_many(self, rows: list[EventRow]) -> None:
        """Append events with multi-row INSERTs (100 rows a statement)."""
        for row in rows:
            self.notify(("task", row["task_id"]))
        if rows:
            for sql, lead in self.sql_dialect.insert_rows("events", EVENT_COLUMNS, rows):
                self._rows_at(sql, lead=lead)

    def event_insert(self, row: EventRow) -> None:
        self.notify(("task", row["task_id"]))
        self._exec(_EVENT_INSERT, {c: row.get(c) for c in EVENT_COLUMNS})

    def events_of_task(self, task_id: str, *, after_sequence: int = 0, limit: int = 1000,
                       exclude_type: str | None = None) -> list[Row]:
        params: dict[str, Any] = {"id": task_id, "after": after_sequence, "limit": limit}
        where = "task_id = :id AND sequence > :after"
        if exclude_type is not None:
            params["ex"] = exclude_type
            where += " AND event_type <> :ex"
        return self._rows(f"SELECT * FROM events WHERE {where} ORDER BY sequence LIMIT :limit", params)

    def latest_event_at(self) -> float | None:
        value = self._scalar("SELECT MAX(created_at) AS t FROM events")
        return None if value is None else float(value)

    # -- dialect hooks ------------------------------------------------------------
    def _lock_clause(self, for_update: bool) -> str:
        return self.sql_dialect.lock("update" if for_update else None)
