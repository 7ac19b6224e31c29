"""Work queues API (seed 000): /work-queues and /work-queue-tasks, in camelCase.

A thin layer: parse, call one engine operation (engine/work_queues.py), shape
the answer. See docs/api/work-queues.md for every shape and status code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import AwareDatetime, Field

from taskloom.api.auth import CurrentActor
from taskloom.api.budgets import BUDGET_204, budget_spent
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import (
    WorkQueueDeletedOut,
    WorkQueueOut,
    WorkQueuesOut,
    WorkQueueTaskOut,
    WorkQueueTasksOut,
)
from taskloom.api.schemas import Body, rules_400
from taskloom.api.views import iso, js
from taskloom.domain.priority import to_scale
from taskloom.domain.projections import EXPIRED_ERROR
from taskloom.domain.states import RUN_LIVE
from taskloom.engine import work_queues as wq
from taskloom.engine.budgets import BudgetExhausted
from taskloom.engine.engine import Engine
from taskloom.rows import Row

router = APIRouter(tags=["work-queues"])

TAKER_RULE = "agentId is required unless the caller is an agent (it takes work for itself)"
WqStatus = Literal["pending", "assigned", "completed", "failed", "expired", "canceled"]
Text = Annotated[str, Field(min_length=1, max_length=200)]
LeaseSeconds = Annotated[float, Field(ge=1, le=86_400)]


class QueueCreate(Body):
    name: Text
    teamId: Text


class TaskCreate(Body):
    name: Annotated[str, Field(min_length=1, max_length=500)]
    priority: Annotated[int, Field(strict=True, ge=1, le=5)] = wq.PRIORITY_DEFAULT
    payload: dict[str, Any] | None = None
    deadline: AwareDatetime | None = None
    maxAttempts: Annotated[int, Field(strict=True, ge=1, le=100)] = 3


class Take(Body):
    agentId: Text | None = None
    leaseSeconds: LeaseSeconds = wq.DEFAULT_LEASE_SECONDS
    waitSeconds: Annotated[float, Field(ge=0, le=30)] = 0


class Complete(Body):
    result: Any = None
    idempotencyKey: Text | None = None


class Fail(Body):
    error: Annotated[str, Field(min_length=1, max_length=10_000)]
    retryable: bool = True
    idempotencyKey: Text | None = None


class Extend(Body):
    leaseSeconds: LeaseSeconds | None = None
    progress: Any = None


# -- shapes ---------------------------------------------------------------------------


def queue_view(queue: Row, counts: dict[str, int]) -> Row:
    return {
        "id": queue["id"],
        "name": queue["name"],
        "teamId": queue["team_id"],
        "counts": counts,
        "createdBy": {"kind": queue["created_by_kind"], "ref": queue["created_by_ref"]},
        "createdAt": iso(queue["created_at"]),
        "updatedAt": iso(queue["updated_at"]),
    }


def task_view(qt: wq.QueueTask) -> Row:
    t, run = qt.task, qt.run
    ext = js(t["ext"])
    ext = ext if isinstance(ext, dict) else {}
    live = run is not None and run["status"] in RUN_LIVE
    error = t["error"] if qt.status not in ("pending", "assigned", "completed") else None
    out: Row = {
        "id": t["id"],
        "queueId": t["network_channel"],
        "name": t["title"],
        "priority": to_scale(t["priority"], lowest=wq.PRIORITY_LOWEST, highest=wq.PRIORITY_HIGHEST),
        "payload": js(t["metadata"]),
        "deadline": iso(t["deadline"]),
        "status": qt.status,
        "agentId": run["claimed_by_ref"] if run is not None else None,
        "assignedAt": iso(run["claimed_at"]) if run is not None else None,
        "leaseExpiresAt": iso(run["lease_until"]) if run is not None and live else None,
        "runId": run["id"] if run is not None else None,
        "attempt": run["attempt"] if run is not None else 0,
        "maxAttempts": t["max_attempts"],
        "result": js(t["result"]) if qt.status == "completed" else None,
        "error": error or (EXPIRED_ERROR if qt.status == "expired" else None),
        "lastError": t["error"],
        "stolenFrom": ext.get("stolen_from"),
        "coreStatus": t["status"],
        "createdAt": iso(t["created_at"]),
        "updatedAt": iso(t["updated_at"]),
        "closedAt": iso(t["closed_at"]),
    }
    if qt.claim_token is not None:
        out["claimToken"] = qt.claim_token
    return out


# -- queues ---------------------------------------------------------------------------


@router.post("/work-queues", status_code=201, response_model=WorkQueueOut, summary="Create a work queue")
async def create_queue(body: QueueCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Creates a work queue (a network channel) for a team. 400 names a bad field; 409 when the id is taken."""
    queue, counts = await engine.write(actor, lambda tx, ctx: wq.create_queue(tx, ctx, body.name, body.teamId))
    return ok(queue_view(queue, counts), 201)


