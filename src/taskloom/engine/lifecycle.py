"""How a task moves between blocked, ready and in progress, and how runs are queued,
retried and closed. Every other operation goes through these few functions."""

from __future__ import annotations

import random
from typing import Any

from taskloom.domain.retry import retry_delay
from taskloom.domain.states import RUN_LIVE, RUN_OPEN, TASK_TERMINAL, BlockedReason, RunStatus, TaskStatus, ordered
from taskloom.domain.task_ids import new_uuid
from taskloom.engine.context import Ctx, record
from taskloom.engine.transitions import TaskMove, move_run, move_task, move_tasks, record_tasks
from taskloom.rows import NewRun, Row
from taskloom.storage.protocols import Tx

LIVE = ordered(RUN_LIVE)
OPEN = ordered(RUN_OPEN)
_rng = random.Random()


def blocking_reason(tx: Tx, task: Row) -> str | None:
    """Why the task cannot run now, or None. The order is the order a human should act in."""
    if task["approval_state"] == "pending":
        return BlockedReason.APPROVAL
    if task["blocker"]:
        return BlockedReason.MANUAL
    if task["blocked_reason"] == BlockedReason.AWAITING_INPUT:
        return BlockedReason.AWAITING_INPUT
    if tx.unmet_dependency_count(task["id"]) > 0:
        return BlockedReason.DEPENDENCIES
    return None


def assignee_of(task: Row) -> str | None:
    """Tasks owned by an agent are handed only to that agent."""
    return task["owner_ref"] if task["owner_kind"] == "agent_session" else None


def enqueue_run(tx: Tx, ctx: Ctx, task: Row, *, delay: float = 0.0, metadata: str | None = None,
                task_changes: Row | None = None, event_payload: dict[str, Any] | None = None,
                move_to: TaskStatus | None = None) -> Row:
    """Queue the task's next attempt. The task records the attempt count and a run.queued event.

    ``task_changes``/``event_payload``/``move_to`` ride along on that same task update and
    event (the scheduler reopens the task and names the firing without a second event)."""
    attempt = int(task["attempts"]) + 1
    run = new_run_row(ctx, task, delay=delay, metadata=metadata)
    stored = tx.run_insert(run)
    payload: dict[str, Any] = {"attempt": attempt, **(event_payload or {})}
    if delay:
        payload["retry_delay_seconds"] = round(delay, 3)
    changes = {**(task_changes or {}), "attempts": attempt}
    if move_to is None:
        record(tx, ctx, task["id"], changes, "run.queued", run_id=run["id"], payload=payload)
    else:
        move_task(tx, ctx, task["id"], move_to, "run.queued", changes=changes, run_id=run["id"], payload=payload)
    return stored


def new_run_row(ctx: Ctx, task: Row, *, delay: float = 0.0, metadata: str | None = None) -> NewRun:
    """The row of the task's next attempt, queued now (+ ``delay``), copying what claims filter on."""
    attempt = int(task["attempts"]) + 1
    return {
        "id": new_uuid(),
        "task_id": task["id"],
        "attempt": attempt,
        "status": RunStatus.QUEUED.value,
        "held": 0,
        "priority": task["priority"],
        "network_channel": task["network_channel"],
        "workspace_id": task["workspace_id"],
        "assignee": assignee_of(task),
        "concurrency_key": task["concurrency_key"],
        "concurrency_limit": task["concurrency_limit"],
        "rate_limit_key": task["rate_limit_key"],
        "rate_limit_per_minute": task["rate_limit_per_minute"],
        "required_capabilities": task["required_capabilities"],
        "deadline": task["deadline"],
        "dedupe_key": task["dedupe_key"],
        "available_at": ctx.now + delay,
        "queued_at": ctx.now + delay,
        "origin_kind": ctx.origin_kind,
        "origin_ref": ctx.origin_ref,
        "metadata": metadata,
        "last_event_type": "run.queued",
        "last_activity_at": ctx.now,
    }


