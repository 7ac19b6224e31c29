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
