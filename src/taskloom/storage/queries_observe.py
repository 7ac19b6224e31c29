"""The dashboard's and inbox's queries: status counts, queue depth, live runs, latency, the
queues and agents views, and each person's triage marks. Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.domain.states import RUN_LIVE, sql_list
from taskloom.rows import Row
from taskloom.storage.dialects import Dialect
from taskloom.storage.named_sql import statement
from taskloom.storage.statements import insert_statement

_LIVE = sql_list(RUN_LIVE)


class ObserveQueries:
    if TYPE_CHECKING:
        sql_dialect: Dialect

        dialect: str

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...
        def _task_where(self, filters: Row, params: dict[str, Any]) -> str: ...

    def _bucket(self, column: str) -> str:
        """The step (1, 2, ...) from which a time in (since, since + n*step] counts; 0 at or before since."""
        offset = f"({column} - :since) / :step"
        return f"CASE WHEN {column} <= :since THEN 0 ELSE {self.sql_dialect.floor(offset)} + 1 END"

    def queue_waits(self, filters: Row, since: float, step: float) -> list[Row]:
        """What the queue depth history is made of, per channel: ``n`` runs entered the queue in step
        ``queued`` after ``since`` and left it by being claimed in step ``claimed`` (null: still queued).
        Step 0 is at or before ``since``, step k in (since + (k-1)*step, since + k*step]. It reads the
        runs still queued and the runs claimed since ``since`` (a covering index); runs canceled while
        still queued are not seen, and runs held now (blocked tasks) are left out, as in the live depth."""
        params: dict[str, Any] = {"since": since, "step": step}
        scope = f" AND task_id IN (SELECT id FROM tasks WHERE {self._task_where(filters, params)})" if filters else ""
        queued, claimed = self._bucket("queued_at"), self._bucket("claimed_at")
        return self._rows(
            f"SELECT network_channel, {queued} AS queued, NULL AS claimed, COUNT(*) AS n FROM runs"
            f" WHERE status = 'queued' AND held = 0{scope} GROUP BY network_channel, {queued}"
            f" UNION ALL SELECT network_channel, {queued} AS queued, {claimed} AS claimed, COUNT(*) AS n FROM runs"
            f" WHERE claimed_at IS NOT NULL AND claimed_at >= :since{scope}"
            f" GROUP BY network_channel, {queued}, {claimed}",
            params,
        )

    def live_run_counts_by_channel(self, filters: Row, now: float, silent_before: float) -> list[Row]:
        """Per channel: live runs, and how many of them are stuck (lease lapsed or heartbeat too old)."""
        params: dict[str, Any] = {"now": now, "silent": silent_before}
        scope = f" AND task_id IN (SELECT id FROM tasks WHERE {self._task_where(filters, params)})" if filters else ""
        return self._rows(
            "SELECT network_channel, COUNT(*) AS active,"
            " SUM(CASE WHEN lease_until < :now OR heartbeat_at < :silent THEN 1 ELSE 0 END) AS stuck"
            f" FROM runs WHERE status IN {sql_list(RUN_LIVE)}{scope} GROUP BY network_channel",
            params,
        )

    def claimer_activity(self, since: float) -> list[Row]:
        """Per claimer of runs claimed since ``since`` (a covering index): its latest claim and run count."""
        return self._rows(
            "SELECT claimed_by_kind, claimed_by_ref, MAX(claimed_at) AS last_claimed_at, COUNT(*) AS runs"
            " FROM runs WHERE claimed_at IS NOT NULL AND claimed_at >= :since AND claimed_by_ref IS NOT NULL"
            " GROUP BY claimed_by_kind, claimed_by_ref",
            {"since": since},
        )

    # -- triage -----------------------------------------------------------------
    def triage_get(self, actor_kind: str, actor_ref: str, task_id: str) -> Row | None:
        return self._one(
            "SELECT * FROM triage WHERE actor_kind = :k AND actor_ref = :r AND task_id = :t",
            {"k": actor_kind, "r": actor_ref, "t": task_id},
        )

    def triage_upsert(self, row: Row) -> Row:
        sets = ", ".join(f"{c} = excluded.{c}" for c in row if c not in ("actor_kind", "actor_ref", "task_id"))
        result = self._one(
            insert_statement("triage", row) + f" ON CONFLICT (actor_kind, actor_ref, task_id)"
            f" DO UPDATE SET {sets} RETURNING *",
            row,
        )
        assert result is not None
        return result

    def triage_for_actor(self, actor_kind: str, actor_ref: str) -> dict[str, Row]:
        rows = self._rows(
            "SELECT * FROM triage WHERE actor_kind = :k AND actor_ref = :r", {"k": actor_kind, "r": actor_ref}
        )
        return {r["task_id"]: r for r in rows}

    # -- observation ------------------------------------------------------------
    def task_status_counts(self, filters: Row) -> dict[str, int]:
        params: dict[str, Any] = {}
        where = self._task_where(filters, params)
        rows = self._rows(f"SELECT status, COUNT(*) AS n FROM tasks WHERE {where} GROUP BY status", params)
        return {r["status"]: int(r["n"]) for r in rows}

    def task_blocked_counts(self, filters: Row) -> dict[str, int]:
        params: dict[str, Any] = {}
        where = self._task_where(filters, params)
        rows = self._rows(
            f"SELECT blocked_reason, COUNT(*) AS n FROM tasks WHERE {where} AND status = 'blocked'"
            " GROUP BY blocked_reason",
            params,
        )
        return {str(r["blocked_reason"]): int(r["n"]) for r in rows}

    def run_status_counts(self, filters: Row) -> dict[str, int]:
        params: dict[str, Any] = {}
        where = self._task_where(filters, params)
        rows = self._rows(
            "SELECT r.status AS status, COUNT(*) AS n FROM runs r WHERE r.task_id IN"
            f" (SELECT id FROM tasks WHERE {where}) GROUP BY r.status"
            if filters else "SELECT status, COUNT(*) AS n FROM runs GROUP BY status",
            params,
        )
        return {r["status"]: int(r["n"]) for r in rows}

    def queue_depth(self, filters: Row) -> list[Row]:
        params: dict[str, Any] = {}
        where = self._task_where(filters, params)
        return self._rows(
            "SELECT r.network_channel AS network_channel, COUNT(*) AS count, MIN(r.queued_at) AS oldest"
            " FROM runs r WHERE r.status = 'queued' AND r.held = 0"
            + (f" AND r.task_id IN (SELECT id FROM tasks WHERE {where})" if filters else "")
            + " GROUP BY r.network_channel ORDER BY count DESC",
            params,
        )

    def live_runs(self, filters: Row, limit: int = 200) -> list[Row]:
        params: dict[str, Any] = {"limit": limit}
        where = self._task_where(filters, params)
        return self._rows(
            f"SELECT r.* FROM runs r WHERE r.status IN {_LIVE}"
            + (f" AND r.task_id IN (SELECT id FROM tasks WHERE {where})" if filters else "")
            + " ORDER BY r.claimed_at LIMIT :limit",
            params,
        )

    def forced_stop_count(self, filters: Row) -> int:
        """Runs the engine took back (lease lapsed or timed out), not failed by their agent."""
        params: dict[str, Any] = {}
        where = self._task_where(filters, params)
        return int(self._scalar(
            "SELECT COUNT(*) AS n FROM runs r WHERE r.status = 'failed' AND r.last_event_type = 'run.lease_expired'"
            + (f" AND r.task_id IN (SELECT id FROM tasks WHERE {where})" if filters else ""),
            params,
        ))

    def latency_stats(self, since: float) -> Row:
        row = self._one(statement(self.dialect, "latency_stats"), {"since": since})
        return row or {}
