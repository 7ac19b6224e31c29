"""Read queries for the dashboard's queues and agents views. Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.domain.states import RUN_LIVE, sql_list
from taskloom.rows import Row
from taskloom.storage.dialects import Dialect


class ObserveQueries:
    if TYPE_CHECKING:
        sql_dialect: Dialect

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
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
