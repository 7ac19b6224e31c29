"""Retry delay arithmetic (pure: the random source is passed in)."""

from __future__ import annotations

import random
from enum import StrEnum


class Backoff(StrEnum):
    EXPONENTIAL_JITTER = "exponential_jitter"
    LINEAR = "linear"
    FIXED = "fixed"


MAX_DELAY_SECONDS = 3600.0


def retry_delay(
    strategy: str, base_seconds: float, failed_attempt: int, rng: random.Random | None = None
) -> float:
    """Seconds to wait before attempt ``failed_attempt + 1``.

    exponential_jitter: base * 2^(n-1), capped, then "equal jitter" (half fixed,
    half random) so a burst of failures does not retry in lock-step.
    linear: base * n. fixed: base.
    """
    n = max(failed_attempt, 1)
    if strategy == Backoff.FIXED:
        return min(base_seconds, MAX_DELAY_SECONDS)
    if strategy == Backoff.LINEAR:
        return min(base_seconds * n, MAX_DELAY_SECONDS)
    ceiling: float = min(base_seconds * (2 ** (n - 1)), MAX_DELAY_SECONDS)  # int ** int is typed Any
    r = (rng or random).random()
    return ceiling / 2 + r * ceiling / 2
