"""Operations on tasks: create, update, publish/start, approvals, dependencies, cancel, delete, triage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from taskloom.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unprocessable
from taskloom.domain.key_limits import key_limit_columns, rate_limit_of
from taskloom.domain.states import TASK_TERMINAL, TaskStatus
from taskloom.domain.task_ids import looks_like_identifier, new_uuid
from taskloom.engine.context import Ctx, dumps, event_row, load_visible_task, record
from taskloom.engine.lifecycle import (
    LIVE,
    assignee_of,
    blocking_reason,
    cancel_tree,
    new_run_row,
    refresh,
)
from taskloom.engine.transitions import move_task
from taskloom.rows import EventRow, Row
from taskloom.storage.protocols import Tx


@dataclass
class TaskSpec:
    """Everything a new task may carry. Each API fills the fields it speaks."""

    title: str
    description: str = ""
    scope: str | None = None
    workspace_id: str | None = None
    priority: int = 50
    owner_kind: str | None = None
    owner_ref: str | None = None
    parent_task_id: str | None = None
    metadata: Any = None
    max_attempts: int = 3
    approval_policy: str = "none"
    draft: bool = False
    start: bool = True
    network_channel: str | None = None
    dependencies: list[str] = field(default_factory=list)
    backoff_strategy: str = "exponential_jitter"
    backoff_seconds: float = 1.0
    timeout_seconds: float | None = None
    deadline: float | None = None
    dedupe_key: str | None = None
    concurrency_key: str | None = None
    concurrency_limit: int = 1
    rate_limit: Row | None = None  # {key, per_minute}
    required_capabilities: list[str] | None = None
    task_id: str | None = None
    identifier: str | None = None
    source: str = "runtime"
    ext: Any = None


def id_of_identifier(tx: Tx, ctx: Ctx, identifier: str) -> str | None:
    """The id of the visible task with this identifier, if any."""
    task = tx.task_get_by_identifier(identifier)
    return task["id"] if task is not None and ctx.actor.sees_workspace(task["workspace_id"]) else None


def task_ref(tx: Tx, ctx: Ctx, ref: str) -> str:
    """A task id given in a body as an id or as an identifier: the id."""
    return (id_of_identifier(tx, ctx, ref) or ref) if looks_like_identifier(ref) else ref


def create_task(tx: Tx, ctx: Ctx, spec: TaskSpec) -> tuple[Row, Row | None]:
    """Create a task and, if it is ready, queue its first run. Returns (task, run)."""
    row = new_task_row(tx, ctx, spec)
    if plain(spec):
        tasks, runs = create_ready(tx, ctx, [row], [spec.source])
        return tasks[0], runs[0]
    return create_general(tx, ctx, spec, row)


def new_task_row(tx: Tx, ctx: Ctx, spec: TaskSpec, number: int | None = None) -> Row:
    """The new task's row as first inserted (draft or pending), after checking ``spec``; it
    takes the task's identifier number (``number``: one the caller already took)."""
    if not spec.title or not spec.title.strip():
        raise InvalidInput("title must not be empty")
    scope = spec.scope or ("workspace" if spec.workspace_id else "global")
    if scope == "workspace" and not spec.workspace_id:
        raise InvalidInput("workspace_id is required when scope is 'workspace'")
    if scope == "global" and spec.workspace_id:
        raise InvalidInput("workspace_id must be empty when scope is 'global'")
    if not ctx.actor.sees_workspace(spec.workspace_id):
        raise Forbidden(f"you may not create tasks in workspace {spec.workspace_id}")
    if spec.parent_task_id is not None:
        spec.parent_task_id = task_ref(tx, ctx, spec.parent_task_id)
        load_visible_task(tx, ctx, spec.parent_task_id)
    spec.dependencies = [task_ref(tx, ctx, d) for d in spec.dependencies]
    for dep in spec.dependencies:
        load_visible_task(tx, ctx, dep)
    task_id = spec.task_id or new_uuid()  # a fresh UUID cannot exist already
    if spec.task_id and tx.task_get(task_id) is not None:
        raise Conflict(f"task {task_id} already exists")
    identifier = spec.identifier or f"TL-{tx.task_identifier_next() if number is None else number}"
    if spec.identifier and tx.task_get_by_identifier(spec.identifier) is not None:
        raise Conflict(f"identifier {spec.identifier} is already taken")
    approval_state = "pending" if spec.approval_policy == "required" else "not_required"
    status = TaskStatus.DRAFT if spec.draft else TaskStatus.PENDING
    row: Row = {
        "id": task_id,
        "identifier": identifier,
        "title": spec.title.strip(),
        "description": spec.description or "",
        "status": status.value,
        "priority": spec.priority,
        "scope": scope,
        "workspace_id": spec.workspace_id,
        "owner_kind": spec.owner_kind,
        "owner_ref": spec.owner_ref,
        "created_by_kind": ctx.actor.kind,
        "created_by_ref": ctx.actor.ref,
        "origin_kind": ctx.origin_kind,
        "origin_ref": ctx.origin_ref,
        "parent_task_id": spec.parent_task_id,
        "network_channel": spec.network_channel,
        "metadata": dumps(spec.metadata),
        "approval_policy": spec.approval_policy,
        "approval_state": approval_state,
        "draft": 1 if spec.draft else 0,
        "max_attempts": spec.max_attempts,
        "attempt_limit": spec.max_attempts,
        "attempts": 0,
        "backoff_strategy": spec.backoff_strategy,
        "backoff_seconds": spec.backoff_seconds,
        "deadline": spec.deadline,
        "timeout_seconds": spec.timeout_seconds,
        "dedupe_key": spec.dedupe_key,
        "concurrency_key": spec.concurrency_key,
        **key_limit_columns(spec.concurrency_limit, spec.rate_limit),
        "required_capabilities": dumps(spec.required_capabilities),
        "source": spec.source,
        "ext": dumps(spec.ext),
        "event_seq": 0,
        "created_at": ctx.now,
        "updated_at": ctx.now,
        "last_activity_at": ctx.now,
    }
    return row


