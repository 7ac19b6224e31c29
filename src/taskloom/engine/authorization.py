"""Who may do what: the role rules of every API family, in one place (docs/authorization.md).

Roles: ``admin`` may do everything; ``member`` (people) may create, change, approve and
cancel work in the workspaces they see, but not delete or manage keys; ``agent`` may create
work, claim it and act on runs it holds, and change or cancel only work it holds, owns or
submitted. Workspace scoping comes first and is not here: a caller never sees (404) what
lies outside its workspaces.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from taskloom.domain.actors import Actor
from taskloom.domain.errors import Forbidden
from taskloom.engine.context import Ctx, load_visible_task, then
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

T = TypeVar("T")


def is_person(actor: Actor) -> bool:
    """Members and admins: people, who supervise the work of every agent they can see."""
    return actor.role in ("admin", "member")


def _is(actor: Actor, kind: str | None, ref: str | None) -> bool:
    return (kind, ref) == (actor.kind, actor.ref)


def owns_or_created(actor: Actor, task: Row) -> bool:
    return _is(actor, task["owner_kind"], task["owner_ref"]) or _is(actor, task["created_by_kind"],
                                                                     task["created_by_ref"])


def holds(actor: Actor, run: Row | None) -> bool:
    """The caller holds the run's current claim."""
    return run is not None and _is(actor, run["claimed_by_kind"], run["claimed_by_ref"])


def require_admin(actor: Actor, action: str) -> None:
    if not actor.is_admin:
        raise Forbidden(f"only admins may {action}")


def require_not_agent(actor: Actor, action: str) -> None:
    if actor.role == "agent":
        raise Forbidden(f"agents may not {action}")


def check_may_change_task(actor: Actor, task: Row, action: str = "change") -> None:
    """People may change any task they see; an agent only tasks it owns or created (a backlog
    task is owned by its backlog's agent)."""
    if actor.role != "agent" or owns_or_created(actor, task):
        return
    name = task.get("identifier") or task["id"]
    raise Forbidden(f"agents may {action} only tasks they own or created; {name} is not yours")


def check_may_act_on_work(actor: Actor, task: Row | None, run: Row | None, action: str) -> None:
    """Cancel a run or task, or answer a run's question: for the agent holding the run, the
    task's submitter or owner, and people (members, admins) of its workspace. Another agent
    may not touch it, queued or live."""
    if is_person(actor) or holds(actor, run) or (task is not None and owns_or_created(actor, task)):
        return
    what = f"run {run['id']}" if run is not None else f"task {task['id'] if task else '?'}"
    raise Forbidden(f"agents may {action} only work they hold, own or submitted; {what} is not yours")


def check_may_change(tx: Tx, ctx: Ctx, task_id: str) -> None:
    """``check_may_change_task`` for a task by id (NotFound when the caller cannot see it)."""
    if ctx.actor.role == "agent":
        check_may_change_task(ctx.actor, load_visible_task(tx, ctx, task_id))


def when_may_change(task_id: str, op: Callable[[Tx, Ctx], T]) -> Callable[[Tx, Ctx], T]:
    """``op``, run only once ``check_may_change`` let the caller change the task (same transaction)."""
    return then(lambda tx, ctx: check_may_change(tx, ctx, task_id), op)
