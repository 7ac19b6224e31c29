"""What every engine operation needs: the time, who is acting, and small helpers."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

from taskloom.domain.actors import Actor
from taskloom.domain.errors import InvalidInput, NotFound
from taskloom.domain.states import IllegalTransition
from taskloom.rows import EventRow, Row
from taskloom.storage.protocols import Tx

T = TypeVar("T")

if TYPE_CHECKING:
    from taskloom.engine.budgets import BudgetPresence

# Called with (tx, ctx, task, event_type, run_id, payload) after every event is appended,
# inside the same transaction: transactional side effects such as the webhook outbox. The
# composition root (api/app.py: create_app) hands them to the Engine, which puts them on
# every Ctx; nothing registers itself on import.
EventHook = Callable[["Tx", "Ctx", Row, str, "str | None", Any], None]


@dataclass(frozen=True)
class Ctx:
    now: float
    actor: Actor
    origin_kind: str = "http"
    origin_ref: str | None = None
    hooks: tuple[EventHook, ...] = ()
    budgets: BudgetPresence | None = None  # whether any budget exists, per process (engine/budgets.py)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


def new_claim_token() -> tuple[str, str]:
    """A claim token (shown once) and the hash we keep."""
    token = "ct_" + secrets.token_urlsafe(24)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def dumps(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in a request's JSON
        raise InvalidInput(f"invalid JSON value: {exc}") from exc


def loads(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


def load_visible_task(tx: Tx, ctx: Ctx, task_id: str, *, for_update: bool = False) -> Row:
    """The task, or NotFound when it does not exist or lies outside the caller's workspaces."""
    task = tx.task_get(task_id, for_update=for_update)
    if task is None or not ctx.actor.sees_workspace(task["workspace_id"]):
        raise NotFound(f"task {task_id} not found")
    return task


def record(
    tx: Tx,
    ctx: Ctx,
    task_id: str,
    changes: Row,
    event_type: str,
    *,
    run_id: str | None = None,
    payload: Any = None,
) -> Row | None:
    """Change a task (never its status: see ``engine.transitions.move_task``) and append the
    event that says so, in the same transaction. Returns the updated task, or None if it is gone."""
    if "status" in changes:
        raise IllegalTransition("a task's status changes only through engine.transitions.move_task")
    return write_task(tx, ctx, task_id, changes, event_type, run_id=run_id, payload=payload)


def write_task(tx: Tx, ctx: Ctx, task_id: str, changes: Row, event_type: str, *, run_id: str | None = None,
               payload: Any = None, expect_status: Sequence[str] | None = None) -> Row | None:
    """The task update and its event. The update bumps the per-task sequence; the event takes
    that number. Returns the updated task, or None if ``expect_status`` did not match."""
    changes = {**changes, "updated_at": ctx.now, "last_activity_at": ctx.now}
    task = tx.task_update(task_id, changes, expect_status=expect_status)
    if task is None:
        return None
    tx.event_insert(event_row(ctx, task_id, task["event_seq"], event_type, run_id, payload))
    run_hooks(tx, ctx, task, event_type, run_id, payload)
    return task


def run_hooks(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
    """The event hooks, once a task change and its event are written."""
    for hook in ctx.hooks:
        hook(tx, ctx, task, event_type, run_id, payload)


def event_row(ctx: Ctx, task_id: str, sequence: int, event_type: str, run_id: str | None, payload: Any) -> EventRow:
    """The event a task change appends: its sequence is the task's ``event_seq`` after the change."""
    return {
        "task_id": task_id,
        "sequence": sequence,
        "run_id": run_id,
        "event_type": event_type,
        "actor_kind": ctx.actor.kind,
        "actor_ref": ctx.actor.ref,
        "origin_kind": ctx.origin_kind,
        "origin_ref": ctx.origin_ref,
        "payload": dumps(payload),
        "created_at": ctx.now,
    }


def then(first: Callable[[Tx, Ctx], object], answer: Callable[[Tx, Ctx], T]) -> Callable[[Tx, Ctx], T]:
    """One operation of two steps, in one transaction: ``first`` (a check or a change), then ``answer``,
    whose result it returns. Lets a caller outside the engine compose operations without naming ``Tx``."""
    def both(tx: Tx, ctx: Ctx) -> T:
        first(tx, ctx)
        return answer(tx, ctx)

    return both