def create_general(tx: Tx, ctx: Ctx, spec: TaskSpec, row: Row) -> tuple[Row, Row | None]:
    """Insert the task, then let the lifecycle decide: activate it (ready or blocked) or leave it."""
    task_id = row["id"]
    tx.task_insert(row)
    for dep in spec.dependencies:
        tx.dependency_insert(task_id, dep, "blocks", ctx.now)
    task = record(tx, ctx, task_id, {}, "task.created", payload={"title": row["title"], "source": spec.source})
    assert task is not None
    if not spec.draft and spec.start:
        task = activate(tx, ctx, task)
    return task, tx.open_run_of_task(task_id)


def plain(spec: TaskSpec) -> bool:
    """A task nothing can block at creation: it becomes ready with its first run queued."""
    return spec.start and not spec.draft and spec.approval_policy != "required" and not spec.dependencies


def create_ready(tx: Tx, ctx: Ctx, rows: list[Row], sources: list[str], *,
                 stored_runs: bool = True) -> tuple[list[Row], list[Row]]:
    """The general path's outcome for plain tasks (``new_task_row`` rows), written directly:
    each task inserted in the state it ends in (ready, first attempt queued), its run, and the
    same three events (task.created, task.activated, run.queued) with the same sequences,
    payloads and hooks. Multi-row INSERTs for many tasks (batch create); for one it saves three
    task updates and four reads. A test compares both paths row by row. ``stored_runs=False``:
    the runs are not read back (batch create answers with the tasks only) and [] is returned."""
    finals, runs = [], []
    for row in rows:
        run = new_run_row(ctx, row)  # the row has attempts 0, as the activated task has
        finals.append({**row, "status": TaskStatus.READY.value, "draft": 0, "attempts": 1, "event_seq": 3})
        runs.append(run)
    tasks = tx.tasks_insert_many(finals)
    if stored_runs:
        written = tx.runs_insert_returning(runs)
    else:
        tx.runs_insert_many(runs)
        written = []
    events: list[EventRow] = []
    for row, source, run in zip(rows, sources, runs, strict=True):
        task_id = row["id"]
        events += (event_row(ctx, task_id, 1, "task.created", None, {"title": row["title"], "source": source}),
                   event_row(ctx, task_id, 2, "task.activated", None, None),
                   event_row(ctx, task_id, 3, "run.queued", run["id"], {"attempt": 1}))
    tx.events_insert_many(events)
    if ctx.hooks:
        # Each hook sees the task as it was after each event: the columns the first two steps
        # changed differ from the stored (final) row, nothing else does.
        for task, row, source, run in zip(tasks, rows, sources, runs, strict=True):
            steps = ((_before_queued(task, row["status"], row["draft"], 1), "task.created", None,
                      {"title": row["title"], "source": source}),
                     (_before_queued(task, TaskStatus.READY.value, 0, 2), "task.activated", None, None),
                     (task, "run.queued", run["id"], {"attempt": 1}))
            for state, event, run_id, payload in steps:
                for hook in ctx.hooks:
                    hook(tx, ctx, state, event, run_id, payload)
    return tasks, written


