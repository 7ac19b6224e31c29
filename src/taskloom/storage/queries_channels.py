"""Queries for coordination-channel messages (issue 16; seed 002's conversation too). Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.rows import Row
from taskloom.storage.statements import insert_statement

MESSAGE_COLUMNS = ("id", "task_id", "sequence", "run_id", "role", "kind", "body", "sender_kind", "sender_ref",
                   "created_at")


class ChannelQueries:
    if TYPE_CHECKING:  # provided by Tx
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...
        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...

    def message_insert(self, row: Row) -> Row:
        """Insert with the task's next sequence (callers hold the task row lock)."""
        row = dict(row)
        row["sequence"] = int(self._scalar(
            "SELECT COALESCE(MAX(sequence), 0) + 1 AS n FROM coordination_messages WHERE task_id = :t",
            {"t": row["task_id"]},
        ))
        self._exec(insert_statement("coordination_messages", row, MESSAGE_COLUMNS), row)
        return row

    def messages_of_task(self, task_id: str, *, after_sequence: int = 0, role: str | None = None,
                         limit: int = 1000) -> list[Row]:
        params: dict[str, Any] = {"t": task_id, "after": after_sequence, "limit": limit}
        where = "task_id = :t AND sequence > :after"
        if role is not None:
            params["role"] = role
            where += " AND role = :role"
        return self._rows(f"SELECT * FROM coordination_messages WHERE {where} ORDER BY sequence LIMIT :limit", params)

    def messages_of_run(self, run_id: str, *, after_sequence: int = 0, limit: int = 100) -> list[Row]:
        return self._rows(
            "SELECT * FROM coordination_messages WHERE run_id = :r AND sequence > :after ORDER BY sequence LIMIT :limit",
            {"r": run_id, "after": after_sequence, "limit": limit},
        )

    def last_question(self, task_id: str) -> Row | None:
        return self._one(
            "SELECT * FROM coordination_messages WHERE task_id = :t AND kind = 'question'"
            " ORDER BY sequence DESC LIMIT 1",
            {"t": task_id},
        )
