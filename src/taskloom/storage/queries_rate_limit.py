"""The rate limit's token buckets, one row per caller (api/limits.py, engine/rate_limit.py). Mixed into ``Tx``.

One statement takes a token: the upsert refills the bucket for the time since it was last
touched (capped at the burst) and takes one when a whole one is there; a row lock (PostgreSQL)
or the single writer (SQLite) makes concurrent takes from several processes add up exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from taskloom.rows import Row

_REFILLED = "(rate_buckets.tokens + (:now - rate_buckets.touched_at) * :rate)"
_TAKE = f"""
INSERT INTO rate_buckets (caller, tokens, touched_at) VALUES (:caller, :burst - 1, :now)
ON CONFLICT (caller) DO UPDATE SET
    tokens = (CASE WHEN {_REFILLED} > :burst THEN :burst ELSE {_REFILLED} END) - 1,
    touched_at = :now
WHERE {_REFILLED} >= 1
RETURNING tokens
"""


class RateBucketQueries:
    if TYPE_CHECKING:  # provided by Tx
        def _rows(self, sql: str, params: dict[str, Any] | None = None) -> list[Row]: ...
        def _one(self, sql: str, params: dict[str, Any] | None = None) -> Row | None: ...
        def _exec(self, sql: str, params: dict[str, Any] | None = None) -> int: ...

    def rate_bucket_take(self, caller: str, now: float, rate: float, burst: float) -> float | None:
        """Take one token from ``caller``'s bucket: None if taken, else the tokens it holds now (< 1)."""
        params = {"caller": caller, "now": now, "rate": rate, "burst": burst}
        if self._one(_TAKE, params) is not None:
            return None
        row = self._one("SELECT tokens, touched_at FROM rate_buckets WHERE caller = :caller", params)
        assert row is not None
        return min(burst, float(row["tokens"]) + (now - float(row["touched_at"])) * rate)

    def rate_buckets_purge(self, idle_before: float) -> int:
        """Forget buckets untouched since ``idle_before`` (they are full again: no row needed)."""
        return self._exec("DELETE FROM rate_buckets WHERE touched_at < :before", {"before": idle_before})
