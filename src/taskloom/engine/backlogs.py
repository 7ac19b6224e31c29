"""Per-agent backlogs (seed 001) as operations on core tasks.

A backlog task is a core task owned by the agent (owner ``agent_session:<agent_id>``),
so its runs are reserved for that agent: the agent takes it with
``/api/agent/tasks/claim-next`` and the backlog shows it in_progress. Its backlog
id (``MKT-001``) is the core ``identifier`` (the core ``id`` is a UUID), and every
``{task_id}`` path takes identifiers, so ``GET /api/tasks/MKT-001`` finds it too.

Status changes asked for through PATCH go through the run machinery, so the
other APIs keep seeing a consistent task: starting it holds its run for the
agent, completing it closes that run, blocking it holds the queued run, and a
closed task only leaves its state through an explicit reopen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskloom.domain import backlog_status as bs
from taskloom.domain.backlog_ids import RESERVED, check_agent_id, format_id, normalize_prefix, prefix_candidates
from taskloom.domain.errors import Conflict, InvalidInput, NotFound
from taskloom.domain.states import RUN_LIVE, TASK_TERMINAL, RunStatus, TaskStatus
from taskloom.engine import tasks as task_ops
from taskloom.engine.context import Ctx, dumps, loads
from taskloom.engine.lifecycle import LIVE, enqueue_run, refresh, refresh_dependents, released_run_changes
from taskloom.engine.transitions import move_run, move_task
from taskloom.rows import Row
from taskloom.storage.protocols import Coalesce, Tx

AGENT_KIND = "agent_session"
SOURCE = "backlog"
# A person marking a task in_progress holds its run for the agent. Nobody
# heartbeats such a run, so its lease is long instead of minutes; the agent
# (or a PATCH) completes it or moves it back.
MANUAL_LEASE_SECONDS = 365 * 86_400.0
MAX_ID_SKIPS = 1000


def counter_name(agent_id: str) -> str:
    return f"backlog:{agent_id}"


# -- prefixes ---------------------------------------------------------------------------


def ensure_prefix(tx: Tx, ctx: Ctx, agent_id: str) -> str:
    """The agent's prefix, derived and reserved on first use (see domain/backlog_ids.py)."""
    row = tx.backlog_agent_get(agent_id)
    if row is not None:
        return str(row["prefix"])
    for candidate in prefix_candidates(agent_id):
        if candidate in RESERVED:
            continue
        owner = tx.backlog_prefix_owner(candidate)
        if owner is not None and owner != agent_id:
            continue
        reserved = owner == agent_id or tx.backlog_prefix_reserve(candidate, agent_id, ctx.now)
        if not reserved:
            continue  # another agent reserved it between our look and our insert
        if tx.backlog_agent_insert(agent_id, candidate, ctx.now):
            return candidate
        # A concurrent call for the same agent won (possible on PostgreSQL): use its prefix.
        if owner is None:
            tx.backlog_prefix_release(candidate, agent_id)
        row = tx.backlog_agent_get(agent_id)
        assert row is not None
        return str(row["prefix"])
    raise AssertionError("unreachable: the candidate list is endless")


def prefix_info(tx: Tx, agent_id: str) -> Row:
    row = tx.backlog_agent_get(agent_id)
    if row is None:
        raise NotFound(f"agent {agent_id} has no backlog")
    return {
        "agent_id": agent_id,
        "prefix": row["prefix"],
        "next_id": format_id(row["prefix"], tx.backlog_counter_peek(counter_name(agent_id)) + 1),
        "previous_prefixes": [p for p in tx.backlog_prefixes_of(agent_id) if p != row["prefix"]],
    }


def set_prefix(tx: Tx, ctx: Ctx, agent_id: str, value: str) -> Row:
    """Choose the agent's prefix for new tasks. Existing ids keep theirs; old prefixes stay
    reserved to this agent. A prefix held by another agent is a conflict."""
    check_agent_id(agent_id)
    prefix = normalize_prefix(value)
    owner = tx.backlog_prefix_owner(prefix)
    if owner is not None and owner != agent_id:
        raise Conflict(f"prefix {prefix} is already used by agent {owner}")
    if owner is None and not tx.backlog_prefix_reserve(prefix, agent_id, ctx.now):
        raise Conflict(f"prefix {prefix} was just taken by another agent")
    tx.backlog_agent_set_prefix(agent_id, prefix, ctx.now)
    return prefix_info(tx, agent_id)


