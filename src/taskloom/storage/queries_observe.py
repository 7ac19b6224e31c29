"""Read queries for the dashboard's queues view. Mixed into ``Tx``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.domain.states import RUN_LIVE, sql_list

Row = dict[str, Any]


class ObserveQueries:
    if TYPE_CHECKING:
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _task_where(self, filters: Row, params: dict[str, Any]) -> str: ...

    def queue_depth_history(self, filters: Row, times: Sequence[float]) -> list[Row]:
        """Per channel, how many runs were waiting in the queue at each of ``times`` (columns d0, d1, ...).

        A run waits from ``queued_at`` until it is claimed. It reads the runs still queued and those
        claimed since ``times[0]`` (both indexed); a run canceled while still queued is not counted,
        and runs held now (blocked tasks) are left out, as in the live depth."""
        params: dict[str, Any] = {"since": times[0]}
        columns = []
        for i, t in enumerate(times):
            params[f"t{i}"] = t
            columns.append(f"SUM(CASE WHEN queued_at <= :t{i} AND (claimed_at IS NULL OR claimed_at > :t{i})"
                           f" THEN 1 ELSE 0 END) AS d{i}")
        scope = f" AND task_id IN (SELECT id FROM tasks WHERE {self._task_where(filters, params)})" if filters else ""
        waiting = ("SELECT network_channel, queued_at, NULL AS claimed_at FROM runs"
                   f" WHERE status = 'queued' AND held = 0{scope}"
                   " UNION ALL SELECT network_channel, queued_at, claimed_at FROM runs"
                   f" WHERE claimed_at IS NOT NULL AND claimed_at >= :since{scope}")
        return self._rows(f"SELECT network_channel, {', '.join(columns)} FROM ({waiting}) w GROUP BY network_channel",
                          params)

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
        """Per claimer of runs claimed since ``since``: the latest claim and heartbeat, and the run count."""
        return self._rows(
            "SELECT claimed_by_kind, claimed_by_ref, MAX(claimed_at) AS last_claimed_at,"
            " MAX(heartbeat_at) AS last_heartbeat_at, COUNT(*) AS runs"
            " FROM runs WHERE claimed_at IS NOT NULL AND claimed_at >= :since AND claimed_by_ref IS NOT NULL"
            " GROUP BY claimed_by_kind, claimed_by_ref",
            {"since": since},
        )
