"""The structured results of the tools (their output schemas), built from engine rows."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from taskloom.api import views
from taskloom.rows import Row


def who(kind: str | None, ref: str | None) -> str | None:
    return None if kind is None else f"{kind}:{ref}"


class TaskBrief(BaseModel):
    """A task without its payload (lists stay small)."""

    id: str
    identifier: str
    title: str
    status: str = Field(description="draft, pending, blocked, ready, in_progress, completed, failed or canceled")
    priority: str = Field(description="low, medium, high or urgent")
    network_channel: str | None = None
    owner: str | None = Field(default=None, description="kind:ref of the owner, e.g. agent_session:agent-7")
    approval_state: str | None = None
    blocked_reason: str | None = Field(default=None, description="dependencies, approval, awaiting_input or manual")
    updated_at: str | None = None


def brief(t: Row) -> TaskBrief:
    """From a task record as the REST API shows it (views.task_record)."""
    owner = t.get("owner")
    return TaskBrief(
        id=t["id"], identifier=t["identifier"], title=t["title"], status=t["status"], priority=t["priority"],
        network_channel=t.get("network_channel"), owner=who(owner["kind"], owner["ref"]) if owner else None,
        approval_state=t.get("approval_state"), blocked_reason=t.get("blocked_reason"),
        updated_at=t.get("updated_at"),
    )


def actor_text(ref: Row | None) -> str | None:
    return who(ref["kind"], ref["ref"]) if ref else None


class ClaimedTask(BaseModel):
    id: str
    identifier: str
    title: str
    description: str
    metadata: Any = Field(default=None, description="The task's input: whatever its creator attached")
    priority: str
    network_channel: str | None = None


class ClaimResult(BaseModel):
    claimed: bool = Field(description="False when no task turned up within the wait")
    message: str
    task: ClaimedTask | None = None
    run_id: str | None = Field(default=None, description="Pass it to heartbeat, ask_human, complete_task, ...")
    claim_token: str | None = Field(default=None, description="Proof of this lease; shown once")
    lease_until: str | None = Field(default=None, description="ISO time the lease lapses without a heartbeat")
    attempt: int | None = None
    budget_exhausted: str | None = Field(default=None, description="The spent budget that stopped the claim, if one did")


class LeaseResult(BaseModel):
    run_id: str
    task_id: str
    run_status: str
    lease_until: str | None = None
    message: str


def lease_result(run: Row, message: str) -> LeaseResult:
    return LeaseResult(run_id=run["id"], task_id=run["task_id"], run_status=run["status"],
                       lease_until=views.iso(run["lease_until"]), message=message)


class AskResult(BaseModel):
    run_id: str
    task_id: str
    question_sequence: int = Field(description="The question's place in the task's conversation")
    message: str


class AnswerResult(BaseModel):
    answered: bool = Field(description="False: no answer yet, call wait_for_answer again")
    answer: str | None = None
    answered_by: str | None = None
    answered_at: str | None = None
    message: str


class TaskChange(BaseModel):
    """The task after a change, and its queued or live run if it has one."""

    task: TaskBrief
    run_id: str | None = None
    message: str


class TimelineEvent(BaseModel):
    sequence: int
    event_type: str
    timestamp: str | None = None
    actor: str | None = None
    run_id: str | None = None
    payload: Any = None


class RunBrief(BaseModel):
    id: str
    attempt: int
    status: str
    claimed_by: str | None = None
    lease_until: str | None = None
    error: str | None = None
    result: Any = None


class TaskDetail(BaseModel):
    task: TaskBrief
    description: str
    metadata: Any = None
    result: Any = Field(default=None, description="The result of the completed run")
    error: str | None = None
    attempts: int
    max_attempts: int
    parent_task_id: str | None = None
    created_by: str | None = None
    created_at: str | None = None
    closed_at: str | None = None
    runs: list[RunBrief]
    children: list[TaskBrief]
    dependencies: list[str] = Field(description="Ids of the tasks this one waits for")
    timeline: list[TimelineEvent] = Field(description="The latest events, oldest first")


def detail(view: Row) -> TaskDetail:
    """From the REST API's task detail (read_models.task_detail)."""
    task = view["task"]
    return TaskDetail(
        task=brief(task), description=task["description"], metadata=task["metadata"], result=task["result"],
        error=task["error"], attempts=task["attempts"], max_attempts=task["max_attempts"],
        parent_task_id=task["parent_task_id"], created_by=actor_text(task["created_by"]),
        created_at=task["created_at"], closed_at=task["closed_at"],
        runs=[RunBrief(id=r["id"], attempt=r["attempt"], status=r["status"], claimed_by=actor_text(r["claimed_by"]),
                       lease_until=r["lease_until"], error=r["error"], result=r["result"]) for r in view["runs"]],
        children=[brief(c) for c in view["children"]],
        dependencies=[d["depends_on_task_id"] for d in view["dependencies"]],
        timeline=[TimelineEvent(sequence=e["sequence"], event_type=e["event_type"], timestamp=e["timestamp"],
                                actor=actor_text(e["actor"]), run_id=e["run_id"], payload=e["payload"])
                  for e in view["events"]],
    )


class TaskList(BaseModel):
    tasks: list[TaskBrief]
    count: int


class InboxItem(BaseModel):
    task: TaskBrief
    why: str | None = Field(default=None, description="What the task waits for, in words")
    question: str | None = Field(default=None, description="The agent's question (questions lane)")
    run_id: str | None = None
    unread: bool


class InboxLane(BaseModel):
    lane: str = Field(description="approvals, questions, failed_runs, blocked or my_work")
    count: int
    items: list[InboxItem]


class Inbox(BaseModel):
    lanes: list[InboxLane]
    total: int


class ScheduleResult(BaseModel):
    id: str
    identifier: str
    title: str
    schedule_kind: str
    schedule_expr: str | None = None
    timezone: str | None = None
    status: str
    next_run_at: str | None = Field(default=None, description="When it fires next (ISO time)")
    network_channel: str | None = None
    message: str


class ChannelDepth(BaseModel):
    network_channel: str | None = Field(description="None: runs queued on no channel")
    queued: int
    oldest_age_seconds: float


class StuckRun(BaseModel):
    run_id: str
    task_id: str
    title: str | None = None
    network_channel: str | None = None
    run_status: str
    last_activity_at: str | None = None
    age_seconds: float


class QueueOverview(BaseModel):
    channels: list[ChannelDepth]
    queued_total: int
    active_runs: int
    stuck_runs: list[StuckRun] = Field(description="Live runs whose lease lapsed or that went silent")


class MessagePosted(BaseModel):
    run_id: str
    task_id: str
    channel_id: str = Field(description="The run's coordination channel")
    sequence: int = Field(description="The message's place on the channel")
    kind: str
    message: str


class OutputStreamed(BaseModel):
    run_id: str
    offset: int = Field(description="Where this chunk starts in the run's output (characters)")
    next_offset: int = Field(description="The run's output length after this chunk")
    total_bytes: int = Field(description="UTF-8 bytes streamed so far (at most 10 MB per run)")
    message: str