# -- reading ----------------------------------------------------------------------------


def require_backlog(tx: Tx, agent_id: str) -> None:
    """An agent is known here once it is registered (/api/agents), has a prefix or owns a task;
    anyone else is a 404."""
    check_agent_id(agent_id)
    known = tx.backlog_agent_get(agent_id) is not None or tx.agent_get(agent_id) is not None
    if not known and not tx.backlog_owns_tasks(agent_id):
        raise NotFound(f"agent {agent_id} has no backlog")


def load_task(tx: Tx, ctx: Ctx, agent_id: str, task_ref: str) -> Row:
    require_backlog(tx, agent_id)
    task = tx.backlog_task_find(task_ref) or tx.backlog_task_find(task_ref.upper())
    if task is None or task["status"] == "draft" or not ctx.actor.sees_workspace(task["workspace_id"]):
        raise NotFound(f"task {task_ref} not found")
    if (task["owner_kind"], task["owner_ref"]) != (AGENT_KIND, agent_id):
        raise NotFound(f"task {task_ref} is not in agent {agent_id}'s backlog")
    return task


def list_filters(agent_id: str | None, status: str | None, priority: int | None,
                 workspaces: tuple[str, ...] | None = None) -> Row:
    """``workspaces``: a workspace-scoped caller's workspaces (it sees global tasks and those)."""
    filters: Row = {"agent_id": agent_id, "visible_workspaces": workspaces}
    if status is not None:
        filters["core_statuses"] = list(bs.CORE_STATUSES[status])
    if priority is not None:
        filters["rank_min"], filters["rank_max"] = bs.rank_range(priority)
    return filters


def list_tasks(tx: Tx, filters: Row, *, limit: int, offset: int) -> tuple[list[Row], int]:
    return tx.backlog_task_list(filters, limit=limit, offset=offset), tx.backlog_task_count(filters)


def summary(tx: Tx, ctx: Ctx, agent_id: str) -> Row:
    require_backlog(tx, agent_id)
    counts = dict.fromkeys(bs.STATUSES, 0)
    for core_status, n in tx.backlog_status_counts(agent_id, ctx.actor.workspaces).items():
        counts[bs.from_core(core_status)] += n
    return {**counts, "total": sum(counts.values())}


# -- writing ----------------------------------------------------------------------------


def create(tx: Tx, ctx: Ctx, agent_id: str, *, title: str, description: str, priority: int) -> Row:
    """Add a task to the agent's backlog with the agent's next id, queued for that agent."""
    check_agent_id(agent_id)
    if not title.strip():
        raise InvalidInput("title must not be empty")
    if not bs.HIGHEST <= priority <= bs.LOWEST:
        raise InvalidInput("priority must be between 1 (highest) and 10 (lowest)")
    # Taking the number first also serialises concurrent creates for one agent on
    # PostgreSQL (the counter row stays locked until commit).
    number = tx.counter_next(counter_name(agent_id))
    prefix = ensure_prefix(tx, ctx, agent_id)
    task_id = format_id(prefix, number)
    skips = 0
    # An id already used elsewhere (e.g. a task imported under that identifier) is skipped, never reused.
    while tx.backlog_task_find(task_id) is not None:
        skips += 1
        if skips > MAX_ID_SKIPS:
            raise Conflict(f"cannot find a free id for agent {agent_id}")
        task_id = format_id(prefix, tx.counter_next(counter_name(agent_id)))
    spec = task_ops.TaskSpec(
        title=title, description=description, priority=bs.to_rank(priority), owner_kind=AGENT_KIND,
        owner_ref=agent_id, identifier=task_id, source=SOURCE,
    )
    task, _ = task_ops.create_task(tx, ctx, spec)
    return task


@dataclass
class Patch:
    """A PATCH body: each field is None when absent (``blocker_set`` tells an explicit null)."""

    status: str | None = None
    priority: int | None = None
    title: str | None = None
    description: str | None = None
    blocker: str | None = None
    blocker_set: bool = False
    result: Any = None
    result_set: bool = False
    reopen: bool = False


