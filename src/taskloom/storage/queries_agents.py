"""Queries for the agent registry and webhooks (seed 002). Mixed into ``Tx``. (Its conversation
is the run's coordination channel: queries_channels.py.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from taskloom.domain.projections import AGENT_TASK_STATE_SQL
from taskloom.domain.states import TASK_TERMINAL, sql_list
from taskloom.rows import Row
from taskloom.storage.statements import in_list, insert_statement, set_clause, visible_clause

AGENT_COLUMNS = frozenset(
    """id name team description capabilities state state_reason default_timeout_seconds metadata
    created_by_kind created_by_ref created_at updated_at""".split()
)
DELIVERY_COLUMNS = frozenset(
    """status attempts next_attempt_at locked_until last_status_code last_error updated_at delivered_at""".split()
)

class AgentQueries:
    if TYPE_CHECKING:  # provided by Tx
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...
        def _lock_clause(self, for_update: bool) -> str: ...

    # -- agents -----------------------------------------------------------------
    def agent_insert(self, row: Row) -> None:
        self._exec(insert_statement("agents", row, AGENT_COLUMNS), row)

    def agent_get(self, agent_id: str, *, for_update: bool = False) -> Row | None:
        return self._one("SELECT * FROM agents WHERE id = :id" + self._lock_clause(for_update), {"id": agent_id})

    def agent_state(self, agent_id: str) -> str | None:
        value = self._scalar("SELECT state FROM agents WHERE id = :id", {"id": agent_id})
        return None if value is None else str(value)

    def agent_list(self, *, team: str | None, state: str | None, limit: int, offset: int) -> list[Row]:
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        where = ["1 = 1"]
        if team is not None:
            params["team"] = team
            where.append("team = :team")
        if state is not None:
            params["state"] = state
            where.append("state = :state")
        return self._rows(
            f"SELECT * FROM agents WHERE {' AND '.join(where)} ORDER BY created_at, id LIMIT :limit OFFSET :offset",
            params,
        )

    def agent_update(self, agent_id: str, changes: Row) -> Row | None:
        params: dict[str, Any] = {"id": agent_id}
        sets = set_clause(changes, params, AGENT_COLUMNS, "agents")
        return self._one(f"UPDATE agents SET {sets} WHERE id = :id RETURNING *", params)

    def agent_delete(self, agent_id: str) -> int:
        return self._exec("DELETE FROM agents WHERE id = :id", {"id": agent_id})

    def agent_open_task_ids(self, agent_id: str) -> list[str]:
        rows = self._rows(
            "SELECT id FROM tasks WHERE owner_kind = 'agent_session' AND owner_ref = :a"
            f" AND status NOT IN {sql_list(TASK_TERMINAL)} ORDER BY created_at",
            {"a": agent_id},
        )
        return [r["id"] for r in rows]

    # -- tasks submitted to agents --------------------------------------------------
    def agent_task_insert(self, row: Row) -> None:
        self._exec(insert_statement("agent_tasks", row), row)

    def agent_task_get(self, task_id: str) -> Row | None:
        return self._one("SELECT * FROM agent_tasks WHERE task_id = :id", {"id": task_id})

    def agent_tasks_get_many(self, task_ids: Sequence[str]) -> dict[str, Row]:
        if not task_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(f"SELECT * FROM agent_tasks WHERE task_id IN {in_list('at', list(task_ids), params)}", params)
        return {r["task_id"]: r for r in rows}

    def agent_task_list(self, agent_id: str, *, state: str | None, visible_workspaces: Sequence[str] | None,
                        limit: int, offset: int) -> list[Row]:
        """Tasks owned by the agent (whichever API created them), newest first."""
        params: dict[str, Any] = {"a": agent_id, "limit": limit, "offset": offset}
        where = ["owner_kind = 'agent_session'", "owner_ref = :a"]
        if state is not None:
            where.append(AGENT_TASK_STATE_SQL[state])
        if visible_workspaces is not None:
            where.append(visible_clause("vw", visible_workspaces, params))
        return self._rows(
            f"SELECT * FROM tasks WHERE {' AND '.join(where)} ORDER BY created_at DESC, id DESC"
            " LIMIT :limit OFFSET :offset",
            params,
        )

    # -- webhook outbox ---------------------------------------------------------------
    def webhook_delivery_insert(self, row: Row) -> None:
        self._exec(insert_statement("webhook_deliveries", row), row)

    def webhook_deliveries_of_task(self, task_id: str) -> list[Row]:
        return self._rows(
            "SELECT * FROM webhook_deliveries WHERE task_id = :t ORDER BY created_at, id", {"t": task_id}
        )

    def webhook_attempts_of(self, delivery_ids: Sequence[str]) -> dict[str, list[Row]]:
        if not delivery_ids:
            return {}
        params: dict[str, Any] = {}
        rows = self._rows(
            f"SELECT * FROM webhook_attempts WHERE delivery_id IN {in_list('wd', list(delivery_ids), params)}"
            " ORDER BY delivery_id, attempt",
            params,
        )
        out: dict[str, list[Row]] = {}
        for r in rows:
            out.setdefault(r["delivery_id"], []).append(r)
        return out

    def webhook_due_ids(self, now: float, limit: int) -> list[str]:
        rows = self._rows(
            "SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_attempt_at <= :now"
            " AND (locked_until IS NULL OR locked_until < :now) ORDER BY next_attempt_at, id LIMIT :limit",
            {"now": now, "limit": limit},
        )
        return [r["id"] for r in rows]

    def webhook_lock(self, delivery_id: str, now: float, until: float) -> Row | None:
        """Take one due delivery for sending (a guarded update: two senders never both win),
        joined with the secret it is signed with."""
        row = self._one(
            "UPDATE webhook_deliveries SET locked_until = :until WHERE id = :id AND status = 'pending'"
            " AND next_attempt_at <= :now AND (locked_until IS NULL OR locked_until < :now) RETURNING *",
            {"id": delivery_id, "now": now, "until": until},
        )
        if row is None:
            return None
        secret = self._scalar("SELECT webhook_secret FROM agent_tasks WHERE task_id = :t", {"t": row["task_id"]})
        return {**row, "secret": secret}

    def webhook_delivery_update(self, delivery_id: str, changes: Row) -> Row | None:
        params: dict[str, Any] = {"id": delivery_id}
        sets = set_clause(changes, params, DELIVERY_COLUMNS, "webhook_deliveries")
        return self._one(
            f"UPDATE webhook_deliveries SET {sets} WHERE id = :id AND status = 'pending' RETURNING *",
            params,
        )

    def webhook_attempt_insert(self, row: Row) -> None:
        self._exec(insert_statement("webhook_attempts", row), row)
