"""Response models of the observe API (dashboard, inbox) and of the other families (work queues,
agents and their tasks, scheduled tasks, channels, output, usage, budgets, health), plus the SSE
stream's event schema: documentation only, the routes build the JSON directly.

Each lists every key its route sends: tests/api/test_response_models.py checks the answers of
every operation against these with unknown keys refused. Request bodies and the runtime API's
own models are in schemas.py.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from taskloom.api.schemas import (
    ActorRef,
    Backoff,
    CoordinationChannelOut,
    ErrorOut,
    Priority,
    RateLimitOut,
    RunEnvelope,
    RunOut,
    RunStatusName,
    RunSummaryOut,
    Scope,
    TaskRef,
    TaskStatusName,
    TriageOut,
)

# -- observe -------------------------------------------------------------------------


class LatencyOut(BaseModel):
    average_ms: int
    maximum_ms: int
    samples: int


class ActiveRunItemOut(BaseModel):
    age_ms: int
    attempt: int
    error: str | None
    health_status: str
    last_activity_at: str | None
    max_attempts: int | None
    network_channel: str | None
    run_id: str
    run_status: RunStatusName
    scope: Scope | None
    session_id: str | None
    stuck: bool
    task_id: str
    task_identifier: str | None
    task_owner: ActorRef | None
    task_priority: Priority | None
    task_status: TaskStatusName | None
    task_title: str | None
    workspace_id: str | None


class QueueDepthOut(BaseModel):
    count: int
    network_channel: str | None
    oldest_queue_age_ms: int
    oldest_queued_at: str | None


class DashboardOut(BaseModel):
    active_runs: dict[str, Any] = Field(description="claimed, queued, running, starting, total, items")
    cards: dict[str, Any] = Field(description="blocked, failed, in_progress, latency")
    freshness: dict[str, Any]
    health: dict[str, Any]
    queue: dict[str, Any] = Field(description="depth per network_channel, oldest queued age, backlog warning")
    status_breakdown: list[dict[str, Any]]
    totals: dict[str, int]
    budgets: DashboardBudgetsOut


class DashboardEnvelope(BaseModel):
    dashboard: DashboardOut


class InboxItemOut(BaseModel):
    """A task item; the budgets lane's items carry ``budget`` and ``blocking_reason`` only."""

    approval_policy: str | None = None
    approval_state: str | None = None
    blocking_reason: str | None
    lane: str
    question: str | None = None
    latest_activity_at: str | None = None
    run: RunSummaryOut | None = None
    task: TaskRef | None = None
    triage: TriageOut | None = None
    unread: bool | None = None
    budget: BudgetOut | None = None


class InboxGroupOut(BaseModel):
    count: int
    items: list[InboxItemOut]
    lane: str
    unread_count: int


class InboxOut(BaseModel):
    archived_total: int
    groups: list[InboxGroupOut]
    total: int
    unread_total: int


class InboxEnvelope(BaseModel):
    inbox: InboxOut


# -- response models of the other families (documentation; the routes build the JSON directly) ----
# Each lists every key its route sends: tests/api/test_response_models.py checks the answers of
# every operation against these with unknown keys refused.


class HealthOut(BaseModel):
    status: Literal["ok"]
    version: str
    backend: Literal["sqlite", "postgres"]


class ReadyOut(BaseModel):
    status: Literal["ready"]


class NotReadyOut(ErrorOut):
    problems: list[str]


class ChannelMessageOut(BaseModel):
    """A message on a run's coordination channel."""

    body: str
    channel_id: str | None
    created_at: str
    id: str
    kind: str
    role: str
    run_id: str | None
    sender: ActorRef
    sequence: int
    task_id: str


class ChannelPostOut(BaseModel):
    message: ChannelMessageOut
    channel: CoordinationChannelOut


class ChannelMessagesOut(BaseModel):
    channel: CoordinationChannelOut
    messages: list[ChannelMessageOut]
    next_after: int = Field(description="Pass as ?after= to read on")


class OutputAppendedOut(BaseModel):
    run_id: str
    offset: int = Field(description="Where this chunk starts (characters)")
    length: int
    next_offset: int
    total_bytes: int


class OutputOut(BaseModel):
    run_id: str
    offset: int
    next_offset: int = Field(description="Pass as ?after_offset= to read on")
    text: str
    total_length: int
    total_bytes: int
    run_status: RunStatusName
    done: bool = Field(description="The run is closed: no more output will come")


class UsageGroupOut(BaseModel):
    """One group; it carries only the dimensions asked for in group_by."""

    agent: str | None = None
    model: str | None = None
    channel: str | None = None
    workspace: str | None = None
    day: str | None = None
    input_tokens: int
    output_tokens: int
    cost: float
    tool_calls: int
    runs: int


class UsageOut(BaseModel):
    group_by: list[str]
    since: str | None
    until: str | None
    groups: list[UsageGroupOut]


