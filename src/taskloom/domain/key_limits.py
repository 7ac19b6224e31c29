"""Limits per key (issue 16): ``concurrency_limit`` beside ``concurrency_key`` (at most N live runs
per key) and ``rate_limit: {key, per_minute}`` (at most N runs of the key claimed per rolling
minute). The claim checks them exactly: storage/queries_limits.py."""

from __future__ import annotations

from typing import Any

from taskloom.domain.errors import InvalidInput
from taskloom.rows import Row

MAX_CONCURRENCY_LIMIT = 100_000
MAX_PER_MINUTE = 1_000_000


def key_limit_columns(concurrency_limit: Any, rate_limit: Row | None) -> Row:
    """The stored columns of ``concurrency_limit`` and ``rate_limit: {key, per_minute}`` (None clears it)."""
    if isinstance(concurrency_limit, bool) or not isinstance(concurrency_limit, int) \
            or not 1 <= concurrency_limit <= MAX_CONCURRENCY_LIMIT:
        raise InvalidInput(f"concurrency_limit must be an integer from 1 to {MAX_CONCURRENCY_LIMIT}")
    cols: Row = {"concurrency_limit": concurrency_limit, "rate_limit_key": None, "rate_limit_per_minute": None}
    if rate_limit is not None:
        key, per_minute = rate_limit.get("key"), rate_limit.get("per_minute")
        if not isinstance(key, str) or not key.strip() or len(key) > 200:
            raise InvalidInput("rate_limit.key must be a non-empty string of at most 200 characters")
        if isinstance(per_minute, bool) or not isinstance(per_minute, int) or not 1 <= per_minute <= MAX_PER_MINUTE:
            raise InvalidInput(f"rate_limit.per_minute must be an integer from 1 to {MAX_PER_MINUTE}")
        cols.update(rate_limit_key=key, rate_limit_per_minute=per_minute)
    return cols


def rate_limit_of(task: Row) -> Row | None:
    """A task's (or run's) ``rate_limit`` as the API shows it."""
    if task.get("rate_limit_key") is None:
        return None
    return {"key": task["rate_limit_key"], "per_minute": int(task["rate_limit_per_minute"])}


def has_key_limits(run: Row) -> bool:
    """Whether a claim of this run must count a key (most runs have none: nothing to count)."""
    return run.get("concurrency_key") is not None or run.get("rate_limit_key") is not None
