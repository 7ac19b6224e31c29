"""Time source. Engine code takes ``now`` from here so tests can move time by hand."""

from __future__ import annotations

import time


class Clock:
    def now(self) -> float:
        return time.time()


class ManualClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, start: float | None = None):
        self._now = time.time() if start is None else start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds

    def set(self, value: float) -> None:
        self._now = value