class WorkQueueRefOut(BaseModel):
    id: str
    name: str
    team_id: str


class QueueActivityOut(BaseModel):
    network_channel: str | None
    work_queue: WorkQueueRefOut | None
    depth: int
    oldest_queued_at: str | None
    oldest_queue_age_ms: int
    active_runs: int
    stuck_runs: int
    depth_history: list[int] = Field(description="Depth at each of history_times, oldest first")


class QueuesActivityOut(BaseModel):
    queues: list[QueueActivityOut]
    history_times: list[str]


class LiveRunActivityOut(BaseModel):
    run_id: str
    task_id: str
    task_title: str | None
    task_identifier: str | None
    status: RunStatusName
    attempt: int
    network_channel: str | None
    claimed_at: str | None
    heartbeat_at: str | None
    lease_until: str | None
    lease_remaining_ms: int | None
    stuck: bool


class AgentActivityOut(BaseModel):
    claimer: ActorRef
    live_runs: list[LiveRunActivityOut]
    last_claimed_at: str | None
    last_heartbeat_at: str | None
    recent_runs: int


class AgentsActivityOut(BaseModel):
    observed_at: str
    agents: list[AgentActivityOut]


class BudgetOut(BaseModel):
    id: str
    scope: Literal["workspace", "agent", "channel"]
    ref: str
    period: Literal["day", "month", "total"]
    max_tokens: int | None
    max_cost: float | None
    currency: str | None
    spent_tokens: int
    spent_cost: float
    period_start: str | None = Field(description="Start of the current period; null for period total")
    exhausted: bool
    exhausted_at: str | None
    created_by: ActorRef
    created_at: str
    updated_at: str


class BudgetEnvelope(BaseModel):
    budget: BudgetOut


class BudgetsEnvelope(BaseModel):
    budgets: list[BudgetOut]


class DashboardBudgetsOut(BaseModel):
    exhausted: list[BudgetOut]
    exhausted_total: int


# -- work queues (seed 000, camelCase) ---------------------------------------------------------

WorkQueueTaskStatus = Literal["pending", "assigned", "completed", "failed", "expired", "canceled"]


class WorkQueueCountsOut(BaseModel):
    pending: int
    assigned: int
    completed: int
    failed: int
    expired: int
    canceled: int


class WorkQueueOut(BaseModel):
    id: str
    name: str
    teamId: str
    counts: WorkQueueCountsOut
    createdBy: ActorRef
    createdAt: str
    updatedAt: str


class WorkQueuesOut(BaseModel):
    queues: list[WorkQueueOut]


class WorkQueueDeletedOut(BaseModel):
    id: str
    deleted: bool
    canceledTaskIds: list[str]


class WorkQueueTaskOut(BaseModel):
    id: str
    queueId: str | None
    name: str
    priority: int = Field(description="1 (lowest) to 5 (highest)")
    payload: Any
    deadline: str | None
    status: WorkQueueTaskStatus
    agentId: str | None
    assignedAt: str | None
    leaseExpiresAt: str | None
    runId: str | None
    attempt: int
    maxAttempts: int
    result: Any
    error: str | None
    lastError: str | None
    stolenFrom: str | None
    coreStatus: TaskStatusName
    createdAt: str
    updatedAt: str
    closedAt: str | None
    claimToken: str | None = Field(default=None, description="In the dequeue/steal answer only")


class WorkQueueTasksOut(BaseModel):
    tasks: list[WorkQueueTaskOut]


# -- agents and the tasks submitted to them (seed 002) ---------------------------------------------

AgentTaskState = Literal["queued", "running", "awaiting_input", "completed", "failed", "cancelled"]


class AgentOut(BaseModel):
    id: str
    name: str
    team: str | None
    description: str
    capabilities: list[str]
    state: Literal["active", "paused", "stopped", "error"]
    state_reason: str | None
    default_timeout_seconds: float | None
    metadata: Any
    created_by: ActorRef
    created_at: str
    updated_at: str


class AgentsOut(BaseModel):
    agents: list[AgentOut]


class AgentTaskCoreOut(BaseModel):
    """The same task in the runtime API's terms."""

    status: TaskStatusName
    blocked_reason: str | None
    identifier: str


class AgentTaskOut(BaseModel):
    task_id: str
    agent_id: str | None
    status: AgentTaskState
    message: str
    priority: int = Field(description="1 (most urgent) to 10")
    timeout_seconds: float | None
    metadata: Any
    callback_mode: Literal["poll", "webhook"]
    webhook_url: str | None
    question: str | None = Field(description="The agent's question while awaiting_input")
    result: Any
    error: str | None
    run_id: str | None
    attempts: int
    core: AgentTaskCoreOut
    created_at: str
    started_at: str | None
    updated_at: str
    completed_at: str | None


class AgentTaskSubmittedOut(AgentTaskOut):
    webhook_secret: str | None = Field(default=None, description="Generated signing secret, shown once (webhook mode)")


