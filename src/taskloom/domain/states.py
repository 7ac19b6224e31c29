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

from collections.abc import Iterable
from enum import StrEnum
from functools import cache


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
TASK_ACTIVE = frozenset({TaskStatus.BLOCKED, TaskStatus.READY, TaskStatus.IN_PROGRESS})
TASK_WAITING = frozenset({TaskStatus.DRAFT, TaskStatus.PENDING, TaskStatus.BLOCKED, TaskStatus.READY})
RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})
RUN_LIVE = frozenset({RunStatus.CLAIMED, RunStatus.STARTING, RunStatus.RUNNING})
RUN_OPEN = RUN_LIVE | {RunStatus.QUEUED}

_T = TaskStatus
# Allowed task transitions: the one function that writes a task's status
# (``engine.transitions.move_task``) takes its guard from here, and storage refuses
# a status write whose guard lists a state this table does not allow.
# Writing the status a task already has (a blocked task changing its reason) is not a
# transition and is allowed for every non-terminal status.
TASK_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    # publish/start activates a draft (ready, then blocked if something blocks it); canceling a
    # tree cancels its drafts too.
    _T.DRAFT: frozenset({_T.READY, _T.CANCELED}),
    # start activates; a queued run past its deadline fails the task.
    _T.PENDING: frozenset({_T.READY, _T.CANCELED, _T.FAILED}),
    # a live run of a blocked task (a blocker added while it ran) still finishes it.
    _T.BLOCKED: frozenset({_T.READY, _T.PENDING, _T.IN_PROGRESS, _T.CANCELED, _T.FAILED, _T.COMPLETED}),
    # canceling its queued run puts the task back to pending (no automatic retry).
    _T.READY: frozenset({_T.IN_PROGRESS, _T.BLOCKED, _T.PENDING, _T.CANCELED, _T.FAILED}),
    # release/retry → ready; canceling the live run → pending.
    _T.IN_PROGRESS: frozenset({_T.READY, _T.BLOCKED, _T.PENDING, _T.COMPLETED, _T.FAILED, _T.CANCELED}),
    # Terminal tasks may be reopened explicitly (``reopen``, a schedule firing), which
    # enqueues new work; canceling a schedule cancels its finished task for good.
    _T.COMPLETED: frozenset({_T.READY, _T.CANCELED}),
    _T.FAILED: frozenset({_T.READY, _T.CANCELED}),
    _T.CANCELED: frozenset({_T.READY}),
}

_R = RunStatus
RUN_TRANSITIONS: dict[RunStatus, frozenset[RunStatus]] = {
    _R.QUEUED: frozenset({_R.CLAIMED, _R.CANCELED}),
    _R.CLAIMED: frozenset({_R.QUEUED, _R.STARTING, _R.RUNNING, _R.COMPLETED, _R.FAILED, _R.CANCELED}),
    _R.STARTING: frozenset({_R.QUEUED, _R.RUNNING, _R.COMPLETED, _R.FAILED, _R.CANCELED}),
    _R.RUNNING: frozenset({_R.QUEUED, _R.COMPLETED, _R.FAILED, _R.CANCELED}),
    _R.COMPLETED: frozenset(),
    _R.FAILED: frozenset(),
    _R.CANCELED: frozenset(),
}


class IllegalTransition(RuntimeError):
    """A status write the state table does not allow: a bug in the caller, never bad input."""


@cache  # the tables are constant; every status write asks (hot path)
def task_can_move(current: str, target: str) -> bool:
    cur, tgt = TaskStatus(current), TaskStatus(target)
    return tgt in TASK_TRANSITIONS[cur] or (cur == tgt and cur not in TASK_TERMINAL)


@cache
def run_can_move(current: str, target: str) -> bool:
    cur, tgt = RunStatus(current), RunStatus(target)
    return tgt in RUN_TRANSITIONS[cur] or (cur == tgt and cur not in RUN_TERMINAL)


@cache
def task_sources(target: str) -> tuple[TaskStatus, ...]:
    """Every status a task may move to ``target`` from, in declaration order."""
    return tuple(s for s in TaskStatus if task_can_move(s, target))


@cache
def run_sources(target: str) -> tuple[RunStatus, ...]:
    """Every status a run may move to ``target`` from, in declaration order."""
    return tuple(s for s in RunStatus if run_can_move(s, target))


def ordered(statuses: Iterable[StrEnum]) -> tuple[str, ...]:
    """A set of statuses as plain strings in declaration order (stable SQL, stable output)."""
    def position(status: StrEnum) -> int:
        return list(type(status).__members__.values()).index(status)

    return tuple(s.value for s in sorted(set(statuses), key=position))


def sql_list(statuses: Iterable[StrEnum]) -> str:
    """``('a','b')`` for SQL, from a set of statuses. The order is the declaration order, so
    a query's list matches the partial indexes written the same way."""
    return "(" + ",".join(f"'{s}'" for s in ordered(statuses)) + ")"