def change(tx: Tx, ctx: Ctx, agent_id: str, task_ref: str, patch: Patch) -> Row:
    """Apply a PATCH. Raising anywhere rolls the whole change back."""
    task = load_task(tx, ctx, agent_id, task_ref)
    task_id = task["id"]
    target = _target_status(task, patch)
    blocker = patch.blocker or task["blocker"]
    current = bs.from_core(task["status"])
    if current in bs.CLOSED and target is not None and target != current:
        if not patch.reopen:
            raise Conflict(
                f"task {task['identifier']} is {current}: to change its status, reopen it with "
                '{"status": "queued", "reopen": true}'
            )
        task = _reopen(tx, ctx, task)
        current = bs.from_core(task["status"])

    fields: Row = {}
    for name in ("title", "description"):
        if getattr(patch, name) is not None:
            fields[name] = getattr(patch, name)
    if patch.priority is not None:
        fields["priority"] = bs.to_rank(patch.priority)
    completing = target == bs.COMPLETE and current != bs.COMPLETE
    if patch.result_set and not completing:  # completing stores it on the run and the task
        fields["result"] = patch.result
    if fields:
        task = task_ops.update(tx, ctx, task_id, fields)

    if target is None or (target == current and target != bs.BLOCKED):
        return _fresh(tx, task_id)
    if target == bs.BLOCKED:
        if current == bs.BLOCKED and blocker == task["blocker"]:
            return _fresh(tx, task_id)
        if current == bs.IN_PROGRESS:
            # A blocked task is not claimable: the agent's run goes back to the queue, held.
            _release(tx, ctx, task, "blocked")
        task_ops.update(tx, ctx, task_id, {"blocker": blocker})
        return _fresh(tx, task_id)

    if current == bs.BLOCKED:
        task = _unblock(tx, ctx, task)
        current = bs.from_core(task["status"])
    if target == bs.QUEUED:
        if current == bs.IN_PROGRESS:
            _release(tx, ctx, task, "moved back to queued")
        return _fresh(tx, task_id)
    if current == bs.QUEUED:
        task = _start(tx, ctx, task, agent_id)
    if target == bs.COMPLETE:
        result = patch.result if patch.result_set else loads(task["result"])
        _complete(tx, ctx, task, result)
    return _fresh(tx, task_id)


def _target_status(task: Row, patch: Patch) -> str | None:
    """The status the PATCH asks for, after checking status and blocker agree."""
    blocker = patch.blocker if patch.blocker_set else None
    if patch.status == bs.BLOCKED:
        if patch.blocker_set and not blocker:
            raise InvalidInput("blocker must not be empty when status is blocked")
        if not blocker and not task["blocker"]:
            raise InvalidInput("status blocked needs a blocker: the reason the task is blocked")
        return bs.BLOCKED
    if patch.status is not None:
        if blocker:
            raise InvalidInput(f"blocker can be set only with status blocked, not {patch.status}")
        return patch.status
    if patch.blocker_set:
        if blocker:
            return bs.BLOCKED
        # Clearing the blocker un-blocks a task a person blocked.
        return bs.QUEUED if task["status"] == "blocked" and task["blocker"] else None
    if patch.reopen:
        return bs.QUEUED
    return None


def _fresh(tx: Tx, task_id: str) -> Row:
    task = tx.task_get(task_id)
    assert task is not None
    return task


def _reopen(tx: Tx, ctx: Ctx, task: Row) -> Row:
    """A closed task starts over: queued again with a fresh attempt budget; started, completed,
    result and blocker are cleared (earlier runs keep their history)."""
    changes: Row = {
        "closed_at": None, "started_at": None, "result": None, "error": None,
        "blocker": None, "blocked_reason": None,
        "attempt_limit": int(task["attempts"]) + int(task["max_attempts"]),
    }
    reopened = move_task(tx, ctx, task["id"], TaskStatus.READY, "task.reopened", changes=changes,
                         payload={"from": task["status"]}, only_from=TASK_TERMINAL)
    if reopened is None:
        raise Conflict(f"task {task['identifier']} changed while reopening: try again")
    return refresh(tx, ctx, reopened)


