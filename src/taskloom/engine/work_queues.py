"""Work-queue operations (seed 000) on the core engine.

A queue is a named network channel of one team: its id (``wq_...``) is the
``network_channel`` of its tasks, and the team is the tasks' workspace. A
queue task is an ordinary core task (``wt_...``, source ``work_queue``), so
dequeue is the engine's claim, complete/fail are the engine's run operations
(with its retry policy), and the lease rescuer takes back what a vanished
agent held. Only the queue names live in a table of their own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from taskloom.domain.actors import Actor
from taskloom.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from taskloom.domain.priority import from_scale
from taskloom.domain.projections import wq_status
from taskloom.domain.states import TASK_TERMINAL
from taskloom.engine import runs as run_ops
from taskloom.engine.budgets import BudgetExhausted
from taskloom.engine.context import Ctx, dumps, load_visible_task, loads, new_id, record
from taskloom.engine.lifecycle import LIVE, cancel_tree
from taskloom.engine.tasks import TaskSpec, create_task
from taskloom.rows import Row
from taskloom.storage.protocols import LockMode, Tx

PRIORITY_LOWEST, PRIORITY_HIGHEST, PRIORITY_DEFAULT = 1, 5, 3
DEFAULT_LEASE_SECONDS = 300.0
SOURCE = "work_queue"


@dataclass
class QueueTask:
    """A core task as this API sees it: the row, its latest run, its work-queue status."""

    task: Row
    run: Row | None
    status: str
    claim_token: str | None = None


def _view(tx: Tx, ctx: Ctx, task: Row, token: str | None = None) -> QueueTask:
    run = tx.latest_runs_of_tasks([task["id"]]).get(task["id"])
    return QueueTask(task=task, run=run, status=wq_status(task, ctx.now), claim_token=token)


# -- queues ---------------------------------------------------------------------------


def load_queue(tx: Tx, ctx: Ctx, queue_id: str, *, lock: LockMode | None = None) -> Row:
    queue = tx.wq_get(queue_id, lock=lock)
    if queue is None or not ctx.actor.sees_workspace(queue["team_id"]):
        raise NotFound(f"work queue {queue_id} not found")
    return queue


def create_queue(tx: Tx, ctx: Ctx, name: str, team_id: str) -> tuple[Row, dict[str, int]]:
    name, team_id = name.strip(), team_id.strip()
    if not name:
        raise InvalidInput("name must not be empty")
    if not team_id:
        raise InvalidInput("teamId must not be empty")
    if ctx.actor.role == "agent":
        raise Forbidden("agents may not create work queues")
    if not ctx.actor.sees_workspace(team_id):
        raise Forbidden(f"you may not create work queues for team {team_id}")
    row = {
        "id": new_id("wq"), "name": name, "team_id": team_id, "created_by_kind": ctx.actor.kind,
        "created_by_ref": ctx.actor.ref, "created_at": ctx.now, "updated_at": ctx.now,
    }
    queue = tx.wq_insert(row)
    if queue is None:
        raise Conflict(f"team {team_id} already has a work queue named {name!r}")
    return queue, tx.wq_status_counts([queue["id"]], ctx.now)[queue["id"]]


def list_queues(tx: Tx, ctx: Ctx, team_id: str | None, *, limit: int, offset: int
                ) -> list[tuple[Row, dict[str, int]]]:
    queues = tx.wq_list(team_id, ctx.actor.workspaces, limit=limit, offset=offset)
    counts = tx.wq_status_counts([q["id"] for q in queues], ctx.now)
    return [(q, counts[q["id"]]) for q in queues]


def get_queue(tx: Tx, ctx: Ctx, queue_id: str) -> tuple[Row, dict[str, int]]:
    queue = load_queue(tx, ctx, queue_id)
    return queue, tx.wq_status_counts([queue_id], ctx.now)[queue_id]


def delete_queue(tx: Tx, ctx: Ctx, queue_id: str, *, force: bool) -> list[str]:
    """Delete a queue. Refused while it has pending or assigned tasks unless ``force``,
    which cancels them (with their runs) first. Closed tasks stay, as history.
    Returns the ids of the tasks canceled."""
    queue = load_queue(tx, ctx, queue_id, lock="update")
    mine = (queue["created_by_kind"], queue["created_by_ref"]) == (ctx.actor.kind, ctx.actor.ref)
    if not ctx.actor.is_admin and not (mine and ctx.actor.role != "agent"):
        raise Forbidden("only admins and the queue's creator may delete a work queue")
    open_ids = tx.wq_open_task_ids(queue_id, ctx.now)
    if open_ids and not force:
        counts = tx.wq_status_counts([queue_id], ctx.now)[queue_id]
        raise Conflict(
            f"work queue {queue_id} still has {counts['pending']} pending and {counts['assigned']} assigned"
            " tasks: finish them, or delete with ?force=true to cancel them"
        )
    reason = f"work queue {queue_id} deleted"
    for task_id in open_ids:
        task = tx.task_get(task_id, for_update=True)
        if task is not None and task["status"] not in TASK_TERMINAL:
            cancel_tree(tx, ctx, task, reason)
    tx.wq_delete(queue_id)
    return open_ids


# -- tasks --------------------------------------------------------------------------


def add_task(tx: Tx, ctx: Ctx, queue_id: str, *, name: str, priority: int, payload: Any,
             deadline: float | None, max_attempts: int) -> QueueTask:
    if not name.strip():
        raise InvalidInput("name must not be empty")
    if not PRIORITY_LOWEST <= priority <= PRIORITY_HIGHEST:
        raise InvalidInput(f"priority must be between {PRIORITY_LOWEST} and {PRIORITY_HIGHEST}")
    if deadline is not None and deadline <= ctx.now:
        raise InvalidInput("deadline must be in the future")
    # A share lock: a concurrent delete of the queue waits for this task (and then sees it).
    queue = load_queue(tx, ctx, queue_id, lock="share")
    spec = TaskSpec(
        title=name,
        scope="workspace",
        workspace_id=queue["team_id"],
        priority=from_scale(priority, lowest=PRIORITY_LOWEST, highest=PRIORITY_HIGHEST),
        metadata=payload,
        max_attempts=max_attempts,
        network_channel=queue_id,
        deadline=deadline,
        source=SOURCE,
    )
    task, _ = create_task(tx, ctx, spec)
    return _view(tx, ctx, task)


def list_tasks(tx: Tx, ctx: Ctx, queue_id: str, *, status: str | None, limit: int, offset: int
               ) -> list[QueueTask]:
    load_queue(tx, ctx, queue_id)
    rows = tx.wq_tasks(queue_id, ctx.now, status=status, limit=limit, offset=offset)
    runs = tx.latest_runs_of_tasks([r["id"] for r in rows])
    return [QueueTask(task=r, run=runs.get(r["id"]), status=r["wq_status"]) for r in rows]


def load_queue_task(tx: Tx, ctx: Ctx, task_id: str, *, for_update: bool = False) -> Row:
    """A task that is (or was) in a work queue; other core tasks are not this API's."""
    try:
        task = load_visible_task(tx, ctx, task_id, for_update=for_update)
    except NotFound:
        raise NotFound(f"work-queue task {task_id} not found") from None
    channel = task["network_channel"]
    if task["source"] != SOURCE and (channel is None or tx.wq_get(channel) is None):
        raise NotFound(f"work-queue task {task_id} not found")
    return task


