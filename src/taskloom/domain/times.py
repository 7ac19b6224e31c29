"""How the APIs write an instant: ISO-8601 in UTC with a ``Z``, from epoch seconds. Pure."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(float(ts), UTC).isoformat().replace("+00:00", "Z")
