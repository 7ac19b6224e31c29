"""Messages on a run's coordination channel, and what they do.

Every message is a row of ``coordination_messages`` and a ``task.message`` event on the
task's timeline and stream. Seed 002's awaiting input is the same mechanism: a ``question``
from the agent holding a live run makes its task wait for input (the lease is renewed, as
by a heartbeat); an ``answer`` from anyone else while it waits lets it run again.
"""

from __future__ import annotations

from taskloom.domain.channels import MESSAGE_KINDS, channel_id
from taskloom.domain.errors import Conflict, InvalidInput, Unprocessable
from taskloom.domain.states import RUN_LIVE, RunStatus
from taskloom.engine import tasks as task_ops
from taskloom.engine.authorization import check_may_act_on_work
from taskloom.engine.context import Ctx, load_visible_task, new_id, record
from taskloom.engine.lifecycle import LIVE
from taskloom.engine.runs import load_visible_run
from taskloom.engine.transitions import move_run
from taskloom.rows import Row
from taskloom.storage.protocols import Tx


def is_claimer(ctx: Ctx, run: Row) -> bool:
    return (run["claimed_by_kind"], run["claimed_by_ref"]) == (ctx.actor.kind, ctx.actor.ref)


def _awaiting(task: Row) -> bool:
    return bool(task["status"] == "blocked" and task["blocked_reason"] == "awaiting_input")


def check_may_post(ctx: Ctx, run: Row, task: Row) -> None:
    """The claimer, the task's owner or submitter, and people (members, admins) who see its workspace."""
    check_may_act_on_work(ctx.actor, task, run, "post on the channel of")


def append(tx: Tx, ctx: Ctx, run: Row, task: Row, kind: str, body: str, *, role: str | None = None
           ) -> tuple[Row, Row]:
    """Store one message and its event, then apply its effect on awaiting input. (message, task)
    ``role`` is the agent's side (the claimer's) or the people's (anyone else) unless given."""
    role = role or ("agent" if is_claimer(ctx, run) else "user")
    msg = tx.message_insert({
        "id": new_id("msg"), "task_id": task["id"], "run_id": run["id"], "role": role, "kind": kind, "body": body,
        "sender_kind": ctx.actor.kind, "sender_ref": ctx.actor.ref, "created_at": ctx.now,
    })
    tx.run_update(run["id"], {"channel_activity_at": ctx.now})
    ref = {"message_id": msg["id"], "sequence": msg["sequence"]}
    task = record(tx, ctx, task["id"], {}, "task.message", run_id=run["id"], payload={
        **ref, "channel_id": channel_id(run["id"]), "kind": kind, "role": role, "body": body}) or task
    live = run["status"] in LIVE
    if kind == "question" and role == "agent" and live and task["status"] == "in_progress":
        seconds = float(run["lease_seconds"] or 300)
        move_run(tx, run["id"], RunStatus.RUNNING, {"lease_until": ctx.now + seconds, "heartbeat_at": ctx.now,
                                                    "last_event_type": "run.awaiting_input",
                                                    "last_activity_at": ctx.now}, only_from=RUN_LIVE)
        task = task_ops.set_awaiting_input(tx, ctx, task, True, run_id=run["id"],
                                           payload={**ref, "role": role, "question": body})
    elif kind == "answer" and role == "user" and live and _awaiting(task):
        task = task_ops.set_awaiting_input(tx, ctx, task, False, run_id=run["id"], payload=ref)
    return msg, task


def post(tx: Tx, ctx: Ctx, run_id: str, kind: str, body: str) -> tuple[Row, Row]:
    """POST /api/task-runs/{id}/messages. (message, run)"""
    if kind not in MESSAGE_KINDS:
        raise Unprocessable(f"kind {kind!r} is not allowed on this channel; allowed: {', '.join(MESSAGE_KINDS)}")
    if not body.strip():
        raise InvalidInput("body must not be empty")
    run = load_visible_run(tx, ctx, run_id, for_update=True)
    task = tx.task_get(run["task_id"], for_update=True)
    assert task is not None
    check_may_post(ctx, run, task)
    msg, _ = append(tx, ctx, run, task, kind, body)
    return msg, tx.run_get(run_id) or run


def messages(tx: Tx, ctx: Ctx, run_id: str, after: int, limit: int) -> tuple[Row, list[Row]]:
    """The run and its channel's messages after a sequence."""
    run = load_visible_run(tx, ctx, run_id)
    return run, tx.messages_of_run(run_id, after_sequence=after, limit=limit)


def answer_question(tx: Tx, ctx: Ctx, task_id: str, text: str) -> tuple[Row, Row]:
    """An ``answer`` on the channel of the task's live run, as ``post`` takes it (same rule on
    who may post); refused when no question is open. (the task, the run)"""
    task = load_visible_task(tx, ctx, task_id)
    run = tx.open_run_of_task(task_id)
    if run is None or (task["status"], task["blocked_reason"]) != ("blocked", "awaiting_input"):
        raise Conflict(f"task {task_id} has no open question to answer (status {task['status']})")
    if is_claimer(ctx, run):
        raise Conflict(f"you asked the question on task {task_id}: a person answers it (wait_for_answer)")
    post(tx, ctx, run["id"], "answer", text)
    return tx.task_get(task_id) or task, run
