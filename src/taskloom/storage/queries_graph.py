"""Queries of the task graph: parents and children, dependency edges, paths between tasks. Mixed into ``Tx``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from taskloom.rows import Row
from taskloom.storage.named_sql import statement
from taskloom.storage.statements import in_list

if TYPE_CHECKING:
    from taskloom.storage.dialects import Dialect


class GraphQueries:
    if TYPE_CHECKING:  # provided by Tx
        dialect: str
        sql_dialect: Dialect

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...

    # -- the tree ------------------------------------------------------------------
    def task_children(self, task_id: str) -> list[Row]:
        return self._rows("SELECT * FROM tasks WHERE parent_task_id = :id ORDER BY created_at, id", {"id": task_id})

    def task_child_counts(self, task_ids: Sequence[str]) -> dict[str, int]:
        if not task_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(
            "SELECT parent_task_id AS pid, COUNT(*) AS n FROM tasks WHERE parent_task_id IN "
            f"{in_list('p', list(task_ids), params)} GROUP BY parent_task_id",
            params,
        )
        return {r["pid"]: int(r["n"]) for r in rows}

    def task_subtree(self, task_id: str) -> list[Row]:
        """The task and all its descendants, each with ``depth`` (root = 0), parents first."""
        return self._rows(statement(self.dialect, "task_subtree"), {"id": task_id})

    # -- dependencies ----------------------------------------------------------------
    def dependency_insert(self, task_id: str, depends_on: str, kind: str, now: float) -> bool:
        n = self._exec(
            "INSERT INTO task_dependencies (task_id, depends_on_task_id, kind, created_at) "
            "VALUES (:t, :d, :k, :now) ON CONFLICT DO NOTHING",
            {"t": task_id, "d": depends_on, "k": kind, "now": now},
        )
        return n > 0

    def dependency_delete(self, task_id: str, depends_on: str) -> bool:
        return self._exec(
            "DELETE FROM task_dependencies WHERE task_id = :t AND depends_on_task_id = :d",
            {"t": task_id, "d": depends_on},
        ) > 0

    def dependencies_of(self, task_ids: Sequence[str]) -> list[Row]:
        if not task_ids:
            return []
        params: dict[str, Any] = {}
        return self._rows(
            "SELECT * FROM task_dependencies WHERE task_id IN "
            f"{in_list('d', list(task_ids), params)} ORDER BY created_at, depends_on_task_id",
            params,
        )

    def tasks_with_dependents(self, task_ids: Sequence[str]) -> list[str]:
        """Those of ``task_ids`` that other tasks depend on, in the order given."""
        if not task_ids:
            return []
        rows = self._rows("SELECT DISTINCT depends_on_task_id AS id FROM task_dependencies WHERE depends_on_task_id"
                          f" IN ({self.sql_dialect.json_values('ids')})", {"ids": orjson.dumps(list(task_ids)).decode()})
        found = {r["id"] for r in rows}
        return [t for t in task_ids if t in found]

    def dependents_of(self, task_id: str) -> list[str]:
        rows = self._rows("SELECT task_id FROM task_dependencies WHERE depends_on_task_id = :id", {"id": task_id})
        return [r["task_id"] for r in rows]

    def dependency_path(self, start: str, target: str) -> list[str] | None:
        """A path of dependency edges from ``start`` to ``target`` (inclusive), if any."""
        rows = self._rows(statement(self.dialect, "dependency_path"), {"start": start, "target": target})
        return rows[0]["path"].split(">") if rows else None

    def unmet_dependency_count(self, task_id: str) -> int:
        return int(
            self._scalar(
                "SELECT COUNT(*) AS n FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on_task_id"
                " WHERE d.task_id = :id AND t.status <> 'completed'",
                {"id": task_id},
            )
        )
