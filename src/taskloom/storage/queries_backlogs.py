"""Queries for the per-agent backlogs API (seed 001). Mixed into ``Tx``.

A backlog is the set of non-draft tasks owned by an agent. ``BACKLOG`` is
written out literally in every query so SQLite matches the partial indexes of
migration 0003 (a bound parameter would not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.rows import Row
from taskloom.storage.dialects import Dialect
from taskloom.storage.statements import in_list, visible_clause

BACKLOG = "owner_kind = 'agent_session' AND status <> 'draft'"
# Only what the backlog views show: no metadata, no ext.
VIEW_COLUMNS = (
    "id, identifier, owner_ref, title, description, priority, status, blocked_reason, blocker,"
    " created_at, started_at, closed_at, result"
)
ORDER = "priority DESC, created_at ASC, id ASC"


class BacklogQueries:
    if TYPE_CHECKING:  # provided by SqlTx (this class is only ever mixed into it)
        sql_dialect: Dialect

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...

    # -- agents and prefixes ------------------------------------------------------
    def backlog_agent_get(self, agent_id: str) -> Row | None:
        return self._one("SELECT * FROM backlog_agents WHERE agent_id = :a", {"a": agent_id})

    def backlog_agent_insert(self, agent_id: str, prefix: str, now: float) -> bool:
        """Record the agent's first prefix; False if a concurrent call already did."""
        return self._exec(
            "INSERT INTO backlog_agents (agent_id, prefix, created_at, updated_at) VALUES (:a, :p, :now, :now)"
            " ON CONFLICT (agent_id) DO NOTHING",
            {"a": agent_id, "p": prefix, "now": now},
        ) > 0

    def backlog_agent_set_prefix(self, agent_id: str, prefix: str, now: float) -> Row:
        row = self._one(
            "INSERT INTO backlog_agents (agent_id, prefix, created_at, updated_at) VALUES (:a, :p, :now, :now)"
            " ON CONFLICT (agent_id) DO UPDATE SET prefix = excluded.prefix, updated_at = excluded.updated_at"
            " RETURNING *",
            {"a": agent_id, "p": prefix, "now": now},
        )
        assert row is not None
        return row

    def backlog_prefix_reserve(self, prefix: str, agent_id: str, now: float) -> bool:
        """Reserve ``prefix`` for ``agent_id``. False if any agent already holds it.

        On PostgreSQL a concurrent reservation of the same prefix waits for the
        other transaction, then sees its row: two agents never both get it."""
        return self._exec(
            "INSERT INTO backlog_prefixes (prefix, agent_id, created_at) VALUES (:p, :a, :now)"
            " ON CONFLICT (prefix) DO NOTHING",
            {"p": prefix, "a": agent_id, "now": now},
        ) > 0

    def backlog_prefix_release(self, prefix: str, agent_id: str) -> None:
        self._exec("DELETE FROM backlog_prefixes WHERE prefix = :p AND agent_id = :a", {"p": prefix, "a": agent_id})

    def backlog_prefix_owner(self, prefix: str) -> str | None:
        value = self._scalar("SELECT agent_id FROM backlog_prefixes WHERE prefix = :p", {"p": prefix})
        return None if value is None else str(value)

    def backlog_prefixes_of(self, agent_id: str) -> list[str]:
        rows = self._rows(
            "SELECT prefix FROM backlog_prefixes WHERE agent_id = :a ORDER BY created_at, prefix", {"a": agent_id}
        )
        return [r["prefix"] for r in rows]

    def backlog_counter_peek(self, name: str) -> int:
        """The last value a counter handed out (0 if none), without taking one."""
        value = self._scalar("SELECT value FROM counters WHERE name = :n", {"n": name})
        return 0 if value is None else int(value)

    # -- tasks --------------------------------------------------------------------
    def backlog_task_find(self, ref: str) -> Row | None:
        """A task by its backlog id (the core identifier) or by its core id."""
        return self._one(
            "SELECT * FROM tasks WHERE identifier = :r UNION ALL SELECT * FROM tasks WHERE id = :r LIMIT 1",
            {"r": ref},
        )

    def backlog_owns_tasks(self, agent_id: str) -> bool:
        return self._one(
            f"SELECT 1 AS x FROM tasks WHERE {BACKLOG} AND owner_ref = :a LIMIT 1", {"a": agent_id}
        ) is not None

    def backlog_task_list(self, filters: Row, *, limit: int, offset: int) -> list[Row]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = _backlog_where(filters, params)
        # Pick the page's ids from the index alone, then read only those rows:
        # a deep OFFSET then skips index entries, not table rows.
        return self._rows(
            f"SELECT {VIEW_COLUMNS} FROM tasks WHERE id IN (SELECT id FROM tasks{self._backlog_hint(filters)}"
            f" WHERE {where} ORDER BY {ORDER} LIMIT :limit OFFSET :offset) ORDER BY {ORDER}",
            params,
        )

    def backlog_task_count(self, filters: Row) -> int:
        params: dict[str, Any] = {}
        where = _backlog_where(filters, params)
        return int(self._scalar(f"SELECT COUNT(*) AS n FROM tasks{self._backlog_hint(filters)} WHERE {where}",
                                params))

    def _backlog_hint(self, filters: Row) -> str:
        """Name the partial index that serves ``filters`` (SQLite: a dialect hook).

        Without ANALYZE statistics SQLite prefers the core (owner_kind, owner_ref,
        status) index for ``owner_kind = ...`` and then sorts every backlog task
        (about 1 s at 100,000 tasks); the named index walks rows already in order.
        For queued (pending or ready) SQLite merges the two status ranges of the
        status index; that measured faster than filtering the order index.
        PostgreSQL plans from its own statistics: no hint."""
        by_agent = filters.get("agent_id") is not None
        by_status = bool(filters.get("core_statuses"))
        if by_agent:
            index = "tasks_backlog_agent_status" if by_status else "tasks_backlog_agent"
        else:
            index = "tasks_backlog_status" if by_status else "tasks_backlog_order"
        return self.sql_dialect.index_hint(index)

    def backlog_status_counts(self, agent_id: str, workspaces: Sequence[str] | None = None) -> dict[str, int]:
        """Core status → task count for one agent's backlog (one index-only scan)."""
        params: dict[str, Any] = {"a": agent_id}
        where = f"{BACKLOG} AND owner_ref = :a" + _workspace_clause(workspaces, params)
        rows = self._rows(f"SELECT status, COUNT(*) AS n FROM tasks WHERE {where} GROUP BY status", params)
        return {r["status"]: int(r["n"]) for r in rows}


def _backlog_where(filters: Row, params: dict[str, Any]) -> str:
    """``filters``: agent_id, core_statuses (list), rank_min/rank_max (inclusive)."""
    clauses = [BACKLOG]
    if filters.get("agent_id") is not None:
        params["agent"] = filters["agent_id"]
        clauses.append("owner_ref = :agent")
    statuses = filters.get("core_statuses")
    if statuses:
        clauses.append(f"status IN {in_list('st', list(statuses), params)}")
    if filters.get("rank_min") is not None:
        params["rmin"], params["rmax"] = filters["rank_min"], filters["rank_max"]
        clauses.append("priority BETWEEN :rmin AND :rmax")
    return " AND ".join(clauses) + _workspace_clause(filters.get("visible_workspaces"), params)


def _workspace_clause(workspaces: Sequence[str] | None, params: dict[str, Any]) -> str:
    """A workspace-scoped caller sees global tasks and its own workspaces' tasks."""
    if workspaces is None:
        return ""
    return " AND " + visible_clause("ws", workspaces, params)
