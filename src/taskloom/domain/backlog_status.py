"""How the backlogs API (seed 001) speaks the core task states and priorities. Pure, no I/O.

Backlog status  ← core task status
- queued       ← pending, ready (waiting for its agent; drafts are not shown in backlogs)
- in_progress  ← in_progress (a run is held for the agent)
- complete     ← completed
- blocked      ← blocked (a human blocker, unmet dependencies, approval or awaiting input)
- failed       ← failed   (not in the seed: the agent gave up or its attempts ran out)
- canceled     ← canceled (not in the seed: canceled through another API)

Priorities: the seed's 1 (highest) to 10 (lowest) maps onto the core rank with
``from_scale``/``to_scale``; a value written here reads back the same.
"""

from __future__ import annotations

from taskloom.domain.priority import from_scale, to_scale

QUEUED, IN_PROGRESS, COMPLETE, BLOCKED, FAILED, CANCELED = (
    "queued", "in_progress", "complete", "blocked", "failed", "canceled",
)
SEED_STATUSES = (QUEUED, IN_PROGRESS, COMPLETE, BLOCKED)
STATUSES = (*SEED_STATUSES, FAILED, CANCELED)
CLOSED = frozenset({COMPLETE, FAILED, CANCELED})

CORE_STATUSES: dict[str, tuple[str, ...]] = {
    QUEUED: ("pending", "ready"),
    IN_PROGRESS: ("in_progress",),
    COMPLETE: ("completed",),
    BLOCKED: ("blocked",),
    FAILED: ("failed",),
    CANCELED: ("canceled",),
}
_FROM_CORE = {core: status for status, cores in CORE_STATUSES.items() for core in cores}

# What the ``blocker`` field says when the engine, not a person, blocks the task.
BLOCKED_BECAUSE = {
    "dependencies": "waiting for the tasks it depends on",
    "approval": "waiting for approval",
    "awaiting_input": "waiting for input",
}

LOWEST, HIGHEST, DEFAULT_PRIORITY = 10, 1, 5


def from_core(core_status: str) -> str:
    return _FROM_CORE.get(core_status, QUEUED)


def blocker_text(core_status: str, blocked_reason: str | None, blocker: str | None) -> str | None:
    if core_status != "blocked":
        return None
    if blocker:
        return blocker
    return BLOCKED_BECAUSE.get(blocked_reason or "", "blocked")


def to_rank(priority: int) -> int:
    return from_scale(priority, lowest=LOWEST, highest=HIGHEST)


def from_rank(rank: int) -> int:
    return to_scale(rank, lowest=LOWEST, highest=HIGHEST)


def rank_range(priority: int) -> tuple[int, int]:
    """The core ranks (inclusive) that read as ``priority`` here, for exact-priority filters.

    Tasks created through other APIs carry ranks between the backlog's steps."""
    ranks = [r for r in range(0, 101) if from_rank(r) == priority]
    return min(ranks), max(ranks)
