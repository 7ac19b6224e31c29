"""Scheduled tasks API (seed 003) at ``/tasks``, plus ``POST /events`` for event schedules.

Priority speaks the seed's 1-9 scale (1 highest, default 5) and maps onto the core
rank; ``max_retries`` is the core's ``max_attempts - 1``. See docs/api/schedules.md.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query, Response
from pydantic import Field

from taskloom.api import schemas, views
from taskloom.api.auth import CurrentActor
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import (
    PublishedEventOut,
    ScheduledRunNowOut,
    ScheduledTaskDetailOut,
    ScheduledTasksOut,
    ScheduleRunsOut,
)
from taskloom.api.schemas import SCHEDULE_RULES, NotNull, RateLimit, RunStatusName, rules_400
from taskloom.domain.errors import InvalidInput
from taskloom.domain.priority import to_scale
from taskloom.domain.projections import FIRING_STATUS
from taskloom.domain.states import RunStatus
from taskloom.domain.times import iso
from taskloom.engine import read_models as rm
from taskloom.engine import schedules as ops
from taskloom.engine.context import loads, then
from taskloom.rows import Row

router = APIRouter(tags=["scheduled tasks"])

Kind = Literal["cron", "rrule", "once", "event"]
Backoff = Literal["exponential_jitter", "linear", "fixed"]
ScheduleStatus = Literal["active", "paused", "canceled"]
MAX_SNOOZE = 604_800


class Body(schemas.Body):
    """The shared request base (api/schemas.py): unknown fields and booleans for numbers refused."""


class ScheduledTaskCreate(Body):
    title: str = Field(min_length=1, max_length=500)
    description: str = Field(max_length=100_000)
    schedule_kind: Kind
    schedule_expr: str | None = Field(default=None, max_length=2000,
                                      description="cron (5 fields), RRULE, ISO time; for event: the event type or glob")
    timezone: str | None = Field(default=None, max_length=100, description="IANA timezone, default UTC")
    payload: dict[str, Any] = Field(description="The pipeline definition; reaches the agent as the task's metadata")
    created_by: UUID
    priority: int = Field(default=5, ge=1, le=9, description="1 (highest) to 9 (lowest)")
    max_retries: int = Field(default=3, ge=0, le=100)
    backoff_strategy: Backoff = "exponential_jitter"
    backoff_seconds: float = Field(default=10.0, ge=0, le=86_400, description="Base retry delay (extension)")
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)
    dedupe_window_seconds: int | None = Field(default=None, ge=1, le=31_536_000)
    concurrency_key: str | None = Field(default=None, min_length=1, max_length=200)
    concurrency_limit: int = Field(default=1, ge=1, le=100_000,
                                   description="At most this many live runs per concurrency_key (extension)")
    rate_limit: RateLimit | None = Field(default=None, description="At most per_minute runs of key claimed per"
                                         " rolling minute (extension)")
    queue: str | None = Field(default=None, min_length=1, max_length=200,
                              description="Network channel the runs are queued on (extension; else payload.queue)")


class ScheduledTaskUpdate(Body):
    title: Annotated[str | None, NotNull] = Field(default=None, min_length=1, max_length=500)
    description: Annotated[str | None, NotNull] = Field(default=None, max_length=100_000)
    schedule_kind: Annotated[Kind | None, NotNull] = None
    schedule_expr: str | None = Field(default=None, max_length=2000)
    timezone: str | None = Field(default=None, max_length=100)
    payload: Annotated[dict[str, Any] | None, NotNull] = None
    created_by: Annotated[UUID | None, NotNull] = None
    priority: Annotated[int | None, NotNull] = Field(default=None, ge=1, le=9)
    max_retries: Annotated[int | None, NotNull] = Field(default=None, ge=0, le=100)
    backoff_strategy: Annotated[Backoff | None, NotNull] = None
    backoff_seconds: Annotated[float | None, NotNull] = Field(default=None, ge=0, le=86_400)
    dedupe_key: str | None = Field(default=None, min_length=1, max_length=200)
    dedupe_window_seconds: int | None = Field(default=None, ge=1, le=31_536_000)
    concurrency_key: str | None = Field(default=None, min_length=1, max_length=200)
    concurrency_limit: Annotated[int | None, NotNull] = Field(default=None, ge=1, le=100_000)
    rate_limit: RateLimit | None = Field(default=None, description="null clears it")
    queue: str | None = Field(default=None, min_length=1, max_length=200)


NOT_NULL = ("title", "description", "schedule_kind", "payload", "created_by", "priority", "max_retries",
            "backoff_strategy", "backoff_seconds", "concurrency_limit")


class SnoozeBody(Body):
    delay_seconds: int = Field(ge=1, le=MAX_SNOOZE, description="At most 604800 (one week)")
    reason: str | None = Field(default=None, max_length=2000)


class CancelBody(Body):
    reason: str | None = Field(default=None, max_length=2000)


class EventBody(Body):
    type: str = Field(min_length=1, max_length=200)
    payload: Any = None


# -- views ----------------------------------------------------------------------------------


def run_view(run: Row) -> Row:
    meta = views.js(run["metadata"]) or {}
    return {
        **views.run_record(run),
        "firing": meta.get("firing"),
        "event": meta.get("event"),
        "retry_delay_seconds": meta.get("retry_delay_seconds"),
        "retry_of_run_id": meta.get("retry_of_run_id"),
    }


def last_firing(run: Row | None) -> Row | None:
    if run is None:
        return None
    firing = (views.js(run["metadata"]) or {}).get("firing") or {}
    attempts = int(run["attempt"]) - int(firing.get("first_attempt") or run["attempt"]) + 1
    status = FIRING_STATUS[RunStatus(run["status"])]
    if status == "queued" and attempts > 1:
        status = "retrying"
    return {"id": firing.get("id"), "trigger": firing.get("trigger"), "scheduled_for": firing.get("scheduled_for"),
            "status": status, "attempts": attempts, "run_id": run["id"]}


def task_view(task: Row, sched: Row, last_run: Row | None = None, *, detail: bool = False) -> Row:
    ext = views.js(task["ext"]) or {}
    status = ops.effective_status(task, sched)
    waiting = loads(sched["waiting"])
    out: Row = {
        "id": task["id"],
        "identifier": task["identifier"],
        "title": task["title"],
        "description": task["description"],
        "schedule_kind": sched["kind"],
        "schedule_expr": sched["expr"],
        "timezone": sched["timezone"],
        "payload": views.js(task["metadata"]),
        "created_by": sched["created_by"],
        "priority": to_scale(int(task["priority"]), lowest=9, highest=1),
        "max_retries": int(task["max_attempts"]) - 1,
        "backoff_strategy": task["backoff_strategy"],
        "backoff_seconds": float(task["backoff_seconds"]),
        "dedupe_key": task["dedupe_key"],
        "dedupe_window_seconds": (None if sched["dedupe_window_seconds"] is None
                                  else int(sched["dedupe_window_seconds"])),
        **views.key_limits(task),
        "queue": ext.get("queue"),
        "network_channel": task["network_channel"],
        "status": status,
        "next_run_at": iso(sched["next_run_at"]) if status == "active" else None,
        "snoozed_until": iso(sched["snoozed_until"]),
        "snooze_reason": sched["snooze_reason"],
        "last_run_at": iso(sched["last_fired_at"]),
        "run_count": sched["fire_count"],
        "missed_firings": sched["missed_count"],
        "waiting_firing": waiting.get("firing") if waiting else None,
        "task_status": task["status"],
        "created_at": iso(sched["created_at"]),
        "updated_at": iso(max(float(sched["updated_at"]), float(task["updated_at"]))),
    }
    if detail:
        out["last_firing"] = last_firing(last_run)
        out["last_run"] = run_view(last_run) if last_run else None
    return out


# -- routes ---------------------------------------------------------------------------------


@router.post("/tasks", status_code=201, response_model=ScheduledTaskDetailOut, summary="Create a scheduled task",
             responses=rules_400(*SCHEDULE_RULES))
async def create_scheduled_task(body: ScheduledTaskCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Creates a cron, RRULE, once or event schedule that fires runs of one task. 400 names a bad field or an expression
    with no firing in bounds."""
    spec = ops.ScheduleSpec(**{**body.model_dump(), "created_by": str(body.created_by)})
    checked = await ops.check(engine, spec.schedule_kind, spec.schedule_expr, spec.timezone)
    task, sched = await engine.write(actor, lambda tx, ctx: ops.create(tx, ctx, spec, checked))
    return ok(task_view(task, sched, None, detail=True), 201)


