"""The one way to change the status of a task or a run.

``move_task`` and ``move_run`` take the states a move may start from out of the state
table (``domain/states.py``) and write the change guarded by them, so a lost race
changes nothing and the caller sees ``None``. Storage refuses any status write whose
guard the table does not allow, and ``record`` refuses status changes altogether.

A move that finds the row in a state the table has no edge from is a bug in the caller.
With ``TASKLOOM_STRICT_TRANSITIONS=1`` (the test suite sets it) it raises
``IllegalTransition``; in production the move is refused quietly like a lost race.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from taskloom.domain.states import (
    IllegalTransition,
    RunStatus,
    TaskStatus,
    run_can_move,
    run_sources,
    task_can_move,
    task_sources,
)
from taskloom.engine.context import Ctx, event_row, run_hooks, write_task
from taskloom.rows import Appended, Row, TaskStep
from taskloom.storage.protocols import Tx


def strict() -> bool:
    return os.environ.get("TASKLOOM_STRICT_TRANSITIONS", "") == "1"


def _guard(target: str, sources: tuple[str, ...], only_from: Iterable[str] | None, kind: str) -> tuple[str, ...]:
    allowed = tuple(str(s) for s in sources)
    if only_from is None:
        return allowed
    narrowed = tuple(str(s) for s in only_from)
    illegal = [s for s in narrowed if s not in allowed]
    if illegal:
        raise IllegalTransition(f"the state table has no {kind} transition {', '.join(illegal)} → {target}")
    return narrowed


def move_task(
    tx: Tx,
    ctx: Ctx,
    task_id: str,
    target: TaskStatus,
    event_type: str,
    *,
    changes: Row | None = None,
    only_from: Iterable[TaskStatus] | None = None,
    run_id: str | None = None,
    payload: Any = None,
) -> Row | None:
    """Move a task to ``target`` (with ``changes``) and append ``event_type``, in one update.

    ``only_from`` narrows the table's sources (a caller that expects one state); a miss is
    then an ordinary "changed meanwhile" and returns None."""
    expect = _guard(target, task_sources(target), only_from, "task")
    task = write_task(tx, ctx, task_id, {**(changes or {}), "status": target.value}, event_type,
                      run_id=run_id, payload=payload, expect_status=expect)
    if task is None and only_from is None:
        check_missed_move(tx, task_id, target)
    return task


def check_missed_move(tx: Tx, task_id: str, target: TaskStatus) -> None:
    """After an unnarrowed task move changed nothing: under strict transitions, a task in a state
    the table has no edge from is a bug in the caller."""
    if strict():
        current = tx.task_get(task_id)
        if current is not None and not task_can_move(current["status"], target):
            raise IllegalTransition(f"task {task_id}: the state table has no transition {current['status']} → {target}")


def task_step(ctx: Ctx, target: TaskStatus, event_type: str, *, changes: Row | None = None,
              only_from: Iterable[TaskStatus] | None = None, payload: Row | None = None) -> TaskStep:
    """``move_task``'s guarded change and its event, for a storage method that writes them together
    with a run's change (``run_claim_take``, ``run_complete_close``). The event's payload is
    ``{"attempt": <the run's attempt>, **payload}``. Once written, call ``stepped``."""
    expect = _guard(target, task_sources(target), only_from, "task")
    return TaskStep({**(changes or {}), "status": target.value, "updated_at": ctx.now, "last_activity_at": ctx.now},
                    expect, Appended(event_type, ctx.actor.kind, ctx.actor.ref, ctx.origin_kind, ctx.origin_ref,
                                     ctx.now, payload or {}))


def stepped(tx: Tx, ctx: Ctx, step: TaskStep, task: Row, run: Row) -> None:
    """What ``move_task`` does after its write, for a task moved by ``step`` with ``run``: the hooks."""
    run_hooks(tx, ctx, task, step.event.event_type, run["id"], {"attempt": run["attempt"], **step.event.payload})


def run_step(target: RunStatus, changes: Row, *,
             only_from: Iterable[RunStatus] | None = None) -> tuple[Row, tuple[str, ...]]:
    """``move_run``'s guarded change (the changes with the status, and the states it may start from)."""
    return {**changes, "status": target.value}, _guard(target, run_sources(target), only_from, "run")


@dataclass
class TaskMove:
    """One task of ``move_tasks``: its own text columns, the run and payload of its event."""

    task_id: str
    own: Row
    run_id: str | None = None
    payload: Any = None


def move_tasks(tx: Tx, ctx: Ctx, moves: Sequence[TaskMove], target: TaskStatus, event_type: str, *,
               changes: Row | None = None, only_from: Iterable[TaskStatus] | None = None) -> dict[str, Row]:
    """``move_task`` for many tasks at once (batches): one guarded update, one multi-row event
    insert, then each task's hooks, in ``moves`` order. Task ids must be distinct and every
    move must carry the same ``own`` keys. Returns the moved tasks by id; a task missing
    from it changed meanwhile (a lost race), exactly as ``move_task`` returning None."""
    expect = _guard(target, task_sources(target), only_from, "task")
    common = {**(changes or {}), "status": target.value, "updated_at": ctx.now, "last_activity_at": ctx.now}
    moved = _update_tasks_with_events(tx, ctx, moves, common, expect, event_type)
    if only_from is None and strict():
        for m in moves:
            current = None if m.task_id in moved else tx.task_get(m.task_id)
            if current is not None and not task_can_move(current["status"], target):
                raise IllegalTransition(f"task {m.task_id}: the state table has no transition {current['status']}"
                                        f" → {target}")
    return moved


def record_tasks(tx: Tx, ctx: Ctx, moves: Sequence[TaskMove], event_type: str) -> dict[str, Row]:
    """``record`` (a change that is no status change, and its event) for many tasks at once: one
    update, one multi-row event insert, then each task's hooks, in ``moves`` order. Unguarded, as
    ``record`` is. Task ids distinct, the same ``own`` keys in each. Returns the tasks by id."""
    common = {"updated_at": ctx.now, "last_activity_at": ctx.now}
    return _update_tasks_with_events(tx, ctx, moves, common, _ANY_TASK_STATUS, event_type)


_ANY_TASK_STATUS = tuple(s.value for s in TaskStatus)  # "no guard": every status a task can be in


def _update_tasks_with_events(tx: Tx, ctx: Ctx, moves: Sequence[TaskMove], common: Row, expect: Sequence[str],
                              event_type: str) -> dict[str, Row]:
    """What ``move_tasks`` and ``record_tasks`` write: one guarded update of the tasks, one
    multi-row event insert for those updated, then each one's hooks, in ``moves`` order."""
    rows = tx.tasks_update_many([{"id": m.task_id, **m.own} for m in moves], common, expect_status=expect)
    moved = {row["id"]: row for row in rows}
    done = [m for m in moves if m.task_id in moved]
    tx.events_insert_many([event_row(ctx, m.task_id, moved[m.task_id]["event_seq"], event_type, m.run_id, m.payload)
                           for m in done])
    for m in done:
        for hook in ctx.hooks:
            hook(tx, ctx, moved[m.task_id], event_type, m.run_id, m.payload)
    return moved


def move_run(tx: Tx, run_id: str, target: RunStatus, changes: Row, *,
             only_from: Iterable[RunStatus] | None = None) -> Row | None:
    """Move a run to ``target`` (with ``changes``), guarded by the table; None on a miss."""
    expect = _guard(target, run_sources(target), only_from, "run")
    run = tx.run_update(run_id, {**changes, "status": target.value}, expect_status=expect)
    if run is None and only_from is None and strict():
        current = tx.run_get(run_id)
        if current is not None and not run_can_move(current["status"], target):
            raise IllegalTransition(f"run {run_id}: the state table has no transition {current['status']} → {target}")
    return run