class AgentTasksOut(BaseModel):
    tasks: list[AgentTaskOut]


class AgentMessageOut(BaseModel):
    id: str
    task_id: str
    sequence: int
    role: Literal["user", "agent"]
    kind: Literal["question", "message"]
    message: str
    run_id: str | None
    sender: ActorRef
    created_at: str


class AgentMessageAndTaskOut(BaseModel):
    message: AgentMessageOut
    task: AgentTaskOut


class AgentMessagesOut(BaseModel):
    messages: list[AgentMessageOut]


class AgentRunMessagesOut(BaseModel):
    run_id: str
    task_id: str
    status: AgentTaskState
    awaiting_input: bool
    messages: list[AgentMessageOut]


class DeliveryAttemptOut(BaseModel):
    attempt: int
    started_at: str | None
    duration_ms: float | None
    status_code: int | None
    error: str | None
    outcome: str
    next_attempt_at: str | None


class DeliveryOut(BaseModel):
    id: str
    task_id: str
    event: str
    url: str
    status: str
    attempt_count: int
    next_attempt_at: str | None
    give_up_at: str | None
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None
    payload: Any
    attempts: list[DeliveryAttemptOut]


class DeliveriesOut(BaseModel):
    deliveries: list[DeliveryOut]


# -- scheduled tasks (seed 003) ----------------------------------------------------------------------


class FiringOut(BaseModel):
    id: str | None
    trigger: str | None
    scheduled_for: str | None
    status: str
    attempts: int
    run_id: str


class ScheduleRunOut(RunOut):
    firing: Any = Field(description="The firing this run belongs to (id, trigger, scheduled_for)")
    event: Any = Field(description="The event that fired it (event schedules)")
    retry_delay_seconds: float | None
    retry_of_run_id: str | None


class ScheduledTaskOut(BaseModel):
    id: str
    identifier: str
    title: str
    description: str
    schedule_kind: Literal["cron", "rrule", "once", "event"]
    schedule_expr: str | None
    timezone: str | None
    payload: Any
    created_by: str
    priority: int = Field(description="1 (highest) to 9 (lowest)")
    max_retries: int
    backoff_strategy: Backoff
    backoff_seconds: float
    dedupe_key: str | None
    dedupe_window_seconds: int | None
    concurrency_key: str | None
    concurrency_limit: int
    rate_limit: RateLimitOut | None
    queue: str | None
    network_channel: str | None
    status: Literal["active", "paused", "canceled"]
    next_run_at: str | None
    snoozed_until: str | None
    snooze_reason: str | None
    last_run_at: str | None
    run_count: int
    missed_firings: int
    waiting_firing: Any
    task_status: TaskStatusName
    created_at: str
    updated_at: str


class ScheduledTaskDetailOut(ScheduledTaskOut):
    last_firing: FiringOut | None
    last_run: ScheduleRunOut | None


class ScheduledTasksOut(BaseModel):
    tasks: list[ScheduledTaskOut]
    total: int
    limit: int
    offset: int


class ScheduledRunNowOut(BaseModel):
    run: ScheduleRunOut
    task: ScheduledTaskDetailOut


class ScheduleRunsOut(BaseModel):
    runs: list[ScheduleRunOut]
    limit: int
    offset: int


class EventOutRecord(BaseModel):
    id: str
    type: str
    payload: Any
    received_at: str


class EventMatchOut(BaseModel):
    task_id: str
    outcome: str
    run_id: str | None


class PublishedEventOut(BaseModel):
    event: EventOutRecord
    matched: list[EventMatchOut]


# One Server-Sent Event of GET /api/tasks/{id}/stream, as OpenAPI 3.1 describes a stream's items:
# ``id`` the event's sequence, ``event`` its type, ``data`` JSON (a timeline item; ``{}`` for the
# ``deleted`` event that ends the stream of a purged task).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["data", "event"],
    "properties": {
        "id": {"type": "string", "description": "The event's sequence (send as Last-Event-ID to resume)"},
        "event": {"type": "string", "description": "The event type, e.g. run.claimed; deleted at the end"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"anyOf": [
                {"type": "object", "required": ["sequence", "timeline", "type"], "additionalProperties": False,
                 "properties": {"sequence": {"type": "integer"}, "type": {"type": "string"},
                                "timeline": {"$ref": "#/components/schemas/TimelineItemOut"}}},
                {"type": "object", "maxProperties": 0},
            ]},
        },
    },
}


class RunClaimEnvelope(RunEnvelope):
    claim_token: str | None = Field(default=None, description=(
        "Shown once, to the claimer: send it with heartbeat, complete and fail (absent on an idempotent replay)"))


# Declared above the budget models they use.
for _model in (DashboardOut, DashboardEnvelope, InboxItemOut, InboxGroupOut, InboxOut, InboxEnvelope):
    _model.model_rebuild()