def refresh(tx: Tx, ctx: Ctx, task: Row) -> Row:
    """Bring an active task's status in line with what blocks it, queueing or holding its run.

    Drafts, pending (not started) and closed tasks are left alone.
    """
    if task["status"] in TASK_TERMINAL or task["status"] in (TaskStatus.DRAFT, TaskStatus.PENDING):
        return task
    reason = blocking_reason(tx, task)
    run = tx.open_run_of_task(task["id"])
    if reason is not None:
        if run is not None and run["status"] == "queued" and not run["held"]:
            tx.run_update(run["id"], {"held": 1}, expect_status=["queued"])
        if task["status"] != TaskStatus.BLOCKED or task["blocked_reason"] != reason:
            task = move_task(
                tx, ctx, task["id"], TaskStatus.BLOCKED, "task.blocked", changes={"blocked_reason": str(reason)},
                payload={"reason": str(reason)},
            ) or task
        return task
    if run is None:
        enqueue_run(tx, ctx, task)
        target = TaskStatus.READY
    elif run["status"] == "queued":
        if run["held"]:
            tx.run_update(run["id"], {"held": 0}, expect_status=["queued"])
        target = TaskStatus.READY
    else:
        target = TaskStatus.IN_PROGRESS
    fresh = tx.task_get(task["id"]) or task
    if fresh["status"] != target or fresh["blocked_reason"] is not None:
        event = "task.ready" if target == TaskStatus.READY else "task.unblocked"
        fresh = move_task(tx, ctx, task["id"], target, event, changes={"blocked_reason": None}) or fresh
    return fresh


def refresh_dependents(tx: Tx, ctx: Ctx, task_id: str) -> None:
    refresh_tasks(tx, ctx, tx.dependents_of(task_id))


def refresh_tasks(tx: Tx, ctx: Ctx, task_ids: list[str]) -> None:
    for task_id in task_ids:
        task = tx.task_get(task_id)
        if task is not None:
            refresh(tx, ctx, task)


def settle_failed_run(tx: Tx, ctx: Ctx, run: Row, error: str, *, retryable: bool = True) -> Row | None:
    """After a run failed: queue the next attempt with backoff, or fail the task."""
    task = tx.task_get(run["task_id"])
    if task is None or task["status"] in TASK_TERMINAL:
        return task
    if retryable and int(run["attempt"]) < int(task["attempt_limit"]):
        delay = retry_delay(task["backoff_strategy"], float(task["backoff_seconds"]), int(run["attempt"]), _rng)
        task = move_task(
            tx, ctx, task["id"], TaskStatus.READY, "run.failed", changes={"error": error}, run_id=run["id"],
            payload={"error": error, "attempt": run["attempt"], "will_retry": True},
        ) or task
        enqueue_run(tx, ctx, task, delay=delay, metadata=None)
        return refresh(tx, ctx, tx.task_get(task["id"]) or task)
    record(
        tx, ctx, task["id"], {}, "run.failed", run_id=run["id"],
        payload={"error": error, "attempt": run["attempt"], "will_retry": False},
    )
    return move_task(
        tx, ctx, task["id"], TaskStatus.FAILED, "task.failed",
        changes={"error": error, "closed_at": ctx.now, "blocked_reason": None},
        run_id=run["id"], payload={"error": error},
    )