def _before_queued(task: Row, status: str, draft: int, event_seq: int) -> Row:
    """A new task as it was before its first run was queued (a copy, keys set in place: a third
    of the cost of ``task | {...}``)."""
    state = task.copy()
    state["status"], state["draft"], state["attempts"], state["event_seq"] = status, draft, 0, event_seq
    return state


def activate(tx: Tx, ctx: Ctx, task: Row) -> Row:
    """Leave draft/pending: become blocked or ready (queueing the first run)."""
    task = move_task(tx, ctx, task["id"], TaskStatus.READY, "task.activated", changes={"draft": 0}) or task
    return refresh(tx, ctx, task)


def publish(tx: Tx, ctx: Ctx, task_id: str) -> tuple[Row, Row | None]:
    task = load_visible_task(tx, ctx, task_id)
    if task["status"] != TaskStatus.DRAFT:
        raise Conflict(f"task {task_id} is not a draft (status {task['status']})")
    task = record(tx, ctx, task_id, {"draft": 0}, "task.published") or task
    task = activate(tx, ctx, task)
    return task, tx.open_run_of_task(task_id)


def start(tx: Tx, ctx: Ctx, task_id: str) -> tuple[Row, Row | None]:
    """Start a pending task (or a draft: publishing it). A task already queued or running is a conflict."""
    task = load_visible_task(tx, ctx, task_id)
    if task["status"] == TaskStatus.DRAFT:
        return publish(tx, ctx, task_id)
    if task["status"] != TaskStatus.PENDING:
        raise Conflict(f"task {task_id} cannot be started from status {task['status']}")
    task = activate(tx, ctx, task)
    return task, tx.open_run_of_task(task_id)


def enqueue(tx: Tx, ctx: Ctx, task_id: str) -> tuple[Row, Row]:
    """Queue one more run explicitly (re-run). A closed task is reopened with a fresh attempt budget."""
    task = load_visible_task(tx, ctx, task_id)
    if task["status"] == TaskStatus.DRAFT:
        raise Conflict(f"task {task_id} is a draft: publish it first")
    if task["approval_state"] in ("pending", "rejected"):
        raise Conflict(f"task {task_id} is not approved (approval_state {task['approval_state']})")
    if tx.open_run_of_task(task_id) is not None:
        raise Conflict(f"task {task_id} already has a queued or live run")
    reason = blocking_reason(tx, task)
    if reason is not None:
        raise Conflict(f"task {task_id} is blocked ({reason}): unblock it first")
    changes: Row = {"closed_at": None, "attempt_limit": int(task["attempts"]) + task["max_attempts"]}
    event = "task.reopened" if task["status"] in TASK_TERMINAL else "task.enqueued"
    task = move_task(tx, ctx, task_id, TaskStatus.READY, event, changes=changes) or task
    refresh(tx, ctx, task)
    run = tx.open_run_of_task(task_id)
    assert run is not None
    return tx.task_get(task_id) or task, run


