"""Runtime tasks API (seed 004): tasks, approvals, dependencies, trees, timeline, stream, triage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from taskloom.api import read_models, views
from taskloom.api.auth import CurrentActor, require_admin, require_not_agent
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import SSE_EVENT_SCHEMA
from taskloom.api.schemas import (
    ERRORS,
    ApproveBody,
    ChildCreate,
    DependencyCreate,
    Priority,
    Reason,
    RunEnvelope,
    RunsEnvelope,
    RunStatusName,
    Scope,
    TaskCreate,
    TaskDetailEnvelope,
    TaskEnvelope,
    TaskPatch,
    TaskRunEnvelope,
    TasksEnvelope,
    TaskStatusName,
    TimelineEnvelope,
    TreeEnvelope,
    TriageEnvelope,
)
from taskloom.api.stream import task_event_stream
from taskloom.domain.actors import Actor
from taskloom.domain.errors import InvalidInput
from taskloom.domain.priority import RUNTIME_LEVELS, from_runtime
from taskloom.engine import read_models as rm
from taskloom.engine import tasks as task_ops
from taskloom.engine.authorization import when_may_change
from taskloom.engine.context import load_visible_task, then
from taskloom.rows import Row

router = APIRouter(prefix="/api/tasks", tags=["tasks"], responses=ERRORS)


def spec_from(body: TaskCreate, actor: Actor, parent_task_id: str | None = None) -> task_ops.TaskSpec:
    return task_ops.TaskSpec(
        title=body.title,
        description=body.description,
        scope=body.scope,
        workspace_id=body.workspace_id,
        priority=from_runtime(body.priority),
        owner_kind=body.owner.kind if body.owner else None,
        owner_ref=body.owner.ref if body.owner else None,
        parent_task_id=parent_task_id or body.parent_task_id,
        metadata=body.metadata,
        max_attempts=body.max_attempts,
        approval_policy=body.approval_policy,
        draft=body.draft,
        start=body.start,
        network_channel=body.network_channel,
        dependencies=list(dict.fromkeys(body.dependencies)),
        backoff_strategy=body.backoff_strategy,
        backoff_seconds=body.backoff_seconds,
        timeout_seconds=body.timeout_seconds,
        concurrency_key=body.concurrency_key,
        concurrency_limit=body.concurrency_limit,
        rate_limit=body.rate_limit.model_dump() if body.rate_limit else None,
        required_capabilities=body.required_capabilities,
    )


def _task_and_run(pair: tuple[Row, Row | None]) -> dict[str, Any]:
    task, run = pair
    return {"task": views.task_record(task), "run": views.run_record(run) if run else None}


@router.get("", response_model=TasksEnvelope, summary="List enriched tasks")
async def list_tasks(
    engine: EngineDep,
    actor: CurrentActor,
    scope: Scope | None = None,
    workspace: str | None = None,
    status: TaskStatusName | None = None,
    priority: Priority | None = None,
    include_drafts: bool = False,
    approval_state: str | None = Query(default=None, pattern="^(not_required|pending|approved|rejected)$"),
    owner_kind: str | None = None,
    owner_ref: str | None = None,
    parent_task_id: str | None = None,
    network_channel: str | None = None,
    query: str | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**62),
) -> Response:
    """Tasks visible to the caller, newest first, with their latest run; filters by status, channel, owner and workspace.
    400 for an unknown filter value."""
    filters: Row = {
        "scope": scope,
        "workspace_id": workspace,
        "status": status,
        "priority": RUNTIME_LEVELS[priority] if priority else None,
        "approval_state": approval_state,
        "owner_kind": owner_kind,
        "owner_ref": owner_ref,
        "parent_task_id": parent_task_id,
        "network_channel": network_channel,
        "query": query,
        "exclude_drafts": not include_drafts and status != "draft",
        "visible_workspaces": actor.workspaces,
    }

    rows = await engine.read(actor, lambda tx, ctx: rm.task_list(tx, filters, limit=limit, offset=offset))
    return ok({"tasks": read_models.summaries(rows)})


@router.post("", status_code=201, response_model=TaskEnvelope, summary="Create a task")
async def create_task(body: TaskCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Creates a task (draft, or ready with a queued run unless approval or dependencies block it). 400 names a bad
    field; 404 for an unknown parent or dependency."""
    task, _ = await engine.write(actor, lambda tx, ctx: task_ops.create_task(tx, ctx, spec_from(body, actor)))
    return ok({"task": views.task_record(task)}, 201)


@router.get("/{task_id}", response_model=TaskDetailEnvelope, summary="Get one task with detail")
async def get_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """The task with its runs, dependencies and children. 404 when it does not exist or lies outside the caller's
    workspaces."""
    return ok({"task": await engine.read(actor, lambda tx, ctx: read_models.detail(rm.task_detail(tx, ctx, task_id)))})


