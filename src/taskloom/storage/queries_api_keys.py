"""Queries for API keys (issue #12). Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.rows import Row
from taskloom.storage.statements import insert_statement

API_KEY_COLUMNS = frozenset(
    """id name key_hash prefix sub kind role workspaces channels created_by_kind created_by_ref created_at
    expires_at revoked_at last_used_at""".split()
)


class ApiKeyQueries:
    if TYPE_CHECKING:  # provided by Tx
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...

    def api_key_insert(self, row: Row) -> None:
        self._exec(insert_statement("api_keys", row, API_KEY_COLUMNS), row)

    def api_key_by_hash(self, key_hash: str) -> Row | None:
        return self._one("SELECT * FROM api_keys WHERE key_hash = :h", {"h": key_hash})

    def api_key_get(self, key_id: str) -> Row | None:
        return self._one("SELECT * FROM api_keys WHERE id = :id", {"id": key_id})

    def api_key_list(self, *, include_revoked: bool, limit: int, offset: int) -> list[Row]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        return self._rows(f"SELECT * FROM api_keys{where} ORDER BY created_at, id LIMIT :limit OFFSET :offset",
                          {"limit": limit, "offset": offset})

    def api_key_revoke(self, key_id: str, now: float) -> bool:
        return self._exec("UPDATE api_keys SET revoked_at = :now WHERE id = :id AND revoked_at IS NULL",
                          {"id": key_id, "now": now}) > 0

    def api_key_touch(self, key_id: str, now: float, min_interval: float) -> None:
        """Record a use, at most once per ``min_interval`` seconds (the guard holds across processes)."""
        self._exec(
            "UPDATE api_keys SET last_used_at = :now WHERE id = :id"
            " AND (last_used_at IS NULL OR last_used_at <= :before)",
            {"id": key_id, "now": now, "before": now - min_interval},
        )
