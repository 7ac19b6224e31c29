"""Runs API (seed 004): /api/task-runs/{id}/... and the agent side /api/agent/tasks/..."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from taskloom.api import read_models, views
from taskloom.api.auth import CurrentActor
from taskloom.api.budgets import BUDGET_204, budget_spent, exhausted_header
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import RunClaimEnvelope
from taskloom.api.schemas import (
    ERRORS,
    AttachSession,
    ClaimEnvelope,
    ClaimNext,
    Heartbeat,
    IdempotentBody,
    LeaseEnvelope,
    Reason,
    Release,
    RunComplete,
    RunDetailEnvelope,
    RunEnvelope,
    RunFail,
)
from taskloom.domain.priority import from_runtime
from taskloom.engine import read_models as rm
from taskloom.engine import runs as run_ops
from taskloom.engine.budgets import BudgetExhausted
from taskloom.engine.context import Ctx
from taskloom.rows import Row

router = APIRouter(tags=["runs"], responses=ERRORS)
USAGE_KEYS = ("input_tokens", "output_tokens", "total_cost", "cost_currency", "tool_call_count", "turn_count",
              "model", "provider")


def usage_of(body: RunComplete | Heartbeat | RunFail) -> Row:
    usage: Row = body.usage.model_dump(exclude_none=True) if body.usage else {}
    for key in USAGE_KEYS:
        value = getattr(body, key, None)
        if value is not None:
            usage[key] = value
    return usage


def claim_body(claim: run_ops.Claim) -> dict[str, Any]:
    return {"claim": views.claim(claim.run, claim.task, claim.token)}


def claim_filters(body: ClaimNext) -> run_ops.ClaimFilters:
    return run_ops.ClaimFilters(
        network_channel=body.network_channel,
        workspace=body.workspace,
        capabilities=body.capabilities,
        min_priority=from_runtime(body.min_priority) if body.min_priority else None,
    )


# -- /api/task-runs ------------------------------------------------------------------


@router.get("/api/task-runs/{run_id}", response_model=RunDetailEnvelope, summary="Get one task run detail")
async def get_run(run_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One run with its lease, usage and result. 404 when the run is unknown or outside the caller's workspaces."""
    return ok({"run": await engine.read(actor, lambda tx, ctx: read_models.run_detail(rm.run_detail(tx, ctx, run_id)))})


@router.post("/api/task-runs/{run_id}/claim", response_model=RunClaimEnvelope, summary="Claim one queued task run")
async def claim_run(run_id: str, engine: EngineDep, actor: CurrentActor, body: IdempotentBody | None = None) -> Response:
    """Claims this queued run (idempotent with the same idempotency key) and returns the claim token once. 409 when it is
    not claimable (with X-Taskloom-Budget-Exhausted when a spent budget covers it); 403 when reserved for another agent."""
    key = body.idempotency_key if body else None
    lease_seconds = (body.lease_seconds if body else None) or 300.0
    try:
        result = await engine.write(actor, lambda tx, ctx: run_ops.claim_run(tx, ctx, run_id, lease_seconds, key))
    except BudgetExhausted as exc:
        return JSONResponse({"error": exc.message}, status_code=409, headers=exhausted_header(exc.budget))
    if isinstance(result, run_ops.Claim):
        return ok({"run": views.run_record(result.run), "claim_token": result.token})
    return ok({"run": views.run_record(result)})


@router.post("/api/task-runs/{run_id}/start", response_model=RunEnvelope, summary="Start one claimed task run")
async def start_run(run_id: str, engine: EngineDep, actor: CurrentActor, body: IdempotentBody | None = None) -> Response:
    """Marks a claimed run as starting. 403 when the caller does not hold it; 409 when it is not claimed."""
    key = body.idempotency_key if body else None
    run = await engine.write(actor, lambda tx, ctx: run_ops.start_run(tx, ctx, run_id, key))
    return ok({"run": views.run_record(run)})


@router.post("/api/task-runs/{run_id}/complete", response_model=RunEnvelope, summary="Complete one running task run")
async def complete_run(run_id: str, engine: EngineDep, actor: CurrentActor, body: RunComplete | None = None) -> Response:
    """Completes a live run with its result; the task completes and dependents may become ready. 403 not your run; 409
    when the run is no longer live."""
    body = body or RunComplete()
    run = await engine.write(actor, lambda tx, ctx: run_ops.complete_run(
        tx, ctx, run_id, result=body.result, idempotency_key=body.idempotency_key, claim_token=body.claim_token,
        usage=usage_of(body)))
    return ok({"run": views.run_record(run)})


@router.post("/api/task-runs/{run_id}/fail", response_model=RunEnvelope, summary="Fail one task run")
async def fail_run(run_id: str, body: RunFail, engine: EngineDep, actor: CurrentActor) -> Response:
    """Fails a live run; the task is retried while attempts remain, else it fails. 400 for an empty error; 403 not your
    run; 409 when not live."""
    run = await engine.write(actor, lambda tx, ctx: run_ops.fail_run(
        tx, ctx, run_id, error=body.error, idempotency_key=body.idempotency_key, claim_token=body.claim_token,
        retryable=body.retryable, usage=usage_of(body)))
    return ok({"run": views.run_record(run)})