@router.get("/tasks", response_model=ScheduledTasksOut, summary="List scheduled tasks")
async def list_scheduled_tasks(
    engine: EngineDep,
    actor: CurrentActor,
    status: ScheduleStatus | None = None,
    created_by: UUID | None = None,
    schedule_kind: Kind | None = None,
    limit: int = Query(default=50, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**62),
) -> Response:
    """Scheduled tasks, optionally by status, with their next firing."""
    filters: Row = {"status": status, "created_by": str(created_by) if created_by else None,
                    "schedule_kind": schedule_kind}
    pairs, total = await engine.read(actor, lambda tx, ctx: ops.listing(tx, ctx, filters, limit, offset))
    return ok({"tasks": [task_view(t, s) for t, s in pairs], "total": total, "limit": limit, "offset": offset})


def _detail(found: tuple[Row, Row, Row | None]) -> Row:
    task, sched, latest = found
    return task_view(task, sched, latest, detail=True)


@router.get("/tasks/{task_id}", response_model=ScheduledTaskDetailOut, summary="Get one scheduled task")
async def get_scheduled_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One scheduled task with its schedule, next firing and counts. 404 unknown task."""
    return ok(_detail(await engine.read(actor, lambda tx, ctx: rm.with_latest_run(
        tx, ops.load(tx, ctx, task_id)))))


@router.put("/tasks/{task_id}", response_model=ScheduledTaskDetailOut,
            summary="Update the given fields of one scheduled task",
            responses=rules_400(*SCHEDULE_RULES))
async def update_scheduled_task(task_id: str, body: ScheduledTaskUpdate, engine: EngineDep,
                                actor: CurrentActor) -> Response:
    """Changes the given fields; a new schedule recomputes the next firing. 400 names a bad field; 409 when canceled."""
    changes: Row = body.model_dump(exclude_unset=True)
    for key in NOT_NULL:
        if key in changes and changes[key] is None:
            raise InvalidInput(f"{key} must not be null")
    if changes.get("created_by") is not None:
        changes["created_by"] = str(changes["created_by"])
    checked = await ops.check_update(engine, actor, task_id, changes)
    return ok(_detail(await engine.write(actor, lambda tx, ctx: rm.with_latest_run(
        tx, ops.update(tx, ctx, task_id, changes, checked)))))


@router.post("/tasks/{task_id}/run_now", status_code=201, response_model=ScheduledRunNowOut,
             summary="Run one scheduled task once, now")
async def run_scheduled_task_now(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Fires the task once now, outside its schedule (dedupe and concurrency rules apply). 409 when canceled or a run is
    open."""
    # In order, in one transaction: the run now, then the task and schedule it leaves.
    run, (task, sched) = await engine.write(actor, lambda tx, ctx: (ops.run_now(tx, ctx, task_id),
                                                                    ops.load(tx, ctx, task_id)))
    return ok({"run": run_view(run), "task": task_view(task, sched, run, detail=True)}, 201)