def settle_failed_runs(tx: Tx, ctx: Ctx, failed: list[tuple[Row, str, bool]]) -> None:
    """``settle_failed_run`` for many failed runs (``(run, error, retryable)``, of distinct tasks),
    with the same rows, events (per task, in order) and hooks: the tasks read at once; the retried
    ones' run.failed moves in one update, then each one's next attempt queued and its task
    refreshed as the single call does; the others' run.failed and task.failed in one update each."""
    tasks = tx.tasks_get_many([run["task_id"] for run, _, _ in failed])
    retry: list[tuple[Row, str, Row, float]] = []
    final: list[tuple[Row, str]] = []
    for run, error, retryable in failed:
        task = tasks.get(run["task_id"])
        if task is None or task["status"] in TASK_TERMINAL:
            continue
        if retryable and int(run["attempt"]) < int(task["attempt_limit"]):
            delay = retry_delay(task["backoff_strategy"], float(task["backoff_seconds"]), int(run["attempt"]), _rng)
            retry.append((run, error, task, delay))
        else:
            final.append((run, error))
    if retry:
        moved = move_tasks(tx, ctx, [TaskMove(task["id"], {"error": error}, run["id"],
                                              {"error": error, "attempt": run["attempt"], "will_retry": True})
                                     for run, error, task, _ in retry], TaskStatus.READY, "run.failed")
        for _, _, task, delay in retry:
            task = moved.get(task["id"]) or task
            enqueue_run(tx, ctx, task, delay=delay, metadata=None)
            refresh(tx, ctx, tx.task_get(task["id"]) or task)
    if final:
        record_tasks(tx, ctx, [TaskMove(run["task_id"], {}, run["id"],
                                        {"error": error, "attempt": run["attempt"], "will_retry": False})
                               for run, error in final], "run.failed")
        move_tasks(tx, ctx, [TaskMove(run["task_id"], {"error": error}, run["id"], {"error": error})
                             for run, error in final], TaskStatus.FAILED, "task.failed",
                   changes={"closed_at": ctx.now, "blocked_reason": None})


def canceled_run_changes(ctx: Ctx, reason: str) -> Row:
    return {"ended_at": ctx.now, "error": reason, "last_event_type": "run.canceled", "last_activity_at": ctx.now}


def released_run_changes(ctx: Ctx) -> Row:
    """A live run handed back to the queue: the lease and the claim are cleared, claimable now."""
    return {
        "claimed_at": None, "claimed_by_kind": None, "claimed_by_ref": None,
        "claim_token_hash": None, "lease_until": None, "heartbeat_at": None, "started_at": None,
        "timeout_at": None, "available_at": ctx.now, "last_event_type": "run.released", "last_activity_at": ctx.now,
    }


def cancel_open_runs(tx: Tx, ctx: Ctx, task_id: str, reason: str) -> list[Row]:
    canceled = []
    for run in tx.runs_of_task(task_id):
        if run["status"] in OPEN:
            updated = move_run(tx, run["id"], RunStatus.CANCELED, canceled_run_changes(ctx, reason),
                               only_from=RUN_OPEN)
            if updated is not None:
                canceled.append(updated)
    return canceled


def cancel_tree(tx: Tx, ctx: Ctx, root: Row, reason: str, *, event_type: str = "task.canceled",
                root_changes: Row | None = None) -> Row:
    """Cancel the task and every open descendant, with their queued and live runs."""
    result = root
    for node in tx.task_subtree(root["id"]):
        if node["status"] in TASK_TERMINAL and node["id"] != root["id"]:
            continue
        changes: Row = {"closed_at": ctx.now, "blocked_reason": None}
        if node["id"] == root["id"] and root_changes:
            changes.update(root_changes)
        for run in cancel_open_runs(tx, ctx, node["id"], reason):
            record(tx, ctx, node["id"], {}, "run.canceled", run_id=run["id"], payload={"reason": reason})
        event = event_type if node["id"] == root["id"] else "task.canceled"
        payload = {"reason": reason, "root_task_id": root["id"]}
        if node["status"] in TASK_TERMINAL:  # only the root can be closed already: it keeps its status
            updated = record(tx, ctx, node["id"], dict(root_changes or {}), event, payload=payload)
        else:
            updated = move_task(tx, ctx, node["id"], TaskStatus.CANCELED, event, changes=changes, payload=payload)
        if node["id"] == root["id"] and updated is not None:
            result = updated
    return result
