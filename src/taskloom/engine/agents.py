"""Seed 002: the agent registry and tasks submitted to a named agent.

A submitted task is an ordinary core task owned by ``agent_session:<agent id>``
(so only that agent's claim-next is handed its run), with ``source='agent_task'``
and one attempt: the seed's task is one execution, and a timeout fails it.
Delivery settings (poll or webhook, the URL and its signing secret) live in
``agent_tasks``; the conversation (the agent's questions, the user's messages) is the
run's coordination channel (engine/channels.py), each message an event in the timeline.
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from taskloom.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from taskloom.domain.priority import from_scale, to_scale
from taskloom.domain.projections import TERMINAL_NAMES, agent_task_state
from taskloom.domain.states import TASK_TERMINAL
from taskloom.domain.times import iso
from taskloom.engine import channels
from taskloom.engine import tasks as task_ops
from taskloom.engine.authorization import check_may_act_on_work
from taskloom.engine.context import Ctx, dumps, load_visible_task, loads
from taskloom.engine.lifecycle import LIVE
from taskloom.engine.runs import load_own_live_run, load_visible_run, not_live_reason
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

AGENT_STATES = ("active", "paused", "stopped", "error")
AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")




# -- the registry ----------------------------------------------------------------------


def agent_record(a: Row) -> Row:
    return {
        "id": a["id"],
        "name": a["name"],
        "team": a["team"],
        "description": a["description"],
        "capabilities": loads(a["capabilities"]) or [],
        "state": a["state"],
        "state_reason": a["state_reason"],
        "default_timeout_seconds": a["default_timeout_seconds"],
        "metadata": loads(a["metadata"]),
        "created_by": {"kind": a["created_by_kind"], "ref": a["created_by_ref"]},
        "created_at": iso(a["created_at"]),
        "updated_at": iso(a["updated_at"]),
    }


def get_agent(tx: Tx, agent_id: str, *, for_update: bool = False) -> Row:
    agent = tx.agent_get(agent_id, for_update=for_update)
    if agent is None:
        raise NotFound(f"agent {agent_id} not found")
    return agent


def register_agent(tx: Tx, ctx: Ctx, fields: Row) -> Row:
    agent_id = fields.get("id") or str(uuid.uuid4())
    if not AGENT_ID.match(agent_id):
        raise InvalidInput("id must be 1-128 letters, digits or . _ : @ - and start with a letter or digit")
    if tx.agent_get(agent_id) is not None:
        raise Conflict(f"agent {agent_id} already exists")
    row: Row = {
        "id": agent_id,
        "name": fields["name"].strip(),
        "team": fields.get("team"),
        "description": fields.get("description") or "",
        "capabilities": dumps(list(dict.fromkeys(fields.get("capabilities") or []))),
        "state": fields.get("state") or "active",
        "state_reason": fields.get("state_reason"),
        "default_timeout_seconds": fields.get("default_timeout_seconds"),
        "metadata": dumps(fields.get("metadata")),
        "created_by_kind": ctx.actor.kind,
        "created_by_ref": ctx.actor.ref,
        "created_at": ctx.now,
        "updated_at": ctx.now,
    }
    if not row["name"]:
        raise InvalidInput("name must not be empty")
    tx.agent_insert(row)
    return get_agent(tx, agent_id)


def update_agent(tx: Tx, ctx: Ctx, agent_id: str, changes: Row) -> Row:
    agent = get_agent(tx, agent_id, for_update=True)
    if ctx.actor.role == "agent" and ctx.actor.ref != agent_id:
        raise Forbidden(f"agents may update only their own registration; {agent_id} is not you")
    stored = dict(changes)
    if "name" in stored:
        if not (stored["name"] or "").strip():
            raise InvalidInput("name must not be empty")
        stored["name"] = stored["name"].strip()
    for key in ("capabilities", "metadata"):
        if key in stored:
            value = stored[key]
            stored[key] = dumps(list(dict.fromkeys(value or [])) if key == "capabilities" else value)
    if "description" in stored and stored["description"] is None:
        stored["description"] = ""
    if "state" in stored and stored["state"] is None:
        raise InvalidInput("state must be one of active, paused, stopped, error")
    if "state" in stored and "state_reason" not in stored and stored["state"] != agent["state"]:
        stored["state_reason"] = None  # a reason describes the state it was given with
    if not stored:
        return agent
    updated = tx.agent_update(agent_id, {**stored, "updated_at": ctx.now})
    assert updated is not None
    if updated["state"] == "active" and agent["state"] != "active":
        tx.notify(("runs", "*"))  # its queued work is claimable again: wake long-polling agents
    return updated


def delete_agent(tx: Tx, ctx: Ctx, agent_id: str, *, cancel_open_tasks: bool) -> int:
    """Remove a registration. Its open tasks must be closed first, or cancelled here."""
    get_agent(tx, agent_id, for_update=True)
    open_ids = tx.agent_open_task_ids(agent_id)
    if open_ids and not cancel_open_tasks:
        raise Conflict(f"agent {agent_id} has {len(open_ids)} open task(s): cancel them first"
                       " or pass ?cancel_open_tasks=true")
    for task_id in open_ids:
        task = tx.task_get(task_id)
        if task is not None and task["status"] not in TASK_TERMINAL:
            task_ops.cancel(tx, ctx, task_id, f"agent {agent_id} was deleted")
    tx.agent_delete(agent_id)
    return len(open_ids)


# -- tasks submitted to an agent --------------------------------------------------------------


@dataclass
class Submission:
    message: str
    priority: int = 5
    timeout_override: float | None = None
    metadata: Any = None
    callback_mode: str = "poll"
    webhook_url: str | None = None
    webhook_secret: str | None = None


def _title(message: str) -> str:
    first = message.strip().splitlines()[0].strip()
    return first if len(first) <= 120 else first[:119] + "…"


def submit_task(tx: Tx, ctx: Ctx, agent_id: str, sub: Submission, default_timeout: float) -> tuple[Row, Row]:
    """Queue a task for one agent. Returns (task, agent_tasks row); the row carries the secret."""
    agent = get_agent(tx, agent_id)
    if agent["state"] != "active":
        reason = f" ({agent['state_reason']})" if agent["state_reason"] else ""
        raise Unavailable(f"agent {agent_id} is unavailable: it is {agent['state']}{reason}")
    if not sub.message.strip():
        raise InvalidInput("message must not be empty")
    if sub.callback_mode == "webhook" and not sub.webhook_url:
        raise InvalidInput("webhook_url is required when callback_mode is 'webhook'")
    if sub.callback_mode == "poll" and (sub.webhook_url or sub.webhook_secret):
        raise InvalidInput("webhook_url and webhook_secret need callback_mode 'webhook'")
    timeout = sub.timeout_override or agent["default_timeout_seconds"] or default_timeout
    spec = task_ops.TaskSpec(
        title=_title(sub.message),
        description=sub.message,
        priority=from_scale(sub.priority, lowest=10, highest=1),
        owner_kind="agent_session",
        owner_ref=agent_id,
        metadata=sub.metadata,
        max_attempts=1,
        timeout_seconds=float(timeout) if timeout else None,
        required_capabilities=None,
        source="agent_task",
    )
    task, _ = task_ops.create_task(tx, ctx, spec)
    secret = None
    if sub.callback_mode == "webhook":
        secret = sub.webhook_secret or "whsec_" + secrets.token_urlsafe(32)
    row: Row = {
        "task_id": task["id"],
        "agent_id": agent_id,
        "callback_mode": sub.callback_mode,
        "webhook_url": sub.webhook_url if sub.callback_mode == "webhook" else None,
        "webhook_secret": secret,
        "created_at": ctx.now,
    }
    tx.agent_task_insert(row)
    return tx.task_get(task["id"]) or task, row


def load_agent_task(tx: Tx, ctx: Ctx, agent_id: str, task_id: str, *, for_update: bool = False) -> Row:
    """The task if it belongs to this (registered) agent; 404 otherwise."""
    get_agent(tx, agent_id)
    try:
        task = load_visible_task(tx, ctx, task_id, for_update=for_update)
    except NotFound:
        task = None
    if task is None or (task["owner_kind"], task["owner_ref"]) != ("agent_session", agent_id):
        raise NotFound(f"task {task_id} not found for agent {agent_id}")
    return task


def _live_run(tx: Tx, task_id: str) -> Row | None:
    run = tx.open_run_of_task(task_id)
    return run if run is not None and run["status"] in LIVE else None


def task_views(tx: Tx, tasks: list[Row]) -> list[Row]:
    """The seed's task representation, batched for lists."""
    ids = [t["id"] for t in tasks]
    settings = tx.agent_tasks_get_many(ids)
    open_runs = tx.open_runs_of_tasks(ids)
    latest = tx.latest_runs_of_tasks([i for i in ids if i not in open_runs])
    out = []
    for t in tasks:
        run = open_runs.get(t["id"]) or latest.get(t["id"])
        live = run is not None and run["status"] in LIVE
        state = agent_task_state(t, live)
        question = tx.last_question(t["id"]) if state == "awaiting_input" else None
        at = settings.get(t["id"])
        out.append({
            "task_id": t["id"],
            "agent_id": t["owner_ref"],
            "status": state,
            "message": t["description"] or t["title"],
            "priority": to_scale(int(t["priority"]), lowest=10, highest=1),
            "timeout_seconds": t["timeout_seconds"],
            "metadata": loads(t["metadata"]),
            "callback_mode": at["callback_mode"] if at else "poll",
            "webhook_url": at["webhook_url"] if at else None,
            "question": question["body"] if question else None,
            "result": loads(t["result"]) if state == "completed" else None,
            "error": _error_of(t, run, state),
            "run_id": run["id"] if run else None,
            "attempts": t["attempts"],
            "core": {"status": t["status"], "blocked_reason": t["blocked_reason"], "identifier": t["identifier"]},
            "created_at": iso(t["created_at"]),
            "started_at": iso(t["started_at"]),
            "updated_at": iso(t["updated_at"]),
            "completed_at": iso(t["closed_at"]),
        })
    return out