@router.get("/work-queues", response_model=WorkQueuesOut, summary="List work queues (filter by teamId)")
async def list_queues(engine: EngineDep, actor: CurrentActor, teamId: str | None = Query(default=None),
                      limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0, le=2**62)
                      ) -> Response:
    """Work queues, optionally of one team, with their task counts."""
    rows = await engine.read(actor, lambda tx, ctx: wq.list_queues(tx, ctx, teamId, limit=limit, offset=offset))
    return ok({"queues": [queue_view(q, c) for q, c in rows]})


@router.get("/work-queues/{queue_id}", response_model=WorkQueueOut, summary="Get a work queue with its task counts")
async def get_queue(queue_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One work queue with its task counts by status. 404 unknown queue."""
    queue, counts = await engine.read(actor, lambda tx, ctx: wq.get_queue(tx, ctx, queue_id))
    return ok(queue_view(queue, counts))


@router.delete("/work-queues/{queue_id}", response_model=WorkQueueDeletedOut,
               summary="Delete a work queue (?force=true cancels its open tasks)")
async def delete_queue(queue_id: str, engine: EngineDep, actor: CurrentActor, force: bool = False) -> Response:
    """Deletes an empty queue; force=true cancels its open tasks first. 409 while it has open tasks; 403 unless admin or
    its creator."""
    canceled = await engine.write(actor, lambda tx, ctx: wq.delete_queue(tx, ctx, queue_id, force=force))
    return ok({"id": queue_id, "deleted": True, "canceledTaskIds": canceled})


# -- tasks ----------------------------------------------------------------------------


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


@router.post("/work-queues/{queue_id}/tasks", status_code=201, response_model=WorkQueueTaskOut,
             summary="Add a task to a work queue", responses=rules_400("deadline in the future"))
async def add_task(queue_id: str, body: TaskCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Adds a task to the queue with priority, deadline and retry policy. 404 unknown queue; 400 names a bad field."""
    qt = await engine.write(actor, lambda tx, ctx: wq.add_task(
        tx, ctx, queue_id, name=body.name, priority=body.priority, payload=body.payload,
        deadline=_epoch(body.deadline), max_attempts=body.maxAttempts))
    return ok(task_view(qt), 201)


@router.get("/work-queues/{queue_id}/tasks", response_model=WorkQueueTasksOut,
            summary="List a work queue's tasks (filter by status)")
async def list_tasks(queue_id: str, engine: EngineDep, actor: CurrentActor, status: WqStatus | None = None,
                     limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0, le=2**62)
                     ) -> Response:
    """The queue's tasks, optionally by status, most urgent first. 404 unknown queue."""
    rows = await engine.read(actor, lambda tx, ctx: wq.list_tasks(tx, ctx, queue_id, status=status, limit=limit,
                                                                   offset=offset))
    return ok({"tasks": [task_view(qt) for qt in rows]})