@router.post("/tasks/{task_id}/snooze", response_model=ScheduledTaskDetailOut,
             summary="Delay the next firing of one scheduled task")
async def snooze_scheduled_task(task_id: str, body: SnoozeBody, engine: EngineDep, actor: CurrentActor) -> Response:
    """Moves the next firing later. 409 when paused, canceled or with no upcoming firing."""
    return ok(_detail(await engine.write(actor, lambda tx, ctx: rm.with_latest_run(
        tx, ops.snooze(tx, ctx, task_id, body.delay_seconds, body.reason)))))


@router.post("/tasks/{task_id}/pause", response_model=ScheduledTaskDetailOut, summary="Pause one scheduled task")
async def pause_scheduled_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Stops firings until resumed. 409 when canceled."""
    return ok(_detail(await engine.write(actor, lambda tx, ctx: rm.with_latest_run(
        tx, ops.pause(tx, ctx, task_id)))))


@router.post("/tasks/{task_id}/resume", response_model=ScheduledTaskDetailOut, summary="Resume one paused scheduled task")
async def resume_scheduled_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Resumes a paused schedule; firings missed while paused are skipped. 409 when canceled."""
    return ok(_detail(await engine.write(actor, lambda tx, ctx: rm.with_latest_run(
        tx, ops.resume(tx, ctx, task_id)))))


@router.post("/tasks/{task_id}/cancel", response_model=ScheduledTaskDetailOut, summary="Cancel one scheduled task for good")
async def cancel_scheduled_task(task_id: str, engine: EngineDep, actor: CurrentActor,
                                body: CancelBody | None = None) -> Response:
    """Cancels the schedule for good, with its open run. 404 unknown task."""
    reason = body.reason if body else None
    return ok(_detail(await engine.write(actor, lambda tx, ctx: rm.with_latest_run(
        tx, ops.cancel(tx, ctx, task_id, reason)))))


@router.get("/tasks/{task_id}/runs", response_model=ScheduleRunsOut,
            summary="List the runs of one scheduled task, newest first")
async def list_scheduled_task_runs(task_id: str, engine: EngineDep, actor: CurrentActor,
                                   status: RunStatusName | None = None,
                                   limit: int = Query(default=50, ge=1, le=1000),
                                   offset: int = Query(default=0, ge=0, le=2**62)) -> Response:
    """The runs fired by the schedule, newest first, with their trigger. 404 unknown task."""
    rows = await engine.read(actor, then(lambda tx, ctx: ops.load(tx, ctx, task_id), lambda tx, ctx: rm.schedule_runs(
        tx, task_id, status=status, limit=limit, offset=offset)))

    return ok({"runs": [run_view(r) for r in rows], "limit": limit, "offset": offset})


@router.post("/events", status_code=202, response_model=PublishedEventOut,
             summary="Publish an event to fire matching event schedules")
async def publish_event(body: EventBody, engine: EngineDep, actor: CurrentActor) -> Response:
    """Publishes an event: every active event schedule whose filter matches fires once. 400 names a bad field."""
    return ok(await engine.write(actor, lambda tx, ctx: ops.publish_event(tx, ctx, body.type, body.payload)), 202)