@router.patch("/{task_id}", response_model=TaskEnvelope, summary="Update one task")
async def update_task(task_id: str, body: TaskPatch, engine: EngineDep, actor: CurrentActor) -> Response:
    """Changes the given fields of a task that is not closed. 404 unknown task; 403 for agents changing tasks they do not
    own; 409 when the task is closed."""
    changes: Row = body.model_dump(exclude_unset=True)
    nulls = sorted(k for k in ("title", "description", "priority", "max_attempts") if k in changes and changes[k] is None)
    if nulls:
        raise InvalidInput(f"invalid request: {', '.join(nulls)}: must not be null")
    if "priority" in changes:
        changes["priority"] = from_runtime(changes["priority"])
    if "owner" in changes:
        owner = changes.pop("owner")
        changes["owner_kind"] = owner["kind"] if owner else None
        changes["owner_ref"] = owner["ref"] if owner else None
    if "concurrency_limit" in changes and changes["concurrency_limit"] is None:
        raise InvalidInput("invalid request: concurrency_limit: must not be null (the default is 1)")
    if "blocker" in changes and changes["blocker"] == "":
        changes["blocker"] = None

    op = when_may_change(task_id, lambda tx, ctx: task_ops.update(tx, ctx, task_id, changes))

    return ok({"task": views.task_record(await engine.write(actor, op))})


@router.delete("/{task_id}", status_code=204, summary="Delete one task (admins)")
async def delete_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Deletes a task with its runs and events. Admins only (403 otherwise); 404 for an unknown task."""
    require_admin(actor, "delete tasks")
    await engine.write(actor, lambda tx, ctx: task_ops.delete(tx, ctx, task_id))
    return Response(status_code=204)


@router.post("/{task_id}/start", response_model=TaskRunEnvelope, summary="Start one task by enqueueing work")
async def start_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Queues a run for a pending task (no-op answer if one is open). 404 unknown task; 409 when the task is closed or
    blocked."""
    op = when_may_change(task_id, lambda tx, ctx: _task_and_run(task_ops.start(tx, ctx, task_id)))

    return ok(await engine.write(actor, op))


