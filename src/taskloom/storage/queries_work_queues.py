"""Queries for the work-queues API (seed 000). Mixed into ``Tx``.

A queue's id is the ``network_channel`` of its tasks and runs, so everything
here reads the core ``tasks``/``runs`` tables; only ``work_queues`` is ours.
The work-queue status of a task is derived from its core row (domain/projections.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.domain.projections import WQ_STATUS_SQL, WQ_STATUSES
from taskloom.rows import Row
from taskloom.storage.dialects import Dialect, LockMode
from taskloom.storage.statements import in_list

WQ_STATUS = WQ_STATUS_SQL


class WorkQueueQueries:
    if TYPE_CHECKING:
        sql_dialect: Dialect

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...
        def _claim_where(self, now: float, filters: Row, params: dict[str, Any]) -> str: ...

    # -- queues -------------------------------------------------------------------
    def wq_insert(self, row: Row) -> Row | None:
        """Insert a queue; None when its team already has a queue of that name."""
        return self._one(
            "INSERT INTO work_queues (id, name, team_id, created_by_kind, created_by_ref, created_at, updated_at)"
            " VALUES (:id, :name, :team_id, :created_by_kind, :created_by_ref, :created_at, :updated_at)"
            " ON CONFLICT (team_id, name) DO NOTHING RETURNING *",
            row,
        )

    def wq_get(self, queue_id: str, *, lock: LockMode | None = None) -> Row | None:
        """The queue. ``lock``: 'share' (adding a task) or 'update' (deleting) on PostgreSQL,
        so a task is never added to a queue that a concurrent delete has just emptied."""
        return self._one("SELECT * FROM work_queues WHERE id = :id" + self.sql_dialect.lock(lock), {"id": queue_id})

    def wq_list(self, team_id: str | None, visible: Sequence[str] | None, *, limit: int, offset: int) -> list[Row]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = ["1 = 1"]
        if team_id is not None:
            params["team"] = team_id
            where.append("team_id = :team")
        if visible is not None:
            where.append("team_id IN " + in_list("vw", list(visible) or [""], params))
        return self._rows(
            f"SELECT * FROM work_queues WHERE {' AND '.join(where)}"
            " ORDER BY created_at, id LIMIT :limit OFFSET :offset",
            params,
        )

    def wq_delete(self, queue_id: str) -> int:
        return self._exec("DELETE FROM work_queues WHERE id = :id", {"id": queue_id})

    # -- tasks of queues ----------------------------------------------------------
    def wq_status_counts(self, queue_ids: Sequence[str], now: float) -> dict[str, dict[str, int]]:
        """Per queue, how many tasks are in each work-queue status (every status present, 0 if none)."""
        out: dict[str, dict[str, int]] = {q: dict.fromkeys(WQ_STATUSES, 0) for q in queue_ids}
        if not queue_ids:
            return out
        params: dict[str, Any] = {"now": now}
        rows = self._rows(
            f"SELECT q, s, COUNT(*) AS n FROM (SELECT network_channel AS q, {WQ_STATUS} AS s FROM tasks"
            f" WHERE network_channel IN {in_list('q', list(queue_ids), params)}) x GROUP BY q, s",
            params,
        )
        for r in rows:
            if r["s"] in out[r["q"]]:
                out[r["q"]][r["s"]] = int(r["n"])
        return out

    def wq_tasks(self, queue_id: str, now: float, *, status: str | None, limit: int, offset: int) -> list[Row]:
        """Tasks of a queue, oldest first, each with its derived ``wq_status``."""
        params: dict[str, Any] = {"q": queue_id, "now": now, "limit": limit, "offset": offset}
        where = "network_channel = :q"
        if status is not None:
            params["status"] = status
            where += f" AND {WQ_STATUS} = :status"
        return self._rows(
            f"SELECT tasks.*, {WQ_STATUS} AS wq_status FROM tasks WHERE {where}"
            " ORDER BY created_at, id LIMIT :limit OFFSET :offset",
            params,
        )

    def wq_task_status(self, task_id: str, now: float) -> str | None:
        return self._scalar(f"SELECT {WQ_STATUS} AS s FROM tasks WHERE id = :id", {"id": task_id, "now": now})

    def wq_open_task_ids(self, queue_id: str, now: float) -> list[str]:
        """Tasks that are pending or assigned (what a forced delete cancels)."""
        rows = self._rows(
            f"SELECT id FROM tasks WHERE network_channel = :q AND {WQ_STATUS} IN ('pending','assigned')"
            " ORDER BY created_at, id",
            {"q": queue_id, "now": now},
        )
        return [r["id"] for r in rows]

    # -- dequeue and steal --------------------------------------------------------
    def wq_next_run(self, queue_id: str, now: float, filters: Row, skip: Sequence[str] = ()) -> Row | None:
        """The queue's best claimable run in dequeue order (most urgent, then earliest
        deadline, then oldest), locked on PostgreSQL (rows others hold are skipped)."""
        params: dict[str, Any] = {}
        where = self._claim_where(now, {**filters, "network_channel": queue_id}, params)
        if skip:
            where += " AND r.id NOT IN " + in_list("sk", list(skip), params)
        return self._one(
            f"SELECT r.* FROM runs r WHERE {where}"
            " ORDER BY r.priority DESC, (r.deadline IS NULL), r.deadline, r.queued_at, r.id LIMIT 1"
            + self.sql_dialect.skip_locked(),
            params,
        )

    def wq_steal_sources(self, team_id: str, exclude_queue: str, now: float, filters: Row) -> list[Row]:
        """The team's other queues that have claimable work, most loaded first
        (ties: the one holding the more urgent task, then the older queue)."""
        params: dict[str, Any] = {"team": team_id, "self": exclude_queue}
        where = self._claim_where(now, filters, params)
        return self._rows(
            "SELECT q.id AS queue_id, COUNT(r.id) AS n, MAX(r.priority) AS top FROM work_queues q"
            f" JOIN runs r ON r.network_channel = q.id WHERE q.team_id = :team AND q.id <> :self AND {where}"
            " GROUP BY q.id, q.created_at ORDER BY n DESC, top DESC, q.created_at, q.id",
            params,
        )
