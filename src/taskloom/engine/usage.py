"""Usage by agent and model: the roll-up behind GET /api/observe/usage.

Agents report running totals (heartbeat, complete, fail). Each report that changes a
run's figures moves the run's previous totals out of its roll-up row and the new ones in,
so a question about 100,000 runs reads a few hundred roll-up rows, not the runs. A run
belongs to the day (UTC) it was claimed. Reports without usage cost nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

from taskloom.domain.errors import InvalidInput
from taskloom.engine import budgets
from taskloom.engine.context import Ctx
from taskloom.rows import Row
from taskloom.storage.protocols import USAGE_DIMS, USAGE_SUMS, Tx

# What a run's row calls each figure, and the roll-up's name for it.
_FIGURES = {"input_tokens": "input_tokens", "output_tokens": "output_tokens", "total_cost": "cost",
            "tool_call_count": "tool_calls"}
_KEY = ("day", "agent", "model", "channel", "workspace")
_FIRST_DAY, _LAST_DAY = "0000-01-01", "9999-12-31"
_YEAR_10000 = 253_402_300_800.0


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _usage_row(run: Row, at: float) -> Row:
    return {
        "run_id": run["id"], "at": at, "day": day_of(at), "agent": run["claimed_by_ref"] or "",
        "model": run.get("model") or "", "channel": run["network_channel"] or "", "workspace": run["workspace_id"] or "",
        **{name: run[col] or 0 for col, name in _FIGURES.items()},
    }


def record(tx: Tx, ctx: Ctx, run: Row) -> None:
    """Bring the roll-up in step with ``run``'s reported totals (called after a report changed them)."""
    old = tx.run_usage_get(run["id"])
    new = _usage_row(run, float(old["at"]) if old else float(run["claimed_at"] or ctx.now))
    if old is not None and all(old[c] == new[c] for c in new):
        return
    tx.run_usage_put(new)
    zero = {s: 0 for s in USAGE_SUMS}
    before = old or zero
    if old is not None and all(old[k] == new[k] for k in _KEY):
        tx.usage_rollup_add({k: new[k] for k in _KEY}, {s: new[s] - old[s] for s in USAGE_SUMS}, 0)
    else:
        if old is not None:
            tx.usage_rollup_add({k: old[k] for k in _KEY}, {s: -old[s] for s in USAGE_SUMS}, -1)
        tx.usage_rollup_add({k: new[k] for k in _KEY}, {s: new[s] for s in USAGE_SUMS}, 1)
    budgets.charge(tx, ctx, run, {s: new[s] - before[s] for s in USAGE_SUMS})


def parse_time(name: str, value: str | None) -> float | None:
    """ISO-8601 (a date, or a time with an offset or Z; UTC if none) or epoch seconds."""
    if value is None or value == "":
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise InvalidInput(f"{name}: not an ISO-8601 time or epoch seconds: {value!r}") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    if not 0 <= seconds < _YEAR_10000:  # also refuses nan and inf
        raise InvalidInput(f"{name}: out of range: {value!r}")
    return seconds


def parse_group_by(value: str | None) -> list[str]:
    dims = [d.strip() for d in (value or "").split(",") if d.strip()]
    bad = [d for d in dims if d not in USAGE_DIMS]
    if bad:
        raise InvalidInput(f"group_by: unknown dimension {bad[0]!r}; use {', '.join(USAGE_DIMS)}")
    if len(set(dims)) != len(dims):
        raise InvalidInput("group_by: a dimension is named twice")
    return dims


@dataclass
class UsageQuery:
    group_by: list[str]
    since: float | None = None
    until: float | None = None
    filters: Row = field(default_factory=dict)  # agent, model, channel, workspace


def _full_days(since: float | None, until: float | None) -> tuple[str, str]:
    """The whole UTC days inside [since, until), as [first, last) day strings."""
    first = _FIRST_DAY
    if since is not None:
        start = datetime.fromtimestamp(since, UTC)
        midnight = start.replace(hour=0, minute=0, second=0, microsecond=0)
        first = (midnight if midnight == start else midnight + timedelta(days=1)).strftime("%Y-%m-%d")
    last = _LAST_DAY if until is None else day_of(until)
    return first, last


def _groups_of(dims: list[str], rows: list[Row]) -> list[Row]:
    """One roll-up query's rows, already one per group: each shaped once, in key order (the
    query's ORDER BY, but PostgreSQL's collation may differ from Python's: sort, which costs
    next to nothing on rows already in order)."""
    rows = sorted(rows, key=itemgetter(*dims))  # the stored values: text, '' for none
    return [{**{d: r[d] or None for d in dims}, "input_tokens": int(r["input_tokens"]),
             "output_tokens": int(r["output_tokens"]), "cost": round(float(r["cost"]), 10),
             "tool_calls": int(r["tool_calls"]), "runs": int(r["runs"])}
            for r in rows if r["runs"]]  # a row whose runs all moved to another group is left out


def usage_report(tx: Tx, ctx: Ctx, q: UsageQuery) -> list[Row]:
    if q.since is not None and q.until is not None and q.until <= q.since:
        raise InvalidInput("until must be later than since")
    windowed = q.since is not None or q.until is not None
    rows = tx.usage_sums(q.group_by, {k: v for k, v in q.filters.items() if v is not None},
                         visible_workspaces=ctx.actor.workspaces,
                         full_days=_full_days(q.since, q.until) if windowed else None,
                         edges=(q.since, q.until) if windowed else None)
    dims = q.group_by
    if not windowed and dims:
        return _groups_of(dims, rows)
    sums = (*USAGE_SUMS, "runs")
    merged: dict[tuple[Any, ...], list[Any]] = {}
    for r in rows:
        key = tuple(r[d] or "" for d in dims)
        acc = merged.get(key)
        if acc is None:
            merged[key] = [r[s] or 0 for s in sums]
        else:
            for n, s in enumerate(sums):
                acc[n] += r[s] or 0
    if not merged and not dims:
        merged[()] = [0] * len(sums)
    groups = []
    for key in sorted(merged):
        inputs, outputs, cost, tools, runs = merged[key]
        if not runs and dims:
            continue  # a roll-up row whose runs all moved to another group
        group: Row = {d: (v or None) for d, v in zip(dims, key, strict=True)}
        group.update(input_tokens=int(inputs), output_tokens=int(outputs), cost=round(float(cost), 10),
                     tool_calls=int(tools), runs=int(runs))
        groups.append(group)
    return groups