async def _take(engine: Engine, actor: Any, body: Take | None, op: Any, queue_id: str) -> Response:
    """Dequeue or steal, waiting up to ``waitSeconds`` for work (204 when none)."""
    body = body or Take()
    try:
        qt = await engine.long_poll(wq.assignee(actor, body.agentId), lambda: engine.write(
            actor, lambda tx, ctx: op(tx, ctx, queue_id, body.agentId, body.leaseSeconds)
        ), body.waitSeconds)
    except BudgetExhausted as exc:
        return budget_spent(exc)
    return ok(task_view(qt)) if qt is not None else Response(status_code=204)


@router.post("/work-queues/{queue_id}/dequeue", response_model=WorkQueueTaskOut, summary="Assign the next task to an agent",
             responses={**BUDGET_204, **rules_400(TAKER_RULE)})
async def dequeue(queue_id: str, engine: EngineDep, actor: CurrentActor, body: Take | None = None) -> Response:
    """Assigns the queue's most urgent pending task to the agent, waiting up to waitSeconds; 204 when none (or when the
    server shuts down; with X-Taskloom-Budget-Exhausted when a spent budget covers the claim). 404 unknown queue."""
    return await _take(engine, actor, body, wq.dequeue, queue_id)


@router.post("/work-queues/{queue_id}/steal", response_model=WorkQueueTaskOut,
             summary="Steal a task from the team's most loaded other queue",
             responses={**BUDGET_204, **rules_400(TAKER_RULE)})
async def steal(queue_id: str, engine: EngineDep, actor: CurrentActor, body: Take | None = None) -> Response:
    """Moves the most urgent pending task of the team's most loaded other queue into this one and assigns it; 204 when
    there is none (with X-Taskloom-Budget-Exhausted when spent budgets cover every source). 404 unknown queue."""
    return await _take(engine, actor, body, wq.steal, queue_id)


@router.get("/work-queue-tasks/{task_id}", response_model=WorkQueueTaskOut, summary="Get a work-queue task")
async def get_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One work-queue task with its status and lease. 404 unknown task."""
    return ok(task_view(await engine.read(actor, lambda tx, ctx: wq.get_task(tx, ctx, task_id))))


@router.post("/work-queue-tasks/{task_id}/complete", response_model=WorkQueueTaskOut, summary="Complete an assigned task")
async def complete(task_id: str, engine: EngineDep, actor: CurrentActor, body: Complete | None = None) -> Response:
    """Completes the caller's assigned task with its result. 403 when assigned to another agent; 409 when not assigned."""
    body = body or Complete()
    qt = await engine.write(actor, lambda tx, ctx: wq.complete(tx, ctx, task_id, body.result, body.idempotencyKey))
    return ok(task_view(qt))


@router.post("/work-queue-tasks/{task_id}/fail", response_model=WorkQueueTaskOut,
             summary="Fail an assigned task (retried while attempts remain)")
async def fail(task_id: str, body: Fail, engine: EngineDep, actor: CurrentActor) -> Response:
    """Fails the caller's assigned task; it goes back to the queue while attempts remain. 403 not yours; 409 when not
    assigned."""
    qt = await engine.write(actor, lambda tx, ctx: wq.fail(
        tx, ctx, task_id, body.error, retryable=body.retryable, idempotency_key=body.idempotencyKey))
    return ok(task_view(qt))


@router.post("/work-queue-tasks/{task_id}/heartbeat", response_model=WorkQueueTaskOut,
             summary="Extend the lease of an assigned task")
async def heartbeat(task_id: str, engine: EngineDep, actor: CurrentActor, body: Extend | None = None) -> Response:
    """Extends the lease of the caller's assigned task. 403 not yours; 409 when the lease was lost."""
    body = body or Extend()
    qt = await engine.write(actor, lambda tx, ctx: wq.heartbeat(tx, ctx, task_id, body.leaseSeconds, body.progress))
    return ok(task_view(qt))