def approve(tx: Tx, ctx: Ctx, task_id: str, comment: str | None = None) -> tuple[Row, Row | None]:
    task = load_visible_task(tx, ctx, task_id)
    if task["approval_state"] != "pending":
        raise Conflict(f"task {task_id} is not awaiting approval (approval_state {task['approval_state']})")
    approved = record(tx, ctx, task_id, {"approval_state": "approved"}, "task.approved", payload={"comment": comment})
    assert approved is not None
    task = refresh(tx, ctx, approved)
    return task, tx.open_run_of_task(task_id)


def reject(tx: Tx, ctx: Ctx, task_id: str, reason: str | None = None) -> Row:
    task = load_visible_task(tx, ctx, task_id)
    if task["approval_state"] != "pending":
        raise Conflict(f"task {task_id} is not awaiting approval (approval_state {task['approval_state']})")
    return cancel_tree(tx, ctx, task, reason or "rejected", event_type="task.rejected",
                       root_changes={"approval_state": "rejected"})


def cancel(tx: Tx, ctx: Ctx, task_id: str, reason: str | None = None) -> Row:
    task = load_visible_task(tx, ctx, task_id)
    if task["status"] in TASK_TERMINAL:
        raise Conflict(f"task {task_id} is already {task['status']}")
    return cancel_tree(tx, ctx, task, reason or "canceled")


UPDATABLE = {
    "title", "description", "priority", "owner_kind", "owner_ref", "metadata", "network_channel", "max_attempts",
    "blocker", "deadline", "timeout_seconds", "concurrency_key", "required_capabilities", "ext", "result",
    "backoff_strategy", "backoff_seconds", "concurrency_limit", "rate_limit",
}