def get_task(tx: Tx, ctx: Ctx, task_id: str) -> QueueTask:
    return _view(tx, ctx, load_queue_task(tx, ctx, task_id))


# -- dequeue and steal ----------------------------------------------------------------


def assignee(caller: Actor, agent_id: str | None) -> Actor:
    """Who a dequeue assigns to. An agent dequeues for itself; people and automations
    (dispatchers) name the agent with ``agentId``."""
    agent_id = agent_id.strip() if agent_id else None
    if caller.role == "agent":
        if agent_id and agent_id != caller.ref:
            raise Forbidden(f"agents may take work only for themselves: agentId must be {caller.ref!r}")
        return caller
    if not agent_id:
        raise InvalidInput("agentId is required")
    return Actor(kind="agent_session", ref=agent_id, role="agent", workspaces=caller.workspaces)


def _as(ctx: Ctx, agent: Actor) -> Ctx:
    if agent == ctx.actor:
        return ctx
    # Acting for an agent: the events name the agent, the origin names who asked.
    return replace(ctx, actor=agent, origin_ref=f"{ctx.actor.kind}:{ctx.actor.ref}")


def _claim_from(tx: Tx, actx: Ctx, queue_id: str, lease_seconds: float) -> run_ops.Claim | None:
    """Claim the queue's best run through the engine's claim path (same guards, same events)."""
    filters: Row = {"assignee": actx.actor.ref, "visible_workspaces": actx.actor.workspaces}
    skip: list[str] = []
    for _ in range(5):
        candidate = tx.wq_next_run(queue_id, actx.now, filters, skip)
        if candidate is None:
            return None
        claim = run_ops.claim_next(
            tx, actx, run_ops.ClaimFilters(network_channel=queue_id, task_ids=[candidate["task_id"]]),
            lease_seconds, None,
        )
        if claim is not None:
            return claim
        skip.append(candidate["id"])  # e.g. its concurrency key became busy: take the next one
    return None


def dequeue(tx: Tx, ctx: Ctx, queue_id: str, agent_id: str | None, lease_seconds: float) -> QueueTask | None:
    """Assign the queue's most urgent pending task (then earliest deadline, then oldest)."""
    load_queue(tx, ctx, queue_id)
    actx = _as(ctx, assignee(ctx.actor, agent_id))
    claim = _claim_from(tx, actx, queue_id, lease_seconds)
    if claim is None:
        return None
    return QueueTask(task=claim.task, run=claim.run, status="assigned", claim_token=claim.token)


