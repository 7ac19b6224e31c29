"""The per-caller rate limit's bucket operation (api/limits.RateLimit calls it for each request).

The buckets live in the database (storage/queries_rate_limit.py), so every server process on it
(``--workers N``, several machines on one PostgreSQL) draws from the same bucket per caller.
"""

from __future__ import annotations

from taskloom.engine.context import Ctx
from taskloom.storage.protocols import Tx

PURGE_EVERY = 1000  # takes between two purges of idle buckets (in this process)


def take(tx: Tx, ctx: Ctx, caller: str, rate: float, burst: float, *, purge: bool = False) -> float:
    """0 if ``caller`` may go ahead (a token was taken), else the seconds until a token is back.
    ``purge`` also drops the buckets idle long enough to be full again."""
    if purge:
        tx.rate_buckets_purge(ctx.now - burst / rate - 60)
    left = tx.rate_bucket_take(caller, ctx.now, rate, burst)
    return 0.0 if left is None else (1.0 - left) / rate
