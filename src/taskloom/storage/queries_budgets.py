"""Queries for budgets (issue 16). Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.rows import Row
from taskloom.storage.statements import insert_statement, set_clause

BUDGET_COLUMNS = frozenset(
    """id scope ref period max_tokens max_cost currency spent_tokens spent_cost period_start exhausted exhausted_at
    created_by_kind created_by_ref created_at updated_at""".split()
)


class BudgetQueries:
    if TYPE_CHECKING:  # provided by Tx
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _lock_clause(self, for_update: bool) -> str: ...

    def budget_insert(self, row: Row) -> None:
        self._exec(insert_statement("budgets", row, BUDGET_COLUMNS), row)

    def budget_get(self, budget_id: str, *, for_update: bool = False) -> Row | None:
        return self._one("SELECT * FROM budgets WHERE id = :id" + self._lock_clause(for_update), {"id": budget_id})

    def budget_list(self, *, scope: str | None = None, exhausted: bool | None = None, limit: int = 1000) -> list[Row]:
        params: dict[str, Any] = {"limit": limit}
        where = ["1 = 1"]
        if scope is not None:
            params["scope"] = scope
            where.append("scope = :scope")
        if exhausted is not None:
            params["ex"] = 1 if exhausted else 0
            where.append("exhausted = :ex")
        return self._rows(f"SELECT * FROM budgets WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT :limit",
                          params)

    def budget_update(self, budget_id: str, changes: Row) -> Row | None:
        params: dict[str, Any] = {"id": budget_id}
        sets = set_clause(changes, params, BUDGET_COLUMNS, "budgets")
        return self._one(f"UPDATE budgets SET {sets} WHERE id = :id RETURNING *", params)

    def budget_delete(self, budget_id: str) -> int:
        return self._exec("DELETE FROM budgets WHERE id = :id", {"id": budget_id})

    def budgets_covering(self, agent: str, channel: str, workspace: str, *, for_update: bool = False) -> list[Row]:
        """Budgets whose scope takes in a run of this agent, channel and workspace."""
        return self._rows(
            "SELECT * FROM budgets WHERE (scope = 'agent' AND ref = :a) OR (scope = 'channel' AND ref = :c)"
            " OR (scope = 'workspace' AND ref = :w) ORDER BY id" + self._lock_clause(for_update),
            {"a": agent, "c": channel, "w": workspace},
        )

    def budgets_exhausted(self) -> list[Row]:
        """Budgets marked spent (the claim check: a partial index, empty when none is)."""
        return self._rows("SELECT * FROM budgets WHERE exhausted = 1 ORDER BY id")