def update(tx: Tx, ctx: Ctx, task_id: str, changes: Row) -> Row:
    """Apply field changes; queued runs follow priority/channel/owner; a blocker blocks the task."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise InvalidInput(f"fields cannot be updated: {sorted(unknown)}")
    task = load_visible_task(tx, ctx, task_id)
    if "title" in changes and not (changes["title"] or "").strip():
        raise InvalidInput("title must not be empty")
    stored = dict(changes)
    if "concurrency_limit" in stored or "rate_limit" in stored:
        limits = key_limit_columns(stored.pop("concurrency_limit", task["concurrency_limit"]),
                                   stored.pop("rate_limit") if "rate_limit" in stored else rate_limit_of(task))
        stored.update(limits if "rate_limit" in changes else {"concurrency_limit": limits["concurrency_limit"]})
    for key in ("metadata", "required_capabilities", "ext", "result"):
        if key in stored:
            stored[key] = dumps(stored[key])
    if "max_attempts" in stored:
        stored["attempt_limit"] = int(task["attempt_limit"]) - int(task["max_attempts"]) + int(stored["max_attempts"])
    updated = record(tx, ctx, task_id, stored, "task.updated", payload={"fields": sorted(changes)})
    assert updated is not None
    task = updated
    run = tx.open_run_of_task(task_id)
    if run is not None and run["status"] == "queued":
        follow = {
            "priority": task["priority"],
            "network_channel": task["network_channel"],
            "assignee": assignee_of(task),
            "concurrency_key": task["concurrency_key"],
            "concurrency_limit": task["concurrency_limit"],
            "rate_limit_key": task["rate_limit_key"],
            "rate_limit_per_minute": task["rate_limit_per_minute"],
            "required_capabilities": task["required_capabilities"],
            "deadline": task["deadline"],
        }
        tx.run_update(run["id"], follow, expect_status=["queued"])
    if "blocker" in changes:
        task = refresh(tx, ctx, task)
    return task


def delete(tx: Tx, ctx: Ctx, task_id: str) -> None:
    """Delete a task and its subtree. Refused while any of them has a live run or open dependents."""
    load_visible_task(tx, ctx, task_id)
    subtree = tx.task_subtree(task_id)
    ids = {t["id"] for t in subtree}
    live = tx.open_runs_of_tasks(list(ids))
    if any(r["status"] in LIVE for r in live.values()):
        raise Conflict(f"task {task_id} (or a descendant) has a live run: cancel it first")
    for node in subtree:
        for dependent_id in tx.dependents_of(node["id"]):
            dependent = tx.task_get(dependent_id)
            if dependent_id not in ids and dependent is not None and dependent["status"] not in TASK_TERMINAL:
                raise Conflict(f"task {dependent['id']} depends on {node['id']}: remove the dependency first")
    tx.task_delete(task_id)


def add_dependency(tx: Tx, ctx: Ctx, task_id: str, depends_on: str, kind: str = "blocks") -> Row:
    task = load_visible_task(tx, ctx, task_id)
    depends_on = task_ref(tx, ctx, depends_on)
    load_visible_task(tx, ctx, depends_on)
    if task_id == depends_on:
        raise Unprocessable(f"dependency cycle: {task_id} -> {task_id}")
    path = tx.dependency_path(depends_on, task_id)
    if path is not None:
        cycle = " -> ".join([task_id, *path])
        raise Unprocessable(f"dependency cycle: {cycle}")
    if not tx.dependency_insert(task_id, depends_on, kind, ctx.now):
        raise Conflict(f"task {task_id} already depends on {depends_on}")
    task = record(tx, ctx, task_id, {}, "task.dependency_added", payload={"depends_on_task_id": depends_on}) or task
    return refresh(tx, ctx, task)


def remove_dependency(tx: Tx, ctx: Ctx, task_id: str, depends_on: str) -> Row:
    task = load_visible_task(tx, ctx, task_id)
    if not tx.dependency_delete(task_id, depends_on):
        raise NotFound(f"task {task_id} does not depend on {depends_on}")
    task = record(tx, ctx, task_id, {}, "task.dependency_removed", payload={"depends_on_task_id": depends_on}) or task
    return refresh(tx, ctx, task)


def triage(tx: Tx, ctx: Ctx, task_id: str, action: str) -> Row:
    """Per-caller inbox state: read (up to the task's latest activity), dismiss, archive."""
    task = load_visible_task(tx, ctx, task_id)
    current = tx.triage_get(ctx.actor.kind, ctx.actor.ref, task_id) or {}
    row = {
        "actor_kind": ctx.actor.kind,
        "actor_ref": ctx.actor.ref,
        "task_id": task_id,
        "read": 1,
        "dismissed": 1 if action == "dismiss" else int(current.get("dismissed") or 0),
        "archived": 1 if action == "archive" else int(current.get("archived") or 0),
        "last_seen_activity_at": task["last_activity_at"],
        "updated_at": ctx.now,
    }
    return tx.triage_upsert(row)


def set_awaiting_input(tx: Tx, ctx: Ctx, task: Row, awaiting: bool, *, run_id: str | None, payload: Any) -> Row:
    """Mark (or clear) a task as blocked on a human's input (used by the agent-tasks API)."""
    if awaiting:
        return move_task(tx, ctx, task["id"], TaskStatus.BLOCKED, "task.awaiting_input",
                         changes={"blocked_reason": "awaiting_input"}, run_id=run_id, payload=payload) or task
    task = record(tx, ctx, task["id"], {"blocked_reason": None}, "task.input_received", run_id=run_id,
                  payload=payload) or task
    return refresh(tx, ctx, task)