@router.post("/api/task-runs/{run_id}/cancel", response_model=RunEnvelope, summary="Cancel one task run")
async def cancel_run(run_id: str, engine: EngineDep, actor: CurrentActor, body: Reason | None = None) -> Response:
    """Cancels one open run; the task goes back to pending (no automatic retry). 409 when the run is already closed."""
    reason = body.reason if body else None
    run = await engine.write(actor, lambda tx, ctx: run_ops.cancel_run(tx, ctx, run_id, reason))
    return ok({"run": views.run_record(run)})


@router.post("/api/task-runs/{run_id}/attach-session", response_model=RunEnvelope,
             summary="Attach an existing session to one task run")
async def attach_session(run_id: str, body: AttachSession, engine: EngineDep, actor: CurrentActor) -> Response:
    """Records the session working on an open run (a starting run becomes running). 400 empty session id; 409 when the
    run is closed."""
    run = await engine.write(actor, lambda tx, ctx: run_ops.attach_session(tx, ctx, run_id, body.session_id))
    return ok({"run": views.run_record(run)})


# -- /api/agent/tasks ------------------------------------------------------------------


@router.post("/api/agent/tasks/claim-next", response_model=ClaimEnvelope, tags=["agent"],
             responses=BUDGET_204, summary="Atomically claim the next matching task run for the calling agent")
async def claim_next(engine: EngineDep, actor: CurrentActor, body: ClaimNext | None = None) -> Response:
    """Claims the most urgent claimable run matching the filters, waiting up to wait_seconds for one; 204 when none (or
    when the server shuts down; with X-Taskloom-Budget-Exhausted when a spent budget covers the claim). A channel-limited
    API key claims only from its channels (403 for another)."""
    body = body or ClaimNext()
    filters = claim_filters(body)
    def op(tx: Any, ctx: Ctx) -> run_ops.Claim | None:
        return run_ops.claim_next(tx, ctx, filters, body.lease_seconds, body.session_id)

    try:
        claim = await engine.long_poll(actor, lambda: engine.write(actor, op), body.wait_seconds, standing=op,
                                        channel=filters.network_channel)
    except BudgetExhausted as exc:
        return budget_spent(exc)
    return ok(claim_body(claim)) if claim is not None else Response(status_code=204)


@router.post("/api/agent/tasks/{run_id}/heartbeat", response_model=LeaseEnvelope, tags=["agent"],
             summary="Extend a claimed task-run lease for the calling agent")
async def agent_heartbeat(run_id: str, engine: EngineDep, actor: CurrentActor, body: Heartbeat | None = None) -> Response:
    """Renews the lease of the caller's run and records usage and progress. 403 not your run; 409 when the run was taken
    back or finished."""
    body = body or Heartbeat()
    run = await engine.write(actor, lambda tx, ctx: run_ops.heartbeat(
        tx, ctx, run_id, lease_seconds=body.lease_seconds, claim_token=body.claim_token, usage=usage_of(body),
        progress=body.progress))
    return ok({"lease": views.lease(run)})


@router.post("/api/agent/tasks/{run_id}/complete", response_model=LeaseEnvelope, tags=["agent"],
             summary="Complete a claimed task run for the calling agent")
async def agent_complete(run_id: str, engine: EngineDep, actor: CurrentActor, body: RunComplete | None = None) -> Response:
    """Completes the caller's claimed run with its result (idempotent with the same key). 403 not your run; 409 when no
    longer live or the claim token does not match."""
    body = body or RunComplete()
    run = await engine.write(actor, lambda tx, ctx: run_ops.complete_run(
        tx, ctx, run_id, result=body.result, idempotency_key=body.idempotency_key, claim_token=body.claim_token,
        usage=usage_of(body)))
    return ok({"lease": views.lease(run)})


@router.post("/api/agent/tasks/{run_id}/fail", response_model=LeaseEnvelope, tags=["agent"],
             summary="Fail a claimed task run for the calling agent")
async def agent_fail(run_id: str, body: RunFail, engine: EngineDep, actor: CurrentActor) -> Response:
    """Fails the caller's claimed run; retried while attempts remain unless retryable is false. 403 not your run; 409
    when no longer live."""
    run = await engine.write(actor, lambda tx, ctx: run_ops.fail_run(
        tx, ctx, run_id, error=body.error, idempotency_key=body.idempotency_key, claim_token=body.claim_token,
        retryable=body.retryable, usage=usage_of(body)))
    return ok({"lease": views.lease(run)})


@router.post("/api/agent/tasks/{run_id}/release", response_model=LeaseEnvelope, tags=["agent"],
             summary="Release a claimed task run for the calling agent")
async def agent_release(run_id: str, engine: EngineDep, actor: CurrentActor, body: Release | None = None) -> Response:
    """Hands the caller's run back to the queue without spending an attempt. 403 not your run; 409 when no longer live."""
    body = body or Release()
    run = await engine.write(actor, lambda tx, ctx: run_ops.release_run(
        tx, ctx, run_id, reason=body.reason, claim_token=body.claim_token))
    return ok({"lease": views.lease(run)})
