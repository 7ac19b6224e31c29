"""Small helpers every bench script shares: percentiles, medians, milliseconds, a timestamped log,
and the channel the benchmark's tasks use."""

from __future__ import annotations

import statistics
import time

CHANNEL = "bench"


def pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile, in the units given."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> float:
    return seconds * 1000.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