def _error_of(task: Row, run: Row | None, state: str) -> str | None:
    if state == "failed":
        return task["error"] or (run["error"] if run else None)
    if state == "cancelled":
        return run["error"] if run and run["status"] == "canceled" else "cancelled"
    return None


def task_view(tx: Tx, task: Row) -> Row:
    return task_views(tx, [task])[0]


def submitted_view(tx: Tx, pair: tuple[Row, Row]) -> tuple[Row, Row]:
    """``submit_task``'s (task, agent-task row) with the task as its view."""
    return task_view(tx, pair[0]), pair[1]


def message_answer(tx: Tx, pair: tuple[Row, Row]) -> Row:
    """``send_message``'s or ``ask``'s (message, task) as the API answers them."""
    msg, task = pair
    return {"message": message_record(msg), "task": task_view(tx, task)}


def cancel_agent_task(tx: Tx, ctx: Ctx, agent_id: str, task_id: str, reason: str | None) -> Row:
    task = load_agent_task(tx, ctx, agent_id, task_id, for_update=True)
    check_may_act_on_work(ctx.actor, task, _live_run(tx, task_id), "cancel")
    if task["status"] in TASK_TERMINAL:
        raise InvalidInput(f"task {task_id} cannot be cancelled: it is already {TERMINAL_NAMES[task['status']]}")
    return task_ops.cancel(tx, ctx, task_id, reason or f"cancelled by {ctx.actor.kind}:{ctx.actor.ref}")


