"""Submit tasks to a named agent (seed 002): /api/agents/{id}/tasks/..., plus the agent side
of awaiting input: /api/agent/tasks/{run_id}/awaiting-input and /api/agent/tasks/{run_id}/messages.

The agent receives the work through the runtime agent endpoints (claim-next with its own
token, heartbeat, complete, fail); see docs/api/agent-tasks.md.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import Field

from taskloom.api import schemas
from taskloom.api.auth import CurrentActor
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import (
    AgentMessageAndTaskOut,
    AgentMessagesOut,
    AgentRunMessagesOut,
    AgentTaskOut,
    AgentTasksOut,
    AgentTaskSubmittedOut,
    DeliveriesOut,
)
from taskloom.api.schemas import ERRORS, rules_400
from taskloom.config import Settings
from taskloom.engine import agents as agent_ops
from taskloom.engine import read_models as rm
from taskloom.engine import webhooks
from taskloom.engine.context import then

router = APIRouter(tags=["agent tasks"], responses=ERRORS)
SeedState = Literal["queued", "running", "awaiting_input", "completed", "failed", "cancelled"]


class Body(schemas.Body):
    """The shared request base (api/schemas.py): unknown fields and booleans for numbers refused."""


class SubmitTask(Body):
    message: str = Field(min_length=1, max_length=100_000, description="Task description/instructions")
    priority: int = Field(default=5, ge=1, le=10, description="1 (most urgent) to 10; default 5")
    timeout_override: float | None = Field(default=None, gt=0, le=30 * 86_400,
                                           description="Seconds; overrides the agent's default timeout")
    metadata: dict[str, Any] | None = None
    callback_mode: Literal["poll", "webhook"] = "poll"
    webhook_url: str | None = Field(default=None, min_length=1, max_length=2048)
    webhook_secret: str | None = Field(default=None, min_length=16, max_length=200,
                                       description="Signing secret; generated and returned once if omitted")


class SendMessage(Body):
    message: str = Field(min_length=1, max_length=100_000)


class CancelBody(Body):
    reason: str | None = Field(default=None, max_length=2000)


class AwaitingInput(Body):
    question: str = Field(min_length=1, max_length=100_000)
    claim_token: str | None = Field(default=None, max_length=200)


# -- the user side ------------------------------------------------------------------------------


@router.post("/api/agents/{agent_id}/tasks", status_code=202, response_model=AgentTaskSubmittedOut,
             summary="Submit a task to an agent",
             responses={202: {"description": "Task accepted and queued"},
                        503: {"description": "Agent unavailable (paused, stopped, or error state)"},
                        **rules_400("webhook_url and webhook_secret need callback_mode webhook, which needs webhook_url",
                                    "webhook_url: an http(s) URL of a public address (no loopback, private or"
                                    " link-local one unless TASKLOOM_WEBHOOK_ALLOWED_HOSTS allows it)",
                                    "timeout_override at most the server's task timeout cap")})
async def submit_task(agent_id: str, body: SubmitTask, request: Request, engine: EngineDep,
                      actor: CurrentActor) -> Response:
    """Sends a task to the agent, answered by polling or a signed webhook. 404 unknown agent; 503 when the agent is
    paused or stopped; 400 for a refused webhook URL."""
    settings: Settings = request.app.state.settings
    if body.callback_mode == "webhook" and body.webhook_url:
        # DNS may block: off the event loop, and before the write so nothing is half-applied.
        await asyncio.to_thread(webhooks.check_webhook_url, body.webhook_url,
                                webhooks.AddressPolicy.from_settings(settings))
    sub = agent_ops.Submission(
        message=body.message, priority=body.priority, timeout_override=body.timeout_override,
        metadata=body.metadata, callback_mode=body.callback_mode, webhook_url=body.webhook_url,
        webhook_secret=body.webhook_secret,
    )

    view, row = await engine.write(actor, lambda tx, ctx: agent_ops.submitted_view(tx, agent_ops.submit_task(
        tx, ctx, agent_id, sub, settings.agent_default_timeout_seconds)))
    if row["webhook_secret"] and not body.webhook_secret:
        view["webhook_secret"] = row["webhook_secret"]  # shown once: sign-check your webhooks with it
    return ok(view, 202)


@router.get("/api/agents/{agent_id}/tasks", response_model=AgentTasksOut, summary="List the tasks of an agent")
async def list_tasks(agent_id: str, engine: EngineDep, actor: CurrentActor, status: SeedState | None = None,
                     limit: int = Query(default=100, ge=1, le=1000),
                     offset: int = Query(default=0, ge=0, le=2**62)) -> Response:
    """The agent's tasks in seed-002 states, newest first, optionally by state. 404 unknown agent."""
    op = then(lambda tx, ctx: agent_ops.get_agent(tx, agent_id), lambda tx, ctx: agent_ops.task_views(
        tx, rm.agent_tasks(tx, ctx, agent_id, state=status, limit=limit, offset=offset)))
    return ok({"tasks": await engine.read(actor, op)})


