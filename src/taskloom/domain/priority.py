"""Priorities: one core rank (0-100, higher is more urgent) and each API's scale.

Every API speaks its own scale at its edge. Writing a value through an API and
reading it back through the same API gives the same value; the other APIs see
the nearest value of their own scale. Claim order always uses the core rank.
"""

from __future__ import annotations

RUNTIME_LEVELS = {"low": 20, "medium": 50, "high": 70, "urgent": 90}
RUNTIME_DEFAULT = "medium"


def from_runtime(level: str) -> int:
    return RUNTIME_LEVELS[level]


def to_runtime(rank: int) -> str:
    if rank >= 80:
        return "urgent"
    if rank >= 60:
        return "high"
    if rank >= 35:
        return "medium"
    return "low"


def from_scale(value: int, *, lowest: int, highest: int) -> int:
    """Map ``value`` on a scale whose most urgent end is ``highest`` onto the core rank.

    ``lowest``/``highest`` name the least and most urgent values; the scale may
    run either way (1-5 with 5 most urgent, or 1-10 with 1 most urgent).
    """
    steps = abs(highest - lowest)
    position = abs(value - lowest)  # 0 = least urgent
    return round(5 + position * 90 / steps)


def to_scale(rank: int, *, lowest: int, highest: int) -> int:
    steps = abs(highest - lowest)
    position = round((min(max(rank, 5), 95) - 5) * steps / 90)
    return lowest + position if highest > lowest else lowest - position