def _unblock(tx: Tx, ctx: Ctx, task: Row) -> Row:
    """Clear a person's blocker. Still blocked (dependencies, approval, input) is a conflict."""
    if task["blocker"]:
        task = task_ops.update(tx, ctx, task["id"], {"blocker": None})
    if task["status"] == "blocked":
        why = bs.BLOCKED_BECAUSE.get(task["blocked_reason"] or "", "blocked")
        raise Conflict(f"task {task['identifier']} cannot leave blocked: it is {why}")
    return task


def _start(tx: Tx, ctx: Ctx, task: Row, agent_id: str) -> Row:
    """queued → in_progress without an agent claim: hold the task's run for the agent."""
    if task["status"] == "pending":
        task = task_ops.activate(tx, ctx, task)
        if task["status"] == "blocked":
            raise Conflict(f"task {task['identifier']} cannot start: it is "
                           f"{bs.BLOCKED_BECAUSE.get(task['blocked_reason'] or '', 'blocked')}")
    run = tx.open_run_of_task(task["id"])
    if run is None:
        run = enqueue_run(tx, ctx, _fresh(tx, task["id"]))
    started = move_task(
        tx, ctx, task["id"], TaskStatus.IN_PROGRESS, "run.claimed", changes={"started_at": Coalesce(ctx.now)},
        run_id=run["id"], payload={"attempt": run["attempt"], "on_behalf_of": agent_id, "manual": True},
        only_from=(TaskStatus.READY,),
    )
    claimed = move_run(tx, run["id"], RunStatus.CLAIMED, {
        "claimed_at": ctx.now, "claimed_by_kind": AGENT_KIND, "claimed_by_ref": agent_id,
        "lease_until": ctx.now + MANUAL_LEASE_SECONDS, "lease_seconds": MANUAL_LEASE_SECONDS,
        "heartbeat_at": ctx.now, "available_at": ctx.now, "last_event_type": "run.claimed",
        "last_activity_at": ctx.now,
    }, only_from=(RunStatus.QUEUED,))
    if started is None or claimed is None:
        raise Conflict(f"task {task['identifier']} changed while starting it: try again")
    return started


def _release(tx: Tx, ctx: Ctx, task: Row, reason: str) -> None:
    """in_progress → queued: the live run goes back to the queue; the attempt is not spent."""
    run = tx.open_run_of_task(task["id"])
    if run is None or run["status"] not in LIVE:
        raise Conflict(f"task {task['identifier']} has no run in progress")
    move_run(tx, run["id"], RunStatus.QUEUED, released_run_changes(ctx), only_from=RUN_LIVE)
    released = move_task(tx, ctx, task["id"], TaskStatus.READY, "run.released", run_id=run["id"],
                         payload={"reason": reason}, only_from=(TaskStatus.IN_PROGRESS,))
    if released is None:
        raise Conflict(f"task {task['identifier']} changed while releasing it: try again")


def _complete(tx: Tx, ctx: Ctx, task: Row, result: Any) -> None:
    """in_progress → complete: close the live run and the task with the result."""
    run = tx.open_run_of_task(task["id"])
    if run is None or run["status"] not in LIVE:
        raise Conflict(f"task {task['identifier']} has no run in progress")
    move_run(tx, run["id"], RunStatus.COMPLETED, {
        "ended_at": ctx.now, "result": dumps(result), "started_at": Coalesce(ctx.now),
        "last_event_type": "run.completed", "last_activity_at": ctx.now,
    }, only_from=RUN_LIVE)
    done = move_task(
        tx, ctx, task["id"], TaskStatus.COMPLETED, "run.completed",
        changes={"closed_at": ctx.now, "result": dumps(result), "blocked_reason": None, "error": None},
        run_id=run["id"], payload={"attempt": run["attempt"], "manual": True},
        only_from=(TaskStatus.IN_PROGRESS,),
    )
    if done is None:
        raise Conflict(f"task {task['identifier']} changed while completing it: try again")
    refresh_dependents(tx, ctx, task["id"])


def delete(tx: Tx, ctx: Ctx, agent_id: str, task_ref: str) -> str:
    """Delete permanently. A task in progress is refused (move it to queued or complete it first)."""
    task = load_task(tx, ctx, agent_id, task_ref)
    if task["status"] == "in_progress":
        raise Conflict(f"task {task['identifier']} is in progress: move it back to queued or complete it first")
    task_ops.delete(tx, ctx, task["id"])
    return str(task["identifier"])