@router.get("/api/agents/{agent_id}/tasks/{task_id}", response_model=AgentTaskOut,
            summary="Get the status and result of a task")
async def get_task(agent_id: str, task_id: str, engine: EngineDep, actor: CurrentActor) -> Response:
    """Status, result or error, and the question when it awaits input. 404 when the task was not submitted to this agent."""
    return ok(await engine.read(actor, lambda tx, ctx: agent_ops.task_view(
        tx, agent_ops.load_agent_task(tx, ctx, agent_id, task_id))))


@router.post("/api/agents/{agent_id}/tasks/{task_id}/messages", response_model=AgentMessageAndTaskOut,
             summary="Send a message or input to a task")
async def send_message(agent_id: str, task_id: str, body: SendMessage, engine: EngineDep,
                       actor: CurrentActor) -> Response:
    """Sends a message to the task's agent; an answer resumes a task awaiting input. 404 unknown task; 409 when the task
    is closed."""
    return ok(await engine.write(actor, lambda tx, ctx: agent_ops.message_answer(
        tx, agent_ops.send_message(tx, ctx, agent_id, task_id, body.message))))


@router.get("/api/agents/{agent_id}/tasks/{task_id}/messages", response_model=AgentMessagesOut,
            summary="The conversation of a task, in order")
async def list_messages(agent_id: str, task_id: str, engine: EngineDep, actor: CurrentActor,
                        after_sequence: int = Query(default=0, ge=0, le=2**62)) -> Response:
    """The conversation between people and the agent, in order. 404 unknown task."""
    messages = await engine.read(actor, lambda tx, ctx: agent_ops.task_messages(tx, ctx, agent_id, task_id,
                                                                               after_sequence))
    return ok({"messages": messages})


@router.post("/api/agents/{agent_id}/tasks/{task_id}/cancel", response_model=AgentTaskOut,
             summary="Cancel a running or queued task",
             responses={400: {"description": "Task cannot be cancelled (already completed/failed)"}})
async def cancel_task(agent_id: str, task_id: str, engine: EngineDep, actor: CurrentActor,
                      body: CancelBody | None = None) -> Response:
    """Cancels the submitted task and its run. 404 unknown task; 409 when it is already finished."""
    reason = body.reason if body else None

    return ok(await engine.write(actor, lambda tx, ctx: agent_ops.task_view(
        tx, agent_ops.cancel_agent_task(tx, ctx, agent_id, task_id, reason))))


@router.get("/api/agents/{agent_id}/tasks/{task_id}/deliveries", response_model=DeliveriesOut,
            summary="Webhook deliveries and their attempts")
async def list_deliveries(agent_id: str, task_id: str, request: Request, engine: EngineDep,
                          actor: CurrentActor) -> Response:
    """The task's webhook deliveries with every attempt, status code and error. 404 unknown task."""
    period = request.app.state.settings.webhook_retry_period_seconds

    rows = await engine.read(actor, then(lambda tx, ctx: agent_ops.load_agent_task(tx, ctx, agent_id, task_id),
                                         lambda tx, ctx: rm.webhook_deliveries(tx, task_id)))
    return ok({"deliveries": [webhooks.delivery_record(d, attempts, period) for d, attempts in rows]})


# -- the agent side -------------------------------------------------------------------------------


@router.post("/api/agent/tasks/{run_id}/awaiting-input", tags=["agent"], response_model=AgentMessageAndTaskOut,
             summary="Ask a person a question: the task waits for input while the run stays claimed")
async def awaiting_input(run_id: str, body: AwaitingInput, engine: EngineDep, actor: CurrentActor) -> Response:
    """The calling agent asks a question: the task waits for input while the run stays claimed. 403 not your run; 409
    when the run is not live."""
    return ok(await engine.write(actor, lambda tx, ctx: agent_ops.message_answer(
        tx, agent_ops.ask(tx, ctx, run_id, body.question, body.claim_token))))


@router.get("/api/agent/tasks/{run_id}/messages", tags=["agent"], response_model=AgentRunMessagesOut,
            summary="Read the conversation of the calling agent's run (answers to its questions)")
async def agent_messages(run_id: str, engine: EngineDep, actor: CurrentActor,
                         after_sequence: int = Query(default=0, ge=0, le=2**62),
                         role: Literal["user", "agent"] | None = None) -> Response:
    """The messages on the calling agent's run, so it can read the answers to its questions. 403 not your run."""
    return ok(await engine.read(actor, lambda tx, ctx: agent_ops.agent_messages(tx, ctx, run_id, after_sequence,
                                                                              role)))
