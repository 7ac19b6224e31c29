"""The state machines of tasks and runs, in one place.

Task statuses
- draft: written but not published; never claimable.
- pending: accepted but not started (created with ``start: false``); ``start`` enqueues work.
- blocked: cannot run yet; ``blocked_reason`` says why (dependencies, approval,
  awaiting_input, manual blocker).
- ready: has a queued run waiting for an agent.
- in_progress: a run is claimed, starting or running.
- completed / failed / canceled: terminal; ``closed_at`` is set.

Run statuses
- queued: waiting to be claimed (``held`` while its task is blocked, ``available_at`` for backoff).
- claimed: an agent holds the lease; starting: the agent said it is starting;
  running: the agent reported progress (heartbeat, session).
- completed / failed / canceled: terminal; ``ended_at`` is set.
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    BLOCKED = "blocked"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class RunStatus(StrEnum):
    QUEUED = "queued"
    CLAIMED = "claimed"
    STARTING = "starting"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


class BlockedReason(StrEnum):
    DEPENDENCIES = "dependencies"
    APPROVAL = "approval"
    AWAITING_INPUT = "awaiting_input"
    MANUAL = "manual"


class ApprovalState(StrEnum):
    NOT_REQUIRED = "not_required"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


TASK_TERMINAL = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED})
RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})
RUN_LIVE = frozenset({RunStatus.CLAIMED, RunStatus.STARTING, RunStatus.RUNNING})
RUN_OPEN = RUN_LIVE | {RunStatus.QUEUED}

# Allowed task transitions. Storage guards every update with the expected
# current status, so a transition not listed here can never be written.
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.DRAFT: frozenset({TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.READY, TaskStatus.CANCELED}),
    TaskStatus.PENDING: frozenset({TaskStatus.BLOCKED, TaskStatus.READY, TaskStatus.CANCELED}),
    TaskStatus.BLOCKED: frozenset(
        {TaskStatus.READY, TaskStatus.PENDING, TaskStatus.IN_PROGRESS, TaskStatus.CANCELED, TaskStatus.FAILED}
    ),
    TaskStatus.READY: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED, TaskStatus.CANCELED, TaskStatus.FAILED}),
    TaskStatus.IN_PROGRESS: frozenset(
        {TaskStatus.READY, TaskStatus.BLOCKED, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELED}
    ),
    # Terminal tasks may be reopened explicitly (``reopen``), which enqueues new work.
    TaskStatus.COMPLETED: frozenset({TaskStatus.READY}),
    TaskStatus.FAILED: frozenset({TaskStatus.READY}),
    TaskStatus.CANCELED: frozenset({TaskStatus.READY}),
}

RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.CLAIMED, RunStatus.CANCELED}),
    RunStatus.CLAIMED: frozenset(
        {RunStatus.QUEUED, RunStatus.STARTING, RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}
    ),
    RunStatus.STARTING: frozenset(
        {RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}
    ),
    RunStatus.RUNNING: frozenset({RunStatus.QUEUED, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED}),
    RunStatus.COMPLETED: frozenset(),
    RunStatus.FAILED: frozenset(),
    RunStatus.CANCELED: frozenset(),
}


def task_can_move(current: str, target: str) -> bool:
    return TaskStatus(target) in TASK_TRANSITIONS[TaskStatus(current)]


def run_can_move(current: str, target: str) -> bool:
    return RunStatus(target) in RUN_TRANSITIONS[RunStatus(current)]
