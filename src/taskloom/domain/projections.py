"""How each API names the core task states: a Python function over a task row and, where
storage filters or counts by it, the same rule as SQL over a ``tasks`` row. Pure, no I/O.

tests/unit/test_projections.py evaluates both forms on real databases for every core
status and checks that they agree. (The backlogs API's mapping is in ``backlog_status``.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from taskloom.domain.states import RUN_LIVE, TASK_WAITING, BlockedReason, RunStatus, TaskStatus, sql_list

# -- work queues ---------------------------------------------------------------------------
# A waiting task whose deadline passed is ``expired`` at once, before the rescuer closes it
# (failing it with EXPIRED_ERROR, which still reads ``expired``).
EXPIRED_ERROR = "deadline passed"
WQ_STATUSES = ("pending", "assigned", "completed", "failed", "expired", "canceled")


def wq_status(task: Mapping[str, Any], now: float) -> str:
    """Core status → work-queue status."""
    status = task["status"]
    if status in TASK_WAITING:
        deadline = task["deadline"]
        return "expired" if deadline is not None and deadline <= now else "pending"
    if status == TaskStatus.IN_PROGRESS:
        return "assigned"
    if status == TaskStatus.FAILED and task["error"] == EXPIRED_ERROR:
        return "expired"
    return str(status)


_WAITING = sql_list(TASK_WAITING)
# The same rule as SQL (``:now`` is bound by the query).
WQ_STATUS_SQL = (
    "CASE"
    f" WHEN status IN {_WAITING} AND deadline IS NOT NULL AND deadline <= :now THEN 'expired'"
    f" WHEN status IN {_WAITING} THEN 'pending'"
    " WHEN status = 'in_progress' THEN 'assigned'"
    f" WHEN status = 'failed' AND error = '{EXPIRED_ERROR}' THEN 'expired'"
    " ELSE status END"
)

# -- agent tasks ---------------------------------------------------------------------------
AGENT_TASK_STATES = ("queued", "running", "awaiting_input", "completed", "failed", "cancelled")
TERMINAL_NAMES = {"completed": "completed", "failed": "failed", "canceled": "cancelled"}


def agent_task_state(task: Mapping[str, Any], has_live_run: bool) -> str:
    """The agent-tasks API's six states over the core statuses (docs/api/agent-tasks.md)."""
    status = task["status"]
    if status in TERMINAL_NAMES:
        return TERMINAL_NAMES[status]
    if status == TaskStatus.BLOCKED and task["blocked_reason"] == BlockedReason.AWAITING_INPUT:
        return "awaiting_input"
    if status == TaskStatus.IN_PROGRESS or (status == TaskStatus.BLOCKED and has_live_run):
        return "running"
    return "queued"


_LIVE_RUN = f"EXISTS (SELECT 1 FROM runs r WHERE r.task_id = tasks.id AND r.status IN {sql_list(RUN_LIVE)})"
_OTHER_BLOCK = "(status = 'blocked' AND COALESCE(blocked_reason, '') <> 'awaiting_input')"
_QUEUED = sql_list({TaskStatus.DRAFT, TaskStatus.PENDING, TaskStatus.READY})
# The same rule as one SQL filter per state.
AGENT_TASK_STATE_SQL = {
    "queued": f"(status IN {_QUEUED} OR ({_OTHER_BLOCK} AND NOT {_LIVE_RUN}))",
    "running": f"(status = 'in_progress' OR ({_OTHER_BLOCK} AND {_LIVE_RUN}))",
    "awaiting_input": "(status = 'blocked' AND blocked_reason = 'awaiting_input')",
    "completed": "status = 'completed'",
    "failed": "status = 'failed'",
    "cancelled": "status = 'canceled'",
}

# -- schedules -----------------------------------------------------------------------------
# A firing's status from its run's (``retrying`` is a queued run after the first attempt).
FIRING_STATUS = {
    RunStatus.QUEUED: "queued",
    RunStatus.CLAIMED: "running",
    RunStatus.STARTING: "running",
    RunStatus.RUNNING: "running",
    RunStatus.COMPLETED: "completed",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELED: "canceled",
}
