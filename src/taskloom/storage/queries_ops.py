"""Queries for running Taskloom in production (issue #12): readiness. Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

Row = dict[str, Any]


class OpsQueries:
    if TYPE_CHECKING:  # provided by Tx
        dialect: str

        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...

    def migrations_applied(self) -> set[str]:
        return {str(r["name"]) for r in self._rows("SELECT name FROM schema_migrations")}