@router.post("/{task_id}/publish", response_model=TaskRunEnvelope, summary="Publish one draft task")
async def publish_task(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Turns a draft into a ready task with a queued run. 404 unknown task; 409 when it is not a draft."""
    op = when_may_change(task_id, lambda tx, ctx: _task_and_run(task_ops.publish(tx, ctx, task_id)))

    return ok(await engine.write(actor, op))


@router.post("/{task_id}/approve", response_model=TaskRunEnvelope, summary="Approve one approval-gated task")
async def approve_task(task_id: str, engine: EngineDep, actor: CurrentActor,
                       body: ApproveBody | None = None) -> Response:
    """Approves an approval-gated task, releasing its run. Agents may not (403); 409 when no approval is pending."""
    require_not_agent(actor, "approve tasks")
    comment = body.comment if body else None
    return ok(await engine.write(actor, lambda tx, ctx: _task_and_run(task_ops.approve(tx, ctx, task_id, comment))))


@router.post("/{task_id}/reject", response_model=TaskEnvelope, summary="Reject one approval-gated task")
async def reject_task(task_id: str, engine: EngineDep, actor: CurrentActor, body: Reason | None = None) -> Response:
    """Rejects an approval-gated task, which fails it. Agents may not (403); 409 when no approval is pending."""
    require_not_agent(actor, "reject tasks")
    reason = body.reason if body else None
    task = await engine.write(actor, lambda tx, ctx: task_ops.reject(tx, ctx, task_id, reason))
    return ok({"task": views.task_record(task)})


@router.post("/{task_id}/cancel", response_model=TaskEnvelope, summary="Cancel one task tree")
async def cancel_task(task_id: str, engine: EngineDep, actor: CurrentActor, body: Reason | None = None) -> Response:
    """Cancels the task and its whole subtree, with their open runs. 404 unknown task; 409 when it is already closed."""
    reason = body.reason if body else None

    op = when_may_change(task_id, lambda tx, ctx: task_ops.cancel(tx, ctx, task_id, reason))

    return ok({"task": views.task_record(await engine.write(actor, op))})


@router.post("/{task_id}/children", status_code=201, response_model=TaskEnvelope, summary="Create one child task")
async def create_child(task_id: str, body: ChildCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Creates a task under this one (same as POST /api/tasks with parent_task_id). 404 unknown parent; 400 names a bad
    field."""
    # A child changes its parent's tree.
    op = when_may_change(task_id, lambda tx, ctx: task_ops.create_task(
        tx, ctx, spec_from(body, actor, parent_task_id=task_id)))

    task, _ = await engine.write(actor, op)
    return ok({"task": views.task_record(task)}, 201)


@router.get("/{task_id}/runs", response_model=RunsEnvelope, summary="List runs for one task")
async def list_runs(task_id: str, engine: EngineDep, actor: CurrentActor, status: RunStatusName | None = None,
                    session_id: str | None = None, limit: int = Query(default=100, ge=1, le=1000)) -> Response:
    """Every run (attempt) of the task, oldest first. 404 unknown task."""
    rows = await engine.read(actor, lambda tx, ctx: rm.task_runs(tx, ctx, task_id, status=status,
                                                               session_id=session_id, limit=limit))

    return ok({"runs": [views.run_record(r) for r in rows]})


@router.post("/{task_id}/runs", status_code=201, response_model=RunEnvelope, summary="Enqueue one task run")
async def enqueue_run(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Queues another run of the task (e.g. a manual retry). 404 unknown task; 409 when a run is already open or the task
    is closed."""
    op = when_may_change(task_id, lambda tx, ctx: task_ops.enqueue(tx, ctx, task_id)[1])

    return ok({"run": views.run_record(await engine.write(actor, op))}, 201)


@router.post("/{task_id}/dependencies", response_model=TaskDetailEnvelope, summary="Add one task dependency")
async def add_dependency(task_id: str, body: DependencyCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Makes the task wait for another one; it blocks until that one completes. 404 for either task; 422 for a cycle; 409
    when it already depends on it."""
    op = when_may_change(task_id, then(
        lambda tx, ctx: task_ops.add_dependency(tx, ctx, task_id, body.depends_on_task_id, body.kind),
        lambda tx, ctx: read_models.detail(rm.task_detail(tx, ctx, task_id))))

    return ok({"task": await engine.write(actor, op)})


@router.delete("/{task_id}/dependencies/{depends_on_id}", response_model=TaskDetailEnvelope,
               summary="Remove one task dependency")
async def remove_dependency(task_id: str, depends_on_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Removes a dependency; the task may become ready. 404 when the task or the dependency is unknown."""
    op = when_may_change(task_id, then(lambda tx, ctx: task_ops.remove_dependency(tx, ctx, task_id, depends_on_id),
                                       lambda tx, ctx: read_models.detail(rm.task_detail(tx, ctx, task_id))))

    return ok({"task": await engine.write(actor, op)})


@router.get("/{task_id}/timeline", response_model=TimelineEnvelope, summary="Get one task timeline")
async def get_timeline(task_id: str, engine: EngineDep, actor: CurrentActor,
                       after_sequence: int = Query(default=0, ge=0, le=2**62),
                       limit: int = Query(default=100, ge=1, le=1000),
                       include_output: bool = Query(default=False, description="Also run.output events (streamed"
                                                    " output chunks)")) -> Response:
    """The task's events in order (paged by sequence), as the seeds show them. 404 unknown task."""
    items = await engine.read(
        actor, lambda tx, ctx: read_models.timeline(*rm.timeline(tx, ctx, task_id, after_sequence=after_sequence,
                                                                 limit=limit, include_output=include_output))
    )
    return ok({"timeline": items})


@router.get("/{task_id}/tree", response_model=TreeEnvelope, summary="Get one task tree live view")
async def get_tree(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """The task and its descendants with their live state, for a tree view. 404 unknown task."""
    return ok({"tree": await engine.read(actor, lambda tx, ctx: read_models.tree(rm.tree(tx, ctx, task_id)))})


@router.get(
    "/{task_id}/stream",
    summary="Stream task events (Server-Sent Events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
                     "description": "SSE: replay, then live events"}},
)
async def stream_task(task_id: str, request: Request, engine: EngineDep, actor: CurrentActor,
                      after_sequence: int | None = Query(default=None, ge=0, le=2**62)) -> Response:
    """Server-Sent Events: replays events after `after`/Last-Event-ID, then sends live ones; ends with a comment when the
    server shuts down. 404 unknown task."""
    start = after_sequence
    if start is None:
        last_event_id = request.headers.get("last-event-id", "").strip()
        start = int(last_event_id) if last_event_id.isdigit() else 0
    await engine.read(actor, lambda tx, ctx: load_visible_task(tx, ctx, task_id))
    keepalive = request.app.state.settings.sse_keepalive_seconds
    return StreamingResponse(
        task_event_stream(engine, actor, task_id, start, keepalive, request),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _triage_route(action: str, summary: str) -> None:
    @router.post(f"/{{task_id}}/triage/{action}", response_model=TriageEnvelope, summary=summary,
                 name=f"triage_{action}")
    async def triage(task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
        """Sets the caller's own inbox state for the task (read, dismissed or archived); other callers are not affected.
        404 unknown task."""
        row = await engine.write(actor, lambda tx, ctx: task_ops.triage(tx, ctx, task_id, action))
        return ok({"triage": views.triage_record(row)})


_triage_route("read", "Mark one task inbox item as read")
_triage_route("dismiss", "Dismiss one task inbox item")
_triage_route("archive", "Archive one task inbox item")
