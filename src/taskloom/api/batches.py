"""Batch endpoints: claim-batch, complete-batch, fail-batch (agents) and POST /api/tasks/batch.

Each item is validated by the same model as its single call and applied by the same engine
operation, so answers, events and auth rules match the singles (see engine/batches.py).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from taskloom.api import views
from taskloom.api.auth import CurrentActor
from taskloom.api.budgets import BUDGET_204, budget_spent
from taskloom.api.deps import EngineDep, ok
from taskloom.api.runs import claim_filters, usage_of
from taskloom.api.runtime import spec_from
from taskloom.api.schemas import (
    ERRORS,
    Body,
    ClaimNext,
    ClaimOut,
    LeaseOut,
    RunComplete,
    RunFail,
    TaskCreate,
    TaskOut,
    rules_400,
)
from taskloom.engine import batches
from taskloom.engine import runs as run_ops
from taskloom.engine.budgets import BudgetExhausted
from taskloom.engine.context import Ctx

router = APIRouter(tags=["agent"], responses=ERRORS)


class ClaimBatch(ClaimNext):
    max_runs: int = Field(default=10, ge=1, le=batches.MAX_CLAIMS, description="Claim up to this many runs")


class CompleteItem(RunComplete):
    run_id: str = Field(min_length=1, max_length=200)


class FailItem(RunFail):
    run_id: str = Field(min_length=1, max_length=200)


class CompleteBatch(Body):
    items: list[CompleteItem] = Field(min_length=1, max_length=batches.MAX_ITEMS)


class FailBatch(Body):
    items: list[FailItem] = Field(min_length=1, max_length=batches.MAX_ITEMS)


class TaskBatch(Body):
    tasks: list[TaskCreate] = Field(min_length=1, max_length=batches.MAX_CREATES)


class ClaimsEnvelope(BaseModel):
    claims: list[ClaimOut]


class ItemResult(BaseModel):
    run_id: str
    status: int = Field(description="200 applied; 403 not your run; 404 no such run; 409 not live / stale token")
    lease: LeaseOut | None = Field(default=None, description="When status is 200")
    error: str | None = Field(default=None, description="When status is not 200")


class ResultsEnvelope(BaseModel):
    results: list[ItemResult]


class CreatedTasksEnvelope(BaseModel):
    tasks: list[TaskOut]


def _results(outcomes: list[batches.Outcome]) -> dict[str, Any]:
    return {"results": [
        {"run_id": o.run_id, "status": o.status, "lease": views.lease(o.run)} if o.run is not None
        else {"run_id": o.run_id, "status": o.status, "error": o.error}
        for o in outcomes
    ]}


@router.post("/api/agent/tasks/claim-batch", response_model=ClaimsEnvelope,
             responses=BUDGET_204, summary="Claim up to max_runs task runs at once, in claim-next order")
async def claim_batch(engine: EngineDep, actor: CurrentActor, body: ClaimBatch | None = None) -> Response:
    """Claim up to `max_runs` runs in claim-next's order, long-polling up to `wait_seconds` for the first.

    200 with each claim (claim token shown once), 204 when nothing is claimable (with X-Taskloom-Budget-Exhausted when a
    spent budget covers the claim); 400 for bad filters."""
    body = body or ClaimBatch()
    filters = claim_filters(body)

    def op(tx: Any, ctx: Ctx) -> list[run_ops.Claim] | None:
        return run_ops.claim_many(tx, ctx, filters, body.max_runs, body.lease_seconds, body.session_id) or None

    try:
        claims = await engine.long_poll(actor, lambda: engine.write(actor, op), body.wait_seconds, standing=op,
                                        channel=filters.network_channel)
    except BudgetExhausted as exc:
        return budget_spent(exc)
    if not claims:
        return Response(status_code=204)
    return ok({"claims": [views.claim(c.run, c.task, c.token) for c in claims]})


@router.post("/api/agent/tasks/complete-batch", response_model=ResultsEnvelope,
             summary="Complete many claimed task runs; each item is applied or refused on its own")
async def complete_batch(body: CompleteBatch, engine: EngineDep, actor: CurrentActor) -> Response:
    """Complete up to 500 held runs; each item is applied or refused on its own.

    Per item 200, 403 (not yours), 404 (unknown) or 409 (stale claim); 400 when the batch shape is wrong."""
    items = [batches.Finish(run_id=i.run_id, claim_token=i.claim_token, idempotency_key=i.idempotency_key,
                            usage=usage_of(i), result=i.result) for i in body.items]
    return ok(_results(await engine.write(actor, lambda tx, ctx: batches.complete_many(tx, ctx, items))))


@router.post("/api/agent/tasks/fail-batch", response_model=ResultsEnvelope,
             summary="Fail many claimed task runs; each item is applied or refused on its own")
async def fail_batch(body: FailBatch, engine: EngineDep, actor: CurrentActor) -> Response:
    """Fail up to 500 held runs (retried while attempts remain, unless `retryable` is false).

    Per item 200, 403, 404 or 409; 400 when the batch shape is wrong."""
    items = [batches.Finish(run_id=i.run_id, claim_token=i.claim_token, idempotency_key=i.idempotency_key,
                            usage=usage_of(i), error=i.error, retryable=i.retryable) for i in body.items]
    return ok(_results(await engine.write(actor, lambda tx, ctx: batches.fail_many(tx, ctx, items))))


@router.post("/api/tasks/batch", status_code=201, response_model=CreatedTasksEnvelope, tags=["tasks"],
             summary="Create many tasks at once: all or nothing",
             responses=rules_400("parent_task_id and dependencies name tasks that exist and the caller sees"
                                 " (else a 400 naming the item: the batch is all or nothing)",
                                 "workspace_id is one of the caller's workspaces"))
async def create_tasks(body: TaskBatch, engine: EngineDep, actor: CurrentActor) -> Response:
    """Create 1 to 1,000 tasks in one transaction, all or nothing.

    201 with the tasks; 400 naming the index and field of the first bad item, and nothing is created."""
    specs = [spec_from(t, actor) for t in body.tasks]
    tasks = await engine.write(actor, lambda tx, ctx: batches.create_many(tx, ctx, specs))
    return ok({"tasks": [views.task_record(t) for t in tasks]}, 201)