def message_record(m: Row) -> Row:
    return {
        "id": m["id"],
        "task_id": m["task_id"],
        "sequence": m["sequence"],
        "role": m["role"],
        "kind": "question" if m["kind"] == "question" else "message",
        "message": m["body"],
        "run_id": m["run_id"],
        "sender": {"kind": m["sender_kind"], "ref": m["sender_ref"]},
        "created_at": iso(m["created_at"]),
    }


def send_message(tx: Tx, ctx: Ctx, agent_id: str, task_id: str, text: str) -> tuple[Row, Row]:
    """A user's message to a running task, on its run's coordination channel; when the task awaits
    input it is the answer and the task returns to running. Anything else is 409."""
    if not text.strip():
        raise InvalidInput("message must not be empty")
    task = load_agent_task(tx, ctx, agent_id, task_id, for_update=True)
    run = _live_run(tx, task_id)
    check_may_act_on_work(ctx.actor, task, run, "message or answer")
    state = agent_task_state(task, run is not None)
    if state not in ("running", "awaiting_input") or run is None:
        raise Conflict(f"task {task_id} is {state}: messages can be sent only to a running or awaiting_input task")
    return channels.append(tx, ctx, run, task, "answer" if state == "awaiting_input" else "note", text)


def ask(tx: Tx, ctx: Ctx, run_id: str, question: str, claim_token: str | None) -> tuple[Row, Row]:
    """The agent holding ``run_id`` asks a person a question (a ``question`` on the run's channel):
    the task waits for input (its run stays live; the lease is renewed, as by a heartbeat)."""
    if not question.strip():
        raise InvalidInput("question must not be empty")
    run = load_own_live_run(tx, ctx, run_id, claim_token, "ask for input on")
    task = tx.task_get(run["task_id"], for_update=True)
    assert task is not None
    if task["status"] == "blocked" and task["blocked_reason"] == "awaiting_input":
        raise Conflict(f"task {task['id']} is already awaiting input: wait for the answer")
    if task["status"] != "in_progress":
        raise Conflict(f"task {task['id']} is {task['status']}: only a running task can wait for input")
    return channels.append(tx, ctx, run, task, "question", question, role="agent")


def agent_messages(tx: Tx, ctx: Ctx, run_id: str, after: int, role: str | None) -> Row:
    """What the agent holding ``run_id`` reads: the conversation after a sequence, and its task's state.
    A run no longer live answers 409 with the reason (e.g. cancelled), like a heartbeat."""
    run = load_visible_run(tx, ctx, run_id)  # a read: no row lock
    mine = (run["claimed_by_kind"], run["claimed_by_ref"]) == (ctx.actor.kind, ctx.actor.ref)
    if not mine and not ctx.actor.is_admin:
        raise Forbidden(f"run {run_id} is not held by you")
    if run["status"] not in LIVE:
        raise Conflict(not_live_reason(run, "read messages of"))
    task = tx.task_get(run["task_id"])
    assert task is not None
    messages = tx.messages_of_task(task["id"], after_sequence=after, role=role)
    state = agent_task_state(task, True)
    return {
        "run_id": run_id,
        "task_id": task["id"],
        "status": state,
        "awaiting_input": state == "awaiting_input",
        "messages": [message_record(m) for m in messages],
    }


def task_messages(tx: Tx, ctx: Ctx, agent_id: str, task_id: str, after: int) -> list[Row]:
    load_agent_task(tx, ctx, agent_id, task_id)
    return [message_record(m) for m in tx.messages_of_task(task_id, after_sequence=after)]
