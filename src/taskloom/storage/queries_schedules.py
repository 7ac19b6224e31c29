"""Queries for scheduled tasks (seed 003). Mixed into ``Tx``.

Firing exactly once across processes: the scheduler claims a firing with a guarded
update (``next_run_at`` must still equal the due time it read), inside the same
transaction that enqueues the run. On PostgreSQL the due rows are also read with
``FOR UPDATE SKIP LOCKED`` so several schedulers split the work instead of queueing
on the same rows; API paths lock their one row with ``FOR UPDATE``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.domain.states import RUN_OPEN, TaskStatus, sql_list, task_sources
from taskloom.rows import Row
from taskloom.storage.dialects import Dialect
from taskloom.storage.named_sql import statement
from taskloom.storage.statements import check_columns, in_list, insert_statement, set_clause

SCHEDULE_COLUMNS = frozenset(
    """task_id kind expr timezone status created_by anchor next_run_at snoozed_until snooze_reason
    dedupe_window_seconds waiting waiting_since last_fired_at fire_count missed_count created_at updated_at""".split()
)
DEDUPE_LOCK_SPACE = 7243  # first key of the two-key advisory lock used for dedupe checks


class ScheduleQueries:
    if TYPE_CHECKING:  # provided by SqlTx
        dialect: str
        sql_dialect: Dialect

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...

    def schedule_insert(self, row: Row) -> None:
        self._exec(insert_statement("schedules", row, SCHEDULE_COLUMNS), row)

    def schedule_get(self, task_id: str, *, for_update: bool = False) -> Row | None:
        lock = self.sql_dialect.lock("update" if for_update else None)
        return self._one(f"SELECT * FROM schedules WHERE task_id = :id{lock}", {"id": task_id})

    def schedule_update(self, task_id: str, changes: Row, *, guard: Row | None = None) -> Row | None:
        """Apply ``changes``; ``guard`` adds ``column = value`` conditions (None means IS NULL).
        Returns the new row, or None when the row is gone or a guard did not hold."""
        check_columns(guard or {}, SCHEDULE_COLUMNS, "schedules")
        params: dict[str, Any] = {"id": task_id}
        sets = set_clause(changes, params, SCHEDULE_COLUMNS, "schedules")
        where = ["task_id = :id"]
        for k, v in (guard or {}).items():
            if v is None:
                where.append(f"{k} IS NULL")
            elif isinstance(v, (list, tuple)):
                where.append(f"{k} IN {in_list(f'g_{k}', v, params)}")
            else:
                params[f"g_{k}"] = v
                where.append(f"{k} = :g_{k}")
        return self._one(
            f"UPDATE schedules SET {sets} WHERE {' AND '.join(where)} RETURNING *", params
        )

    def schedules_due(self, now: float, limit: int) -> list[Row]:
        return self._rows(
            "SELECT * FROM schedules WHERE status = 'active' AND next_run_at IS NOT NULL AND next_run_at <= :now"
            " ORDER BY next_run_at LIMIT :limit" + self.sql_dialect.skip_locked(),
            {"now": now, "limit": limit},
        )

    def schedule_tasks_reopen(self, task_ids: list[str], now: float) -> dict[str, Row]:
        """Reopen many tasks for a new firing in one statement: ready again, the next attempt
        counted, a fresh attempt budget, and each task's event sequence bumped (one event each
        follows). Returns the updated rows by id."""
        if not task_ids:
            return {}
        params: dict[str, Any] = {"now": now}
        rows = self._rows(
            "UPDATE tasks SET status = 'ready', closed_at = NULL, error = NULL, result = NULL,"
            " blocked_reason = NULL, attempt_limit = attempts + max_attempts, attempts = attempts + 1,"
            " event_seq = event_seq + 1, updated_at = :now, last_activity_at = :now"
            f" WHERE id IN {in_list('t', task_ids, params)}"
            f" AND status IN {sql_list(task_sources(TaskStatus.READY))} RETURNING *",
            params,
        )
        return {r["id"]: r for r in rows}

    def schedules_claim_firings(self, task_ids: list[str], due: float, next_run_at: float | None, now: float,
                                missed: int) -> list[Row]:
        """Claim the firing at ``due`` of each schedule still due then and active; the rows won."""
        params: dict[str, Any] = {"due": due, "next": next_run_at, "now": now, "missed": missed}
        return self._rows(
            "UPDATE schedules SET next_run_at = :next, snoozed_until = NULL, snooze_reason = NULL,"
            " last_fired_at = :now, fire_count = fire_count + 1, missed_count = missed_count + :missed,"
            f" updated_at = :now WHERE task_id IN {in_list('t', task_ids, params)} AND next_run_at = :due"
            " AND status = 'active' RETURNING *",
            params,
        )

    def schedules_waiting_ready(self, limit: int) -> list[Row]:
        """Active schedules holding a waiting firing whose task has no open run any more."""
        sql = statement(self.dialect, "schedules_waiting_ready", lock=self.sql_dialect.skip_locked())
        return self._rows(sql, {"limit": limit})

    def schedules_for_events(self) -> list[Row]:
        return self._rows(
            "SELECT * FROM schedules WHERE kind = 'event' AND status = 'active' ORDER BY created_at, task_id"
            + self.sql_dialect.lock("update")
        )

    def _schedule_where(self, filters: Row, params: dict[str, Any]) -> str:
        clauses = ["1 = 1"]
        for key, column in (("status", "status"), ("created_by", "created_by"), ("schedule_kind", "kind")):
            if filters.get(key) is not None:
                params[f"f_{key}"] = filters[key]
                clauses.append(f"{column} = :f_{key}")
        return " AND ".join(clauses)

    def schedule_list(self, filters: Row, *, limit: int, offset: int) -> list[Row]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = self._schedule_where(filters, params)
        return self._rows(
            f"SELECT * FROM schedules WHERE {where} ORDER BY created_at DESC, task_id DESC LIMIT :limit OFFSET :offset",
            params,
        )

    def schedule_count(self, filters: Row) -> int:
        params: dict[str, Any] = {}
        where = self._schedule_where(filters, params)
        return int(self._scalar(f"SELECT COUNT(*) AS n FROM schedules WHERE {where}", params))

    def dedupe_blocking_run(self, key: str, since: float | None) -> Row | None:
        """A run with ``key`` queued at or after ``since`` (None: a run with the key still open).
        On PostgreSQL the check is serialised per key so two firings cannot both pass it."""
        serialise = self.sql_dialect.key_lock(DEDUPE_LOCK_SPACE, "k")
        if serialise is not None:
            self._exec(serialise, {"k": key})
        if since is None:
            return self._one(
                f"SELECT * FROM runs WHERE dedupe_key = :k AND status IN {sql_list(RUN_OPEN)}"
                " ORDER BY queued_at DESC LIMIT 1",
                {"k": key},
            )
        return self._one(
            "SELECT * FROM runs WHERE dedupe_key = :k AND queued_at >= :since ORDER BY queued_at DESC LIMIT 1",
            {"k": key, "since": since},
        )

    def run_of_attempt(self, task_id: str, attempt: int) -> Row | None:
        return self._one(
            "SELECT * FROM runs WHERE task_id = :id AND attempt = :a ORDER BY queued_at DESC LIMIT 1",
            {"id": task_id, "a": attempt},
        )

    def schedule_runs(self, task_id: str, *, status: str | None, limit: int, offset: int) -> list[Row]:
        params: dict[str, Any] = {"id": task_id, "limit": limit, "offset": offset}
        where = "task_id = :id"
        if status:
            where += " AND status = :status"
            params["status"] = status
        return self._rows(
            f"SELECT * FROM runs WHERE {where} ORDER BY attempt DESC LIMIT :limit OFFSET :offset", params
        )

    def latest_run_of_task(self, task_id: str) -> Row | None:
        return self._one("SELECT * FROM runs WHERE task_id = :id ORDER BY attempt DESC LIMIT 1", {"id": task_id})