def steal(tx: Tx, ctx: Ctx, queue_id: str, agent_id: str | None, lease_seconds: float) -> QueueTask | None:
    """Take the most urgent pending task of the team's most loaded other queue into ``queue_id``."""
    queue = load_queue(tx, ctx, queue_id)
    actx = _as(ctx, assignee(ctx.actor, agent_id))
    filters: Row = {"assignee": actx.actor.ref, "visible_workspaces": actx.actor.workspaces}
    spent: BudgetExhausted | None = None
    for source in tx.wq_steal_sources(queue["team_id"], queue_id, ctx.now, filters):
        try:
            claim = _claim_from(tx, actx, source["queue_id"], lease_seconds)
        except BudgetExhausted as exc:  # that queue's channel budget is spent: try the next
            spent = spent or exc
            continue
        if claim is None:
            continue  # everything there is being taken right now: try the next most loaded
        task, run = _move(tx, actx, claim, source["queue_id"], queue_id)
        return QueueTask(task=task, run=run, status="assigned", claim_token=claim.token)
    if spent is not None:
        raise spent
    return None


def _move(tx: Tx, ctx: Ctx, claim: run_ops.Claim, source: str, target: str) -> tuple[Row, Row]:
    """The stolen task now belongs to the thief's queue and records where it came from."""
    ext = loads(claim.task["ext"])
    ext = dict(ext) if isinstance(ext, dict) else {}
    ext.update(stolen_from=source, stolen_by=ctx.actor.ref, stolen_at=ctx.now)
    task = record(tx, ctx, claim.task["id"], {"network_channel": target, "ext": dumps(ext)},
                  "work_queue.task_stolen", run_id=claim.run["id"],
                  payload={"from_queue": source, "to_queue": target, "agent_id": ctx.actor.ref})
    run = tx.run_update(claim.run["id"], {"network_channel": target})
    assert task is not None and run is not None
    return task, run


# -- complete, fail, heartbeat ----------------------------------------------------------


def _assigned_run(tx: Tx, ctx: Ctx, task_id: str, action: str) -> tuple[Row, Ctx]:
    """The task's live run and a context that acts as its holder, or the error saying why not."""
    task = load_queue_task(tx, ctx, task_id, for_update=True)
    run = tx.open_run_of_task(task_id)
    caller = ctx.actor
    if run is None or run["status"] not in LIVE:
        status = wq_status(task, ctx.now)
        held_before = any(r["claimed_by_ref"] == caller.ref for r in tx.runs_of_task(task_id))
        why = " (your assignment lapsed and was taken back)" if held_before and status == "pending" else ""
        raise Conflict(f"cannot {action} task {task_id}: it is {status}, not assigned{why}")
    if caller.is_admin:
        return run, ctx
    if caller.role == "agent" and caller.ref == run["claimed_by_ref"]:
        holder = Actor(kind=run["claimed_by_kind"], ref=run["claimed_by_ref"], role="agent",
                       workspaces=caller.workspaces)
        return run, replace(ctx, actor=holder)
    if any(r["claimed_by_ref"] == caller.ref for r in tx.runs_of_task(task_id)):
        raise Conflict(f"cannot {action} task {task_id}: your assignment lapsed and it is now assigned to"
                       f" {run['claimed_by_ref']}")
    raise Forbidden(f"task {task_id} is assigned to {run['claimed_by_ref']}: only that agent or an admin may"
                    f" {action} it")


def _repeated(tx: Tx, task_id: str, status: str, key: str | None) -> bool:
    if not key:
        return False
    return any(r["status"] == status and r["terminal_key"] == key for r in tx.runs_of_task(task_id))


def complete(tx: Tx, ctx: Ctx, task_id: str, result: Any, idempotency_key: str | None) -> QueueTask:
    if not _repeated(tx, task_id, "completed", idempotency_key):
        run, actx = _assigned_run(tx, ctx, task_id, "complete")
        run_ops.complete_run(tx, actx, run["id"], result=result, idempotency_key=idempotency_key,
                             claim_token=None, usage=None)
    return get_task(tx, ctx, task_id)


def fail(tx: Tx, ctx: Ctx, task_id: str, error: str, *, retryable: bool, idempotency_key: str | None
         ) -> QueueTask:
    """Fail the assignment. The engine's retry policy queues the next attempt while
    attempts remain (the task is pending again); after the last it stays failed."""
    if not error.strip():
        raise InvalidInput("error must not be empty")
    if not _repeated(tx, task_id, "failed", idempotency_key):
        run, actx = _assigned_run(tx, ctx, task_id, "fail")
        run_ops.fail_run(tx, actx, run["id"], error=error, idempotency_key=idempotency_key, claim_token=None,
                         retryable=retryable)
    return get_task(tx, ctx, task_id)


def heartbeat(tx: Tx, ctx: Ctx, task_id: str, lease_seconds: float | None, progress: Any) -> QueueTask:
    """Extend the assignment's lease (by ``lease_seconds``, or by the length it was given)."""
    run, actx = _assigned_run(tx, ctx, task_id, "extend the lease of")
    run_ops.heartbeat(tx, actx, run["id"], lease_seconds=lease_seconds, claim_token=None, usage=None,
                      progress=progress)
    return get_task(tx, ctx, task_id)
