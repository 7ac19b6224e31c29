"""The plain values passed between the layers: a leaf module (it imports nothing of ours).

- ``Row``: one database row as a dict, column name → value (storage returns them, the
  engine reads and changes them, the API shapes them into answers).
- ``Notice``: a wake-up key published when a transaction commits: ``("task", task_id)``
  when a task's events change, ``("runs", "*")`` when claimable work may have appeared.
- ``EventRow`` and ``NewRun``: the rows the engine writes into storage's ``events`` and
  ``runs`` (``EventStore.event_insert``, ``RunStore.run_insert``), typed so that a wrong or
  missing column fails in mypy, not in the database. (No ``from __future__ import annotations``
  here: ``Required`` must be seen at run time.)
"""

from dataclasses import dataclass
from typing import Any, Required, TypedDict

Row = dict[str, Any]
Notice = tuple[str, str]


class EventRow(TypedDict):
    """One event appended to a task's log (the ``events`` table but its generated ``id``)."""

    task_id: str
    sequence: int  # the task's event_seq after the change it records
    run_id: str | None
    event_type: str
    actor_kind: str
    actor_ref: str
    origin_kind: str
    origin_ref: str | None
    payload: str | None  # JSON text
    created_at: float


class NewRun(TypedDict, total=False):
    """A run as the engine inserts it: the next attempt of a task, queued (``runs``; the columns
    left out take their defaults: not claimed, no usage yet)."""

    id: Required[str]
    task_id: Required[str]
    attempt: Required[int]
    status: Required[str]
    priority: Required[int]
    available_at: Required[float]
    queued_at: Required[float]
    origin_kind: Required[str]
    origin_ref: str | None
    held: int
    network_channel: str | None
    workspace_id: str | None
    assignee: str | None
    concurrency_key: str | None
    concurrency_limit: int
    rate_limit_key: str | None
    rate_limit_per_minute: int | None
    required_capabilities: str | None  # JSON text
    deadline: float | None
    dedupe_key: str | None
    metadata: str | None  # JSON text
    last_event_type: str
    last_activity_at: float


# -- combined writes: a task step, its event and a run step that a backend may make in one
# statement (RunStore.run_claim_take, RunStore.run_complete_close) --------------------------


@dataclass(frozen=True)
class Appended:
    """The event a combined write appends to the task it moves: ``EventRow`` but for what the
    written rows give (task_id and sequence from the task, run_id from the run). Its payload is
    ``{"attempt": <the run's attempt>, **payload}`` as JSON text."""

    event_type: str
    actor_kind: str
    actor_ref: str
    origin_kind: str
    origin_ref: str | None
    created_at: float
    payload: Row


@dataclass(frozen=True)
class TaskStep:
    """A guarded task write (``changes`` with its status, allowed only from ``expect``) and its event."""

    changes: Row
    expect: tuple[str, ...]
    event: Appended


@dataclass(frozen=True)
class RunTake:
    """What taking the picked run writes: the task step, then the run's guarded changes; the run's
    ``timeout_at`` becomes ``timeout_base`` + the task's ``timeout_seconds`` where it has one."""

    task: TaskStep
    run_changes: Row
    run_expect: tuple[str, ...]
    timeout_base: float


@dataclass
class Taken:
    """The run picked (claim columns), and the task and run rows once taken (None: its task was not
    in the step's states, so nothing was written)."""

    candidate: Row
    task: Row | None = None
    run: Row | None = None


@dataclass
class Closed:
    """A completed run, its task once moved (None: the task was not in the step's states), and the
    tasks that depend on it (empty unless the task moved)."""

    run: Row
    task: Row | None
    dependents: list[str]
