"""Agent registry (seed 002 takes it for granted): /api/agents.

An agent's id is the ``sub`` of the token it works with: tasks submitted to agent X
are handed only to the caller whose token sub is X. Its state gates its work:
``paused``, ``stopped`` and ``error`` agents are handed nothing by claim-next (204)
and new submissions to them answer 503.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field

from taskloom.api import schemas
from taskloom.api.auth import CurrentActor, require_admin, require_not_agent
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import AgentOut, AgentsOut
from taskloom.api.schemas import ERRORS, Label, NotNull
from taskloom.engine import agents as agent_ops
from taskloom.engine import read_models as rm

router = APIRouter(prefix="/api/agents", tags=["agents"], responses=ERRORS)
AgentState = Literal["active", "paused", "stopped", "error"]


class Body(schemas.Body):
    """The shared request base (api/schemas.py): unknown fields and booleans for numbers refused."""


class AgentCreate(Body):
    id: str | None = Field(default=None, min_length=1, max_length=128,
                           description="Slug or UUID; the sub of the agent's token. A UUID by default.")
    name: str = Field(min_length=1, max_length=200)
    team: str | None = Field(default=None, min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    capabilities: list[Label] = Field(default_factory=list, max_length=100)
    state: AgentState = "active"
    state_reason: str | None = Field(default=None, max_length=2000)
    default_timeout_seconds: float | None = Field(default=None, gt=0, le=30 * 86_400)
    metadata: dict[str, Any] | None = None


class AgentPatch(Body):
    name: Annotated[str | None, NotNull] = Field(default=None, min_length=1, max_length=200)
    team: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)
    capabilities: list[Label] | None = Field(default=None, max_length=100)
    state: Annotated[AgentState | None, NotNull] = None
    state_reason: str | None = Field(default=None, max_length=2000)
    default_timeout_seconds: float | None = Field(default=None, gt=0, le=30 * 86_400)
    metadata: dict[str, Any] | None = None


@router.post("", status_code=201, response_model=AgentOut, summary="Register an agent")
async def create_agent(body: AgentCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Registers an agent; its id is the sub of the token it works with. Agents may not (403); 409 when the id is taken."""
    require_not_agent(actor, "register agents")
    fields = body.model_dump()
    agent = await engine.write(actor, lambda tx, ctx: agent_ops.register_agent(tx, ctx, fields))
    engine.caller_changed(agent["id"])
    return ok(agent_ops.agent_record(agent), 201)


@router.get("", response_model=AgentsOut, summary="List registered agents")
async def list_agents(engine: EngineDep, actor: CurrentActor, team: str | None = None,
                      state: AgentState | None = None, limit: int = Query(default=100, ge=1, le=1000),
                      offset: int = Query(default=0, ge=0, le=2**62)) -> Response:
    """Registered agents, optionally by team or state, oldest first."""
    rows = await engine.read(actor, lambda tx, ctx: rm.agents(tx, team=team, state=state, limit=limit,
                                                              offset=offset))
    return ok({"agents": [agent_ops.agent_record(a) for a in rows]})


@router.get("/{agent_id}", response_model=AgentOut, summary="Get one agent")
async def get_agent(agent_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """One registered agent. 404 unknown agent."""
    agent = await engine.read(actor, lambda tx, ctx: agent_ops.get_agent(tx, agent_id))
    return ok(agent_ops.agent_record(agent))


@router.patch("/{agent_id}", response_model=AgentOut, summary="Update one agent (pause, resume, stop, report an error, ...)")
async def update_agent(agent_id: str, body: AgentPatch, engine: EngineDep, actor: CurrentActor) -> Response:
    """Changes an agent: pausing, stopping or an error state stop it from getting work. 403 unless admin, member or the
    agent itself; 404 unknown agent."""
    changes = body.model_dump(exclude_unset=True)
    agent = await engine.write(actor, lambda tx, ctx: agent_ops.update_agent(tx, ctx, agent_id, changes))
    engine.caller_changed(agent_id)
    return ok(agent_ops.agent_record(agent))


@router.delete("/{agent_id}", status_code=204, summary="Delete one agent (admins)")
async def delete_agent(agent_id: str, engine: EngineDep, actor: CurrentActor,
                       cancel_open_tasks: bool = False) -> Response:
    """Deletes an agent; cancel_open_tasks=true cancels its open tasks first. Admins only (403); 409 while it has open
    tasks."""
    require_admin(actor, "delete agents")
    await engine.write(actor, lambda tx, ctx: agent_ops.delete_agent(tx, ctx, agent_id,
                                                                     cancel_open_tasks=cancel_open_tasks))
    engine.caller_changed(agent_id)
    return Response(status_code=204)
