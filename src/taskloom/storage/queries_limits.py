"""Limits per key (issue 16), checked exactly at every claim. Mixed into ``Tx``.

A run with a ``concurrency_key`` is admitted while fewer than its ``concurrency_limit`` runs of
that key are live; a run with a ``rate_limit_key`` while fewer than its ``rate_limit_per_minute``
runs of that key were claimed in the last 60 s. The claim statement filters on the same counts
(a first cut); this module counts again for the runs it picked, adding those picked before them
in the same call, so a batch never overshoots. On SQLite the single writer makes the count
exact; on PostgreSQL each key is counted under a transaction advisory lock (``_lock_limit_key``),
held until commit, so two claimers never both take the last slot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.domain.key_limits import has_key_limits
from taskloom.domain.states import RUN_LIVE, sql_list
from taskloom.rows import Row

if TYPE_CHECKING:
    from taskloom.storage.dialects import Dialect

RATE_WINDOW_SECONDS = 60.0
LOCK_SPACES = {"c": 16_001, "r": 16_002}  # advisory lock spaces: concurrency keys, rate-limit keys
_LIVE = sql_list(RUN_LIVE)


class KeyLimitQueries:
    if TYPE_CHECKING:  # provided by Tx
        sql_dialect: Dialect

        def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> Any: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...

    def _lock_limit_key(self, kind: str, key: str) -> None:
        """Serialise the claimers of one key until commit (PostgreSQL); SQLite has one writer."""
        sql = self.sql_dialect.key_lock(LOCK_SPACES[kind], "k")
        if sql is not None:
            self._exec(sql, {"k": key})

    def _live_of_key(self, key: str) -> int:
        return int(self._scalar(f"SELECT COUNT(*) AS n FROM runs WHERE concurrency_key = :k AND status IN {_LIVE}",
                                {"k": key}))

    def _claimed_recently(self, key: str, now: float) -> int:
        return int(self._scalar(
            "SELECT COUNT(*) AS n FROM runs WHERE rate_limit_key = :k AND claimed_at IS NOT NULL"
            " AND claimed_at > :since", {"k": key, "since": now - RATE_WINDOW_SECONDS}))

    def key_limit_refusal(self, row: Row, now: float, tally: dict[tuple[str, str], int]) -> str | None:
        """Why ``row`` may not be claimed now (None: it may; then it is counted in ``tally``).
        ``tally`` carries the counts of one claim call: keys already counted and runs picked."""
        ckey, rkey = row.get("concurrency_key"), row.get("rate_limit_key")
        if ckey is not None:
            c = ("c", ckey)
            if c not in tally:
                self._lock_limit_key("c", ckey)
                tally[c] = self._live_of_key(ckey)
            limit = int(row.get("concurrency_limit") or 1)
            if tally[c] >= limit:
                return f"its concurrency key {ckey!r} has {tally[c]} live runs (concurrency_limit {limit})"
        if rkey is not None:
            r = ("r", rkey)
            if r not in tally:
                self._lock_limit_key("r", rkey)
                tally[r] = self._claimed_recently(rkey, now)
            per_minute = int(row.get("rate_limit_per_minute") or 0)
            if tally[r] >= per_minute:
                return (f"its rate-limit key {rkey!r} had {tally[r]} runs claimed in the last minute"
                        f" (per_minute {per_minute})")
        if ckey is not None:
            tally[("c", ckey)] += 1
        if rkey is not None:
            tally[("r", rkey)] += 1
        return None

    def key_limits_admit(self, rows: list[Row], now: float) -> list[Row]:
        """The rows (in order) that the limits of their keys admit together."""
        if not any(has_key_limits(r) for r in rows):
            return rows
        tally: dict[tuple[str, str], int] = {}
        return [r for r in rows if not has_key_limits(r) or self.key_limit_refusal(r, now, tally) is None]
