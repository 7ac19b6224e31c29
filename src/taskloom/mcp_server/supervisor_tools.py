"""Tools for the people (and automations) who supervise agents: see, approve, answer, steer.

Each applies the REST API's role rules through the same checks its routes use, so a refusal
reads the same over MCP as over HTTP.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from mcp.server import MCPServer
from pydantic import Field

from taskloom.api import read_models, views
from taskloom.api.auth import require_not_agent
from taskloom.api.observe import dashboard, inbox
from taskloom.api.runtime import spec_from
from taskloom.api.schedules import Kind, ScheduledTaskCreate, task_view
from taskloom.api.schemas import ActorRefIn, Priority, TaskCreate, TaskStatusName
from taskloom.config import Settings
from taskloom.domain.actors import ACTOR_KINDS, Actor
from taskloom.engine import channels
from taskloom.engine import observe_models as om
from taskloom.engine import read_models as rm
from taskloom.engine import schedules as schedule_ops
from taskloom.engine import tasks as task_ops
from taskloom.engine.authorization import when_may_change
from taskloom.engine.engine import Engine
from taskloom.mcp_server import results
from taskloom.mcp_server.agent_tools import ADDS, CLOSES, READS, Channel
from taskloom.mcp_server.calling import caller, tool_errors, validated
from taskloom.rows import Row

TaskId = Annotated[str, Field(min_length=1, max_length=200, description="The task's id (as list_tasks shows it)")]
Reason = Annotated[str | None, Field(default=None, max_length=2000)]
Lane = Literal["approvals", "questions", "failed_runs", "blocked", "my_work"]
LANES: tuple[str, ...] = ("approvals", "questions", "failed_runs", "blocked", "my_work")


def _visible(actor: Actor, filters: Row) -> Row:
    if actor.workspaces is not None:
        filters["visible_workspaces"] = actor.workspaces
    return filters


def _change(pair: tuple[Row, Row | None], message: str) -> results.TaskChange:
    task, run = pair
    return results.TaskChange(task=results.brief(views.task_record(task)), run_id=run["id"] if run else None,
                              message=message)


def _inbox(data: om.Inbox, unread_only: bool, limit: int) -> results.Inbox:
    view = inbox(data, unread_only, limit)
    groups = [g for g in view["groups"] if g["lane"] in LANES]
    rows = {i.task["id"]: i.task for items in data.lanes.values() for i in items}
    lanes = [results.InboxLane(lane=g["lane"], count=g["count"], items=[
        results.InboxItem(task=results.brief(views.task_record(rows[i["task"]["id"]])), why=i["blocking_reason"],
                          question=i["question"], run_id=i["run"]["id"] if i["run"] else None, unread=i["unread"])
        for i in g["items"]]) for g in groups]
    return results.Inbox(lanes=lanes, total=sum(x.count for x in lanes))


def _queue_overview(data: om.Dashboard, settings: Settings) -> results.QueueOverview:
    board = dashboard(data, settings)
    queue, active = board["queue"], board["active_runs"]
    return results.QueueOverview(
        channels=[results.ChannelDepth(network_channel=d["network_channel"], queued=d["count"],
                                       oldest_age_seconds=d["oldest_queue_age_ms"] / 1000) for d in queue["depth"]],
        queued_total=queue["total"],
        active_runs=active["total"],
        stuck_runs=[results.StuckRun(run_id=i["run_id"], task_id=i["task_id"], title=i["task_title"],
                                     network_channel=i["network_channel"], run_status=i["run_status"],
                                     last_activity_at=i["last_activity_at"], age_seconds=i["age_ms"] / 1000)
                    for i in active["items"] if i["stuck"]],
    )


def register(server: MCPServer, engine: Engine, settings: Settings) -> None:
    @server.tool(annotations=READS)
    @tool_errors
    async def get_task(
        task_id: TaskId,
        events: Annotated[int, Field(ge=1, le=200, description="How many of the latest timeline events")] = 30,
    ) -> results.TaskDetail:
        """One task in full: status, input (metadata), result or error, runs, children, dependencies
        and its latest timeline events (claims, heartbeats, questions, answers, completion)."""
        view = await engine.read(caller(), lambda tx, ctx: read_models.detail(rm.task_detail(tx, ctx, task_id,
                                                                                        event_limit=events)))
        return results.detail(view)

    @server.tool(annotations=READS)
    @tool_errors
    async def list_tasks(
        status: TaskStatusName | None = None,
        channel: Channel = None,
        owner: Annotated[str | None, Field(default=None, max_length=200, description=(
            "Owner reference, e.g. an agent id (agent-7) or kind:ref (agent_session:agent-7)"))] = None,
        search: Annotated[str | None, Field(default=None, max_length=200, description="Words in the title or "
                                                                                    "identifier")] = None,
        limit: Annotated[int, Field(ge=1, le=100)] = 50,
    ) -> results.TaskList:
        """Find tasks, newest first, without their payloads (use get_task for one in full)."""
        filters: Row = {"status": status, "network_channel": channel, "query": search,
                        "exclude_drafts": status != "draft"}
        if owner:
            kind, _, ref = owner.partition(":")
            if kind in ACTOR_KINDS and ref:
                filters["owner_kind"], filters["owner_ref"] = kind, ref
            else:
                filters["owner_ref"] = owner
        actor = caller()
        filters = _visible(actor, {k: v for k, v in filters.items() if v is not None})
        rows = await engine.read(actor, lambda tx, ctx: rm.task_rows(tx, filters, limit=limit))
        tasks = [results.brief(views.task_record(t)) for t in rows]
        return results.TaskList(tasks=tasks, count=len(tasks))

    @server.tool(name="inbox", annotations=READS)
    @tool_errors
    async def inbox_lanes(
        lane: Lane | None = None,
        unread_only: bool = False,
        limit: Annotated[int, Field(ge=1, le=100)] = 20,
    ) -> results.Inbox:
        """What needs a person: tasks awaiting approval, agents' questions (answer with answer_agent),
        failed tasks (retry_task or leave), blocked tasks with what blocks them, and your own work."""
        actor = caller()
        data = await engine.read(actor, lambda tx, ctx: om.inbox(tx, ctx, _visible(actor, {}), lane, None, limit))
        return _inbox(data, unread_only, limit)

    @server.tool(annotations=CLOSES)
    @tool_errors
    async def approve_task(task_id: TaskId, comment: Reason = None) -> results.TaskChange:
        """Approve a task that waits for approval: its run is queued for agents. Not for agents."""
        actor = caller()
        require_not_agent(actor, "approve tasks")
        pair = await engine.write(actor, lambda tx, ctx: task_ops.approve(tx, ctx, task_id, comment))
        return _change(pair, "Approved.")

    @server.tool(annotations=CLOSES)
    @tool_errors
    async def reject_task(task_id: TaskId, reason: Reason = None) -> results.TaskChange:
        """Reject a task that waits for approval: it is canceled with its subtasks. Not for agents."""
        actor = caller()
        require_not_agent(actor, "reject tasks")
        task = await engine.write(actor, lambda tx, ctx: task_ops.reject(tx, ctx, task_id, reason))
        return _change((task, None), "Rejected.")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def answer_agent(
        task_id: TaskId,
        answer: Annotated[str, Field(min_length=1, max_length=100_000)],
    ) -> results.TaskChange:
        """Answer the question an agent asked about a task (inbox lane "questions"): the agent's
        wait_for_answer returns it and the task runs on."""

        return _change(await engine.write(caller(), lambda tx, ctx: channels.answer_question(tx, ctx, task_id, answer)),
                       "Answer sent to the agent.")

    @server.tool(annotations=CLOSES)
    @tool_errors
    async def cancel_task(task_id: TaskId, reason: Reason = None) -> results.TaskChange:
        """Cancel a task, its subtasks and their live runs, for good."""

        op = when_may_change(task_id, lambda tx, ctx: task_ops.cancel(tx, ctx, task_id, reason))
        return _change((await engine.write(caller(), op), None), "Canceled.")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def retry_task(task_id: TaskId) -> results.TaskChange:
        """Queue a fresh run of a failed (or otherwise closed or pending) task, with a new attempt budget."""

        op = when_may_change(task_id, lambda tx, ctx: task_ops.enqueue(tx, ctx, task_id))
        return _change(await engine.write(caller(), op), "Queued again.")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def create_task(
        title: Annotated[str, Field(min_length=1, max_length=500)],
        description: Annotated[str, Field(max_length=100_000, description="What to do, for the agent")] = "",
        channel: Channel = None,
        priority: Priority = "medium",
        metadata: Annotated[dict[str, Any] | None, Field(default=None, description="Input for the agent")] = None,
        dependencies: Annotated[list[str] | None, Field(default=None, max_length=1000, description=(
            "Ids of tasks that must complete before this one may start"))] = None,
        approval_policy: Annotated[Literal["none", "required"], Field(description=(
            "required: the task waits in the inbox until a person approves it"))] = "none",
        assign_to_agent: Annotated[str | None, Field(default=None, min_length=1, max_length=200, description=(
            "Only this agent may claim it"))] = None,
        required_capabilities: Annotated[list[str] | None, Field(default=None, max_length=100)] = None,
        max_attempts: Annotated[int, Field(ge=1, le=100)] = 3,
        timeout_seconds: Annotated[float | None, Field(default=None, gt=0, le=30 * 86_400)] = None,
        parent_task_id: Annotated[str | None, Field(default=None, min_length=1, max_length=200)] = None,
    ) -> results.TaskChange:
        """Create a task for agents to claim, optionally behind dependencies or an approval."""
        owner = ActorRefIn(kind="agent_session", ref=assign_to_agent) if assign_to_agent else None
        body = validated(TaskCreate, title=title, description=description, network_channel=channel,
                         priority=priority, metadata=metadata, dependencies=dependencies,
                         approval_policy=approval_policy, owner=owner, required_capabilities=required_capabilities,
                         max_attempts=max_attempts, timeout_seconds=timeout_seconds, parent_task_id=parent_task_id)
        actor = caller()
        pair = await engine.write(actor, lambda tx, ctx: task_ops.create_task(tx, ctx, spec_from(body, actor)))
        return _change(pair, f"Created {pair[0]['identifier']} ({pair[0]['status']}).")

    @server.tool(annotations=ADDS)
    @tool_errors
    async def schedule_task(
        title: Annotated[str, Field(min_length=1, max_length=500)],
        schedule_kind: Kind,
        schedule_expr: Annotated[str | None, Field(default=None, max_length=2000, description=(
            "cron: 5 fields ('0 9 * * 1-5'); rrule: an RRULE ('FREQ=HOURLY;INTERVAL=2'); once: an ISO time; "
            "event: the event type or glob"))] = None,
        description: Annotated[str, Field(max_length=100_000)] = "",
        timezone: Annotated[str | None, Field(default=None, max_length=100, description="IANA zone, default UTC")]
        = None,
        payload: Annotated[dict[str, Any] | None, Field(default=None, description=(
            "Reaches the agent as each run's task metadata"))] = None,
        channel: Channel = None,
        priority: Annotated[int, Field(ge=1, le=9, description="1 (highest) to 9 (lowest)")] = 5,
        max_retries: Annotated[int, Field(ge=0, le=100)] = 3,
        dedupe_key: Annotated[str | None, Field(default=None, min_length=1, max_length=200)] = None,
        concurrency_key: Annotated[str | None, Field(default=None, min_length=1, max_length=200)] = None,
    ) -> results.ScheduleResult:
        """Create a scheduled task (as POST /tasks does): each firing queues a run for agents."""
        actor = caller()
        body = validated(ScheduledTaskCreate, title=title, description=description, schedule_kind=schedule_kind,
                         schedule_expr=schedule_expr, timezone=timezone, payload=payload or {},
                         created_by=uuid.uuid5(uuid.NAMESPACE_URL, f"taskloom:{actor.kind}:{actor.ref}"),
                         priority=priority, max_retries=max_retries, queue=channel, dedupe_key=dedupe_key,
                         concurrency_key=concurrency_key)
        spec = schedule_ops.ScheduleSpec(**{**body.model_dump(), "created_by": str(body.created_by)})
        checked = await schedule_ops.check(engine, spec.schedule_kind, spec.schedule_expr, spec.timezone)
        task, sched = await engine.write(actor, lambda tx, ctx: schedule_ops.create(tx, ctx, spec, checked))
        view = task_view(task, sched)
        return results.ScheduleResult(
            id=view["id"], identifier=view["identifier"], title=view["title"], schedule_kind=view["schedule_kind"],
            schedule_expr=view["schedule_expr"], timezone=view["timezone"], status=view["status"],
            next_run_at=view["next_run_at"], network_channel=view["network_channel"],
            message=f"Scheduled; next firing at {view['next_run_at']}." if view["next_run_at"] else "Scheduled.")

    @server.tool(annotations=READS)
    @tool_errors
    async def queue_overview(channel: Channel = None) -> results.QueueOverview:
        """How the queues stand: queued runs and the oldest one's age per channel, live runs, and
        stuck runs (lease lapsed, or silent too long)."""
        actor = caller()
        filters = _visible(actor, {"network_channel": channel} if channel else {})
        return _queue_overview(await engine.read(actor, lambda tx, ctx: om.dashboard(tx, ctx, filters)), settings)
