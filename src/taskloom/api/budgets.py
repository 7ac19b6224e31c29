"""Budgets: /api/budgets CRUD for admins (issue 16; docs/api/agent-native.md)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from taskloom.api import views
from taskloom.api.auth import CurrentActor, require_admin
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import BudgetEnvelope, BudgetsEnvelope
from taskloom.api.schemas import ERRORS, JSON_SAFE_INT, Body, NotNull, rules_400
from taskloom.engine import budgets as budget_ops
from taskloom.rows import Row

router = APIRouter(prefix="/api/budgets", tags=["budgets"], responses=ERRORS)
Scope = Literal["workspace", "agent", "channel"]
Period = Literal["day", "month", "total"]
BUDGET_HEADER = "X-Taskloom-Budget-Exhausted"


class BudgetCreate(Body):
    scope: Scope
    ref: str = Field(min_length=1, max_length=200, description="The workspace id, agent ref or channel name")
    period: Period
    max_tokens: int | None = Field(default=None, ge=0, le=JSON_SAFE_INT, description="Input plus output tokens")
    max_cost: float | None = Field(default=None, ge=0, le=1e15)
    currency: str | None = Field(default=None, min_length=1, max_length=10)


class BudgetPatch(Body):
    period: Annotated[Period | None, NotNull] = None
    max_tokens: int | None = Field(default=None, ge=0, le=JSON_SAFE_INT)
    max_cost: float | None = Field(default=None, ge=0, le=1e15)
    currency: str | None = Field(default=None, min_length=1, max_length=10)


def budget_record(b: Row, now: float) -> Row:
    cur = budget_ops.current(b, now)
    return {
        "id": b["id"], "scope": b["scope"], "ref": b["ref"], "period": b["period"],
        "max_tokens": b["max_tokens"], "max_cost": b["max_cost"], "currency": b["currency"],
        "spent_tokens": int(cur["spent_tokens"]), "spent_cost": round(float(cur["spent_cost"]), 10),
        "period_start": views.iso(budget_ops.period_start(b["period"], now)) if b["period"] != "total" else None,
        "exhausted": bool(cur["exhausted"]), "exhausted_at": views.iso(cur["exhausted_at"]),
        "created_by": views.actor(b["created_by_kind"], b["created_by_ref"]),
        "created_at": views.iso(b["created_at"]), "updated_at": views.iso(b["updated_at"]),
    }


def exhausted_header(budget: Row | None) -> dict[str, str]:
    return {BUDGET_HEADER: budget["id"]} if budget is not None else {}


def budget_spent(exc: budget_ops.BudgetExhausted) -> Response:
    """A claim a spent budget covers: 204 naming the budget in ``X-Taskloom-Budget-Exhausted``."""
    return Response(status_code=204, headers=exhausted_header(exc.budget))


_HEADER_DOC = {"description": "The id of the spent budget that stopped the claim", "schema": {"type": "string"}}
BUDGET_204: dict[int | str, dict[str, Any]] = {204: {
    "description": "Nothing claimable; with X-Taskloom-Budget-Exhausted: <budget id> when a spent budget covers the claim",
    "headers": {BUDGET_HEADER: _HEADER_DOC}}}


@router.post("", status_code=201, response_model=BudgetEnvelope,
             responses=rules_400("max_tokens, max_cost or both"), summary="Create a budget (admins)")
async def create_budget(body: BudgetCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Creates a token or cost budget for an agent, model, channel or workspace. Admins only (403); 400 names a bad
    field."""
    require_admin(actor, "manage budgets")

    return ok({"budget": await engine.write(actor, lambda tx, ctx: budget_record(
        budget_ops.create(tx, ctx, body.model_dump()), ctx.now))}, 201)


@router.get("", response_model=BudgetsEnvelope, summary="List budgets (admins)")
async def list_budgets(engine: EngineDep, actor: CurrentActor, scope: Scope | None = None,
                       exhausted: bool | None = Query(default=None)) -> Response:
    """Every budget with its use in the current period. Admins only (403)."""
    require_admin(actor, "manage budgets")

    rows = await engine.read(actor, lambda tx, ctx: [budget_record(b, ctx.now)
                                                     for b in budget_ops.list_budgets(tx, scope)])
    return ok({"budgets": [b for b in rows if exhausted is None or b["exhausted"] == exhausted]})


@router.get("/{budget_id}", response_model=BudgetEnvelope, summary="Get one budget (admins)")
async def get_budget(budget_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One budget with its use in the current period. Admins only (403); 404 unknown budget."""
    require_admin(actor, "manage budgets")
    return ok({"budget": await engine.read(actor, lambda tx, ctx: budget_record(budget_ops.get(tx, budget_id),
                                                                               ctx.now))})


@router.patch("/{budget_id}", response_model=BudgetEnvelope, summary="Change a budget's caps or period (admins)")
async def update_budget(budget_id: str, body: BudgetPatch, engine: EngineDep, actor: CurrentActor) -> Response:
    """Changes a budget's caps or period. Admins only (403); 404 unknown budget."""
    require_admin(actor, "manage budgets")
    changes = body.model_dump(exclude_unset=True)

    return ok({"budget": await engine.write(actor, lambda tx, ctx: budget_record(
        budget_ops.update(tx, ctx, budget_id, changes), ctx.now))})


@router.delete("/{budget_id}", status_code=204, summary="Delete a budget (admins)")
async def delete_budget(budget_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Deletes a budget. Admins only (403); 404 unknown budget."""
    require_admin(actor, "manage budgets")
    await engine.write(actor, lambda tx, ctx: budget_ops.delete(tx, ctx, budget_id))
    return Response(status_code=204)
