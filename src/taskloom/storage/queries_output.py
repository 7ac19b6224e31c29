"""Queries for streamed run output (issue 16). Mixed into ``Tx``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.rows import Row


class OutputQueries:
    if TYPE_CHECKING:  # provided by Tx
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...

    def output_insert(self, run_id: str, start: int, chunk: str, now: float) -> None:
        self._exec(
            "INSERT INTO run_output (run_id, start_offset, length, chunk, created_at) VALUES (:r, :s, :n, :c, :now)",
            {"r": run_id, "s": start, "n": len(chunk), "c": chunk, "now": now},
        )

    def output_after(self, run_id: str, offset: int, max_chars: int) -> list[Row]:
        """The chunks holding text after ``offset``, in order, about ``max_chars`` of them."""
        return self._rows(
            "SELECT start_offset, length, chunk FROM run_output WHERE run_id = :r AND start_offset + length > :o"
            # A chunk holds at most 65,536 characters: this bound lets the primary key find the first one.
            " AND start_offset > :o - 65537 - :m AND start_offset < :o + :m ORDER BY start_offset",
            {"r": run_id, "o": offset, "m": max_chars},
        )
