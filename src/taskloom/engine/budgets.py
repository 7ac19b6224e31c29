"""Budgets: caps on what agents spend, per workspace, agent or channel, per day, month or in total.

Spent totals move with every usage report (engine/usage.py calls ``charge``), so a claim
only reads the budgets already marked exhausted: an index on an empty set when none is.
Whether any budget exists at all is known per process (``BudgetPresence``, on every Ctx): with
none, neither a claim nor a usage report reads the budgets table. Budget CRUD here changes it
at once; another process's CRUD reaches this one within ``PRESENCE_TTL``.
While a budget is spent, claims it covers get nothing (``BudgetExhausted``: 204 with
``X-Taskloom-Budget-Exhausted``); runs already held may finish.
Periods are UTC days and months; a new period starts from zero by itself.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from taskloom.domain.errors import Conflict, InvalidInput, NotFound
from taskloom.engine.context import Ctx
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

SCOPES = ("workspace", "agent", "channel")
PRESENCE_TTL = 1.0  # seconds another process's first budget (or last deletion) may take to reach this one


class BudgetExhausted(Conflict):
    """A spent budget covers this claim: the claim gets nothing. Claim routes answer 204 with
    ``X-Taskloom-Budget-Exhausted: <id>`` (a named claim: 409 with the header)."""

    def __init__(self, budget: Row):
        super().__init__(f"budget {budget['id']} ({budget['scope']} {budget['ref']}, {budget['period']}) is spent")
        self.budget = budget


class BudgetPresence:
    """Per process: does any budget exist? Cached for ``ttl`` seconds; this process's budget
    CRUD invalidates it at once (in its transaction and again after the commit). A read that
    raced an invalidation is not cached."""

    def __init__(self, ttl: float = PRESENCE_TTL):
        self.ttl = ttl
        self._any = True
        self._until = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    def any(self, tx: Tx) -> bool:
        now = time.monotonic()
        if now < self._until:
            return self._any
        generation = self._generation
        found = bool(tx.budget_list(limit=1))
        with self._lock:
            if generation == self._generation:
                self._any, self._until = found, now + self.ttl
        return found

    def changed(self) -> None:
        with self._lock:
            self._generation += 1
            self._until = 0.0


def _budgets_exist(tx: Tx, ctx: Ctx) -> bool:
    return ctx.budgets.any(tx) if ctx.budgets is not None else True


def _presence_changed(tx: Tx, ctx: Ctx) -> None:
    if ctx.budgets is not None:
        ctx.budgets.changed()
        tx.after_commit.append(ctx.budgets.changed)
PERIODS = ("day", "month", "total")
_LAST_DAY = "9999-12-31"


def period_start(period: str, now: float) -> float:
    if period == "total":
        return 0.0
    at = datetime.fromtimestamp(now, UTC)
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "month":
        start = start.replace(day=1)
    return start.timestamp()


def current(b: Row, now: float) -> Row:
    """The budget as it stands in the current period (a past period's spending is over)."""
    if b["period_start"] < period_start(b["period"], now):
        return {**b, "spent_tokens": 0, "spent_cost": 0.0, "exhausted": 0, "exhausted_at": None}
    return b


def _over(b: Row) -> bool:
    return bool((b["max_tokens"] is not None and b["spent_tokens"] >= b["max_tokens"])
                or (b["max_cost"] is not None and b["spent_cost"] >= b["max_cost"]))


def _check_caps(max_tokens: Any, max_cost: Any) -> None:
    if max_tokens is None and max_cost is None:
        raise InvalidInput("a budget needs max_tokens, max_cost or both")


def _spent_so_far(tx: Tx, scope: str, ref: str, start: float) -> tuple[int, float]:
    """What the scope already spent this period, from the usage roll-up (runs by the day claimed)."""
    days = (datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%d"), _LAST_DAY) if start else None
    rows = tx.usage_sums([], {scope: ref}, visible_workspaces=None, full_days=days, edges=None)
    return (sum(int(r["input_tokens"] or 0) + int(r["output_tokens"] or 0) for r in rows),
            sum(float(r["cost"] or 0) for r in rows))


def create(tx: Tx, ctx: Ctx, fields: Row) -> Row:
    _check_caps(fields.get("max_tokens"), fields.get("max_cost"))
    start = period_start(fields["period"], ctx.now)
    tokens, cost = _spent_so_far(tx, fields["scope"], fields["ref"], start)
    row: Row = {
        "id": str(uuid.uuid4()), "scope": fields["scope"], "ref": fields["ref"], "period": fields["period"],
        "max_tokens": fields.get("max_tokens"), "max_cost": fields.get("max_cost"), "currency": fields.get("currency"),
        "spent_tokens": tokens, "spent_cost": cost, "period_start": start, "exhausted": 0, "exhausted_at": None,
        "created_by_kind": ctx.actor.kind, "created_by_ref": ctx.actor.ref, "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    if _over(row):
        row.update(exhausted=1, exhausted_at=ctx.now)
    tx.budget_insert(row)
    _presence_changed(tx, ctx)
    return row


def get(tx: Tx, budget_id: str, *, for_update: bool = False) -> Row:
    b = tx.budget_get(budget_id, for_update=for_update)
    if b is None:
        raise NotFound(f"budget {budget_id} not found")
    return b


def list_budgets(tx: Tx, scope: str | None) -> list[Row]:
    return tx.budget_list(scope=scope)


def update(tx: Tx, ctx: Ctx, budget_id: str, changes: Row) -> Row:
    b = current(get(tx, budget_id, for_update=True), ctx.now)
    if "period" in changes and changes["period"] is None:
        raise InvalidInput("period must be one of day, month, total")
    merged = {**b, **changes}
    _check_caps(merged["max_tokens"], merged["max_cost"])
    if merged["period"] != b["period"]:
        start = period_start(merged["period"], ctx.now)
        tokens, cost = _spent_so_far(tx, b["scope"], b["ref"], start)
        merged.update(period_start=start, spent_tokens=tokens, spent_cost=cost)
    over = _over(merged)
    merged["exhausted"] = 1 if over else 0
    merged["exhausted_at"] = (b["exhausted_at"] or ctx.now) if over else None
    keep = ("max_tokens", "max_cost", "currency", "period", "period_start", "spent_tokens", "spent_cost", "exhausted",
            "exhausted_at")
    updated = tx.budget_update(budget_id, {**{k: merged[k] for k in keep}, "updated_at": ctx.now})
    assert updated is not None
    if not over:
        tx.notify(("runs", "*"))  # its claims may go on: wake long-polling agents
    return updated


def delete(tx: Tx, ctx: Ctx, budget_id: str) -> None:
    get(tx, budget_id, for_update=True)
    tx.budget_delete(budget_id)
    _presence_changed(tx, ctx)
    tx.notify(("runs", "*"))


def charge(tx: Tx, ctx: Ctx, run: Row, delta: Row) -> None:
    """Add a usage report's change to the budgets covering the run (called by engine/usage.py)."""
    tokens = int(delta["input_tokens"]) + int(delta["output_tokens"])
    cost = float(delta["cost"])
    if (not tokens and not cost) or not _budgets_exist(tx, ctx):
        return
    covering = tx.budgets_covering(run["claimed_by_ref"] or "", run["network_channel"] or "",
                                   run["workspace_id"] or "", for_update=True)
    for b in covering:
        b = current(b, ctx.now)
        spent = {"spent_tokens": b["spent_tokens"] + tokens, "spent_cost": b["spent_cost"] + cost,
                 "period_start": period_start(b["period"], ctx.now)}
        over = _over({**b, **spent})
        tx.budget_update(b["id"], {**spent, "exhausted": 1 if over else 0,
                                   "exhausted_at": (b["exhausted_at"] or ctx.now) if over else None})


def exhausted_now(tx: Tx, now: float) -> list[Row]:
    """Budgets spent in their current period."""
    return [b for b in tx.budgets_exhausted() if b["period_start"] >= period_start(b["period"], now)]


def spent_for_claims(tx: Tx, ctx: Ctx) -> list[Row]:
    """The budgets spent now, for a claim's check: nothing is read when no budget exists."""
    return exhausted_now(tx, ctx.now) if _budgets_exist(tx, ctx) else []


def claim_limits(spent: list[Row], agent: str, channel: str | None, workspace: str | None) -> tuple[Row | None, Row]:
    """For a claim by ``agent`` (optionally narrowed to a channel / workspace), given the spent
    budgets: the one that leaves it nothing at all, if any, and otherwise the channels and
    workspaces to leave out (``exclude_channels`` / ``exclude_workspaces`` claim filters)."""
    if not spent:
        return None, {}
    skip: Row = {"exclude_channels": [], "exclude_workspaces": []}
    for b in spent:
        if b["scope"] == "agent" and b["ref"] == agent:
            return b, {}
        if b["scope"] == "channel":
            if channel == b["ref"]:
                return b, {}
            if channel is None:
                skip["exclude_channels"].append(b["ref"])
        if b["scope"] == "workspace":
            if workspace == b["ref"]:
                return b, {}
            if workspace is None:
                skip["exclude_workspaces"].append(b["ref"])
    return None, {k: v for k, v in skip.items() if v}


def check_run_claim(tx: Tx, ctx: Ctx, run: Row) -> None:
    """A named claim of ``run``: refused (BudgetExhausted) while a budget covering it is spent."""
    spent = spent_for_claims(tx, ctx)
    if spent:
        blocked, _ = claim_limits(spent, ctx.actor.ref, run["network_channel"] or "", run["workspace_id"] or "")
        if blocked is not None:
            raise BudgetExhausted(blocked)
