"""Per-agent backlogs API (seed 001): /api/backlogs.

Each agent has a backlog: the tasks it owns, with ids like ``MKT-001``. The
routes speak the seed's words (status queued | in_progress | complete |
blocked, priority 1 = highest to 10 = lowest) and map them onto the core
engine in engine/backlogs.py. Reference: docs/api/backlogs.md.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field, StrictInt

from taskloom.api import schemas
from taskloom.api.auth import CurrentActor, require_admin
from taskloom.api.deps import EngineDep, ok
from taskloom.api.schemas import AGENT_ID_RULE, ERRORS, rules_400
from taskloom.domain import backlog_status as bs
from taskloom.domain.backlog_ids import check_agent_id
from taskloom.engine import backlogs as backlog_ops
from taskloom.engine.authorization import check_may_change_task
from taskloom.engine.context import loads, then
from taskloom.rows import Row

router = APIRouter(prefix="/api/backlogs", tags=["backlogs"], responses=ERRORS)

SeedStatus = Literal["queued", "in_progress", "complete", "blocked"]
AnyStatus = Literal["queued", "in_progress", "complete", "blocked", "failed", "canceled"]
BacklogPriority = StrictInt


class _Body(schemas.Body):
    """The shared request base (api/schemas.py): unknown fields and booleans for numbers refused."""


class BacklogTaskCreate(_Body):
    title: str = Field(min_length=1, max_length=500, description="Short task title")
    description: str = Field(default="", max_length=100_000, description="Detailed instructions for the agent")
    priority: BacklogPriority = Field(default=bs.DEFAULT_PRIORITY, ge=1, le=10,
                                      description="1 (highest) to 10 (lowest)")


class BacklogTaskPatch(_Body):
    status: SeedStatus | None = None
    priority: BacklogPriority | None = Field(default=None, ge=1, le=10)
    title: str | None = Field(default=None, min_length=1, max_length=500)
    description: str | None = Field(default=None, max_length=100_000)
    blocker: str | None = Field(default=None, max_length=10_000, description="Reason the task is blocked")
    result: Any = Field(default=None, description="The outcome; kept when the task completes")
    reopen: bool = Field(default=False, description="Allow a complete (or failed/canceled) task to change status")


class PrefixBody(_Body):
    prefix: str = Field(min_length=1, max_length=20, description="2-10 characters: a letter, then letters or digits")


class BacklogTaskOut(BaseModel):
    id: str
    title: str
    description: str
    priority: int
    status: AnyStatus
    blocker: str | None
    created: str
    started: str | None
    completed: str | None
    result: Any


class CrossAgentTaskOut(BacklogTaskOut):
    agent_id: str


class BacklogOut(BaseModel):
    agent_id: str
    tasks: list[BacklogTaskOut]
    total: int


class CrossAgentOut(BaseModel):
    tasks: list[CrossAgentTaskOut]
    total: int


class SummaryOut(BaseModel):
    queued: int
    in_progress: int
    complete: int
    blocked: int
    failed: int
    canceled: int
    total: int


class PrefixOut(BaseModel):
    agent_id: str
    prefix: str
    next_id: str
    previous_prefixes: list[str]


class DeletedOut(BaseModel):
    deleted: str


# -- views ------------------------------------------------------------------------------


def stamp(ts: float | None) -> str | None:
    """Epoch seconds → ``2026-03-28T10:00:00Z`` (the seed's whole-second form)."""
    if ts is None:
        return None
    return datetime.fromtimestamp(float(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def task_view(t: Row) -> Row:
    status = bs.from_core(t["status"])
    return {
        "id": t["identifier"],
        "title": t["title"],
        "description": t["description"],
        "priority": bs.from_rank(int(t["priority"])),
        "status": status,
        "blocker": bs.blocker_text(t["status"], t["blocked_reason"], t["blocker"]),
        "created": stamp(t["created_at"]),
        "started": stamp(t["started_at"]),
        "completed": stamp(t["closed_at"]) if status == bs.COMPLETE else None,
        "result": loads(t["result"]),
    }


def cross_agent_view(t: Row) -> Row:
    return {"agent_id": t["owner_ref"], **task_view(t)}


# -- permissions ------------------------------------------------------------------------


def _agent(agent_id: str) -> str:
    return check_agent_id(agent_id)


# -- routes -----------------------------------------------------------------------------


@router.get("", response_model=CrossAgentOut, summary="List tasks across all agents")
async def list_all(
    engine: EngineDep,
    actor: CurrentActor,
    status: AnyStatus | None = None,
    priority: int | None = Query(default=None, ge=1, le=10, description="Exact priority, 1-10"),
    agent_id: str | None = Query(default=None, min_length=1, max_length=128),
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**62),
) -> Response:
    """Backlog tasks across all agents, filtered by status, priority or agent and paged. 400 for an unknown filter value."""
    if agent_id is not None:
        _agent(agent_id)
    filters = backlog_ops.list_filters(agent_id, status, priority, actor.workspaces)

    rows, total = await engine.read(actor, lambda tx, ctx: backlog_ops.list_tasks(tx, filters, limit=limit,
                                                                                  offset=offset))
    return ok({"tasks": [cross_agent_view(r) for r in rows], "total": total})


@router.get("/{agent_id}", response_model=BacklogOut, summary="List one agent's backlog", responses=rules_400(AGENT_ID_RULE))
async def list_backlog(
    agent_id: str,
    engine: EngineDep,
    actor: CurrentActor,
    status: AnyStatus | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
    offset: int = Query(default=0, ge=0, le=2**62),
) -> Response:
    """One agent's backlog, most urgent first, optionally by status. An unknown agent has an empty backlog."""
    filters = backlog_ops.list_filters(_agent(agent_id), status, None, actor.workspaces)

    rows, total = await engine.read(actor, then(lambda tx, ctx: backlog_ops.require_backlog(tx, agent_id),
                                                lambda tx, ctx: backlog_ops.list_tasks(tx, filters, limit=limit,
                                                                                       offset=offset)))
    return ok({"agent_id": agent_id, "tasks": [task_view(r) for r in rows], "total": total})


@router.post("/{agent_id}", status_code=201, response_model=BacklogTaskOut, summary="Add a task to a backlog",
             responses=rules_400(AGENT_ID_RULE))
async def create_task(agent_id: str, body: BacklogTaskCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Adds a task to the agent's backlog with the next id of its prefix (e.g. MKT-001). 400 names a bad field."""
    _agent(agent_id)
    task = await engine.write(actor, lambda tx, ctx: backlog_ops.create(
        tx, ctx, agent_id, title=body.title, description=body.description, priority=body.priority))
    return ok(task_view(task), 201)


@router.get("/{agent_id}/summary", response_model=SummaryOut, summary="Count one agent's tasks by status",
            responses=rules_400(AGENT_ID_RULE))
async def get_summary(agent_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """How many of the agent's tasks are in each status."""
    _agent(agent_id)
    return ok(await engine.read(actor, lambda tx, ctx: backlog_ops.summary(tx, ctx, agent_id)))


@router.get("/{agent_id}/prefix", response_model=PrefixOut, summary="Get an agent's task id prefix",
            responses=rules_400(AGENT_ID_RULE))
async def get_prefix(agent_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """The prefix of the agent's task ids. 404 when none is set."""
    _agent(agent_id)
    return ok(await engine.read(actor, lambda tx, ctx: backlog_ops.prefix_info(tx, agent_id)))


@router.put("/{agent_id}/prefix", response_model=PrefixOut, summary="Set an agent's task id prefix (admins)",
            responses=rules_400(AGENT_ID_RULE, "prefix: 2-10 characters, a letter then letters or digits (any case),"
                                " not a reserved one (TL)"))
async def put_prefix(agent_id: str, body: PrefixBody, engine: EngineDep, actor: CurrentActor) -> Response:
    """Sets the agent's id prefix (letters, unique). Admins only (403); 409 when another agent uses it."""
    require_admin(actor, "set backlog prefixes")
    _agent(agent_id)
    return ok(await engine.write(actor, lambda tx, ctx: backlog_ops.set_prefix(tx, ctx, agent_id, body.prefix)))


@router.get("/{agent_id}/{task_id}", response_model=BacklogTaskOut, summary="Get one backlog task",
            responses=rules_400(AGENT_ID_RULE))
async def get_task(agent_id: str, task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One backlog task by its MKT-style id or task id. 404 when it is not in this agent's backlog."""
    _agent(agent_id)
    task = await engine.read(actor, lambda tx, ctx: backlog_ops.load_task(tx, ctx, agent_id, task_id))
    return ok(task_view(task))


@router.patch("/{agent_id}/{task_id}", response_model=BacklogTaskOut, summary="Update a backlog task",
              responses=rules_400(AGENT_ID_RULE))
async def patch_task(agent_id: str, task_id: str, body: BacklogTaskPatch, engine: EngineDep,
                     actor: CurrentActor) -> Response:
    """Changes fields or moves the task to another status (reopening needs reopen=true). 400 for a transition not
    allowed; 403 for another agent's task."""
    _agent(agent_id)
    sent = body.model_fields_set
    blocker = body.blocker.strip() if body.blocker is not None else None
    patch = backlog_ops.Patch(
        status=body.status, priority=body.priority, title=body.title, description=body.description,
        blocker=blocker or None, blocker_set="blocker" in sent, result=body.result, result_set="result" in sent,
        reopen=body.reopen,
    )
    if "title" in sent and body.title is None:
        patch.title = ""  # an explicit null title is refused like an empty one

    op = then(lambda tx, ctx: check_may_change_task(ctx.actor, backlog_ops.load_task(tx, ctx, agent_id, task_id)),
              lambda tx, ctx: backlog_ops.change(tx, ctx, agent_id, task_id, patch))
    return ok(task_view(await engine.write(actor, op)))


@router.delete("/{agent_id}/{task_id}", response_model=DeletedOut, summary="Delete a backlog task (admins)",
               responses=rules_400(AGENT_ID_RULE))
async def delete_task(agent_id: str, task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Deletes a backlog task. Admins only (403); 404 when it is not in this agent's backlog."""
    require_admin(actor, "delete tasks")
    _agent(agent_id)
    deleted = await engine.write(actor, lambda tx, ctx: backlog_ops.delete(tx, ctx, agent_id, task_id))
    return ok({"deleted": deleted})
