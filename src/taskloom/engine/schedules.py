"""Operations on scheduled tasks (seed 003).

A scheduled task is one core task (``source='schedule'``, a UUID id, the payload in
its metadata) plus a row in ``schedules``. Each firing reopens the core task and
enqueues one run of it, so agents claim it through the runtime API and it shows up
in the dashboard, timeline and stream like any other run. Retries of a firing are
the core retry policy (``max_attempts = max_retries + 1``; the backoff delay is on
the run). Rules the API reference documents:

- overlap: a task has at most one open run. A firing that comes due while the
  previous one is still open waits behind it (``schedule.queued_behind``) and is
  enqueued as soon as that run closes; further firings coalesce into the waiting one.
- dedupe: a firing (scheduled, ``run_now`` or event) of a task with ``dedupe_key`` is
  suppressed when any run with that key was queued within ``dedupe_window_seconds``
  (without a window: while a run with the key is still open).
- catch-up: a schedule found overdue fires once; the occurrences it slept through are
  counted in ``missed_firings``, not fired one by one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from taskloom.domain import schedules as sched_math
from taskloom.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from taskloom.domain.priority import from_scale
from taskloom.domain.states import TASK_TERMINAL, TaskStatus
from taskloom.engine import tasks as task_ops
from taskloom.engine.context import Ctx, dumps, event_row, loads, new_id, record
from taskloom.engine.engine import Engine
from taskloom.engine.lifecycle import cancel_tree, enqueue_run, new_run_row, refresh
from taskloom.engine.transitions import move_task
from taskloom.rows import EventRow, NewRun, Row
from taskloom.storage.protocols import Tx

MISSED_CAP = 1000


@dataclass
class ScheduleSpec:
    title: str
    description: str
    schedule_kind: str
    payload: Any
    created_by: str
    schedule_expr: str | None = None
    timezone: str | None = None
    priority: int = 5
    max_retries: int = 3
    backoff_strategy: str = "exponential_jitter"
    backoff_seconds: float = 10.0
    dedupe_key: str | None = None
    dedupe_window_seconds: float | None = None
    concurrency_key: str | None = None
    concurrency_limit: int = 1
    rate_limit: Row | None = None  # {key, per_minute}
    queue: str | None = None


def route_of(queue: str | None, payload: Any) -> str | None:
    """The network channel a firing's run is queued on: ``queue``, else ``payload.queue``."""
    if queue:
        return queue
    if isinstance(payload, dict) and isinstance(payload.get("queue"), str) and payload["queue"].strip():
        return str(payload["queue"]).strip()[:200]
    return None


def rank_of(priority: int) -> int:
    return from_scale(priority, lowest=9, highest=1)


# -- checked before the write ---------------------------------------------------------------


@dataclass(frozen=True)
class CheckedSchedule:
    """A schedule validated outside any transaction: what the write stores, and what it was
    checked against (``basis``: the stored kind/expr/timezone an update started from)."""

    kind: str
    expr: str | None
    timezone: str
    next_run_at: float | None
    anchor: float
    basis: tuple[Any, ...] | None = None


async def check(engine: Engine, kind: str, expr: str | None, timezone: str | None,
                basis: tuple[Any, ...] | None = None) -> CheckedSchedule:
    """Parse the schedule and find its first firing, bounded (see domain.schedules), in a worker
    thread and before the write: a costly rule never holds the writer or a transaction."""
    now = engine.clock.now()
    expr, tz_name, nxt = await asyncio.to_thread(sched_math.validate, kind, expr, timezone, now)
    return CheckedSchedule(kind, expr, tz_name, nxt, now, basis)


def _basis(sched: Row) -> tuple[Any, ...]:
    return (sched["kind"], sched["expr"], sched["timezone"])


async def check_update(engine: Engine, actor: Any, task_id: str, changes: Row) -> CheckedSchedule | None:
    """For an update that touches kind/expr/timezone: the merged schedule, checked before the write."""
    if not SCHEDULE_FIELDS & set(changes):
        return None
    _, sched = await engine.read(actor, lambda tx, ctx: load(tx, ctx, task_id))
    kind = changes.get("schedule_kind") or sched["kind"]
    expr = changes["schedule_expr"] if "schedule_expr" in changes else sched["expr"]
    if "schedule_kind" in changes and "schedule_expr" not in changes and kind != sched["kind"]:
        expr = None  # an expression of the old kind means nothing to the new one
    tz_name = changes.get("timezone") or (sched["timezone"] if "timezone" not in changes else None)
    return await check(engine, kind, expr, tz_name, basis=_basis(sched))


# -- create / read ------------------------------------------------------------------------


def create(tx: Tx, ctx: Ctx, spec: ScheduleSpec, checked: CheckedSchedule) -> tuple[Row, Row]:
    expr, tz_name, next_run_at = checked.expr, checked.timezone, checked.next_run_at
    task, _ = task_ops.create_task(tx, ctx, task_ops.TaskSpec(
        title=spec.title, description=spec.description, priority=rank_of(spec.priority), metadata=spec.payload,
        max_attempts=spec.max_retries + 1, start=False, network_channel=route_of(spec.queue, spec.payload),
        backoff_strategy=spec.backoff_strategy, backoff_seconds=spec.backoff_seconds, dedupe_key=spec.dedupe_key,
        concurrency_key=spec.concurrency_key, concurrency_limit=spec.concurrency_limit, rate_limit=spec.rate_limit,
        source="schedule",
        ext={"queue": spec.queue},
    ))
    row: Row = {
        "task_id": task["id"], "kind": spec.schedule_kind, "expr": expr, "timezone": tz_name, "status": "active",
        "created_by": spec.created_by, "anchor": checked.anchor, "next_run_at": next_run_at,
        "dedupe_window_seconds": spec.dedupe_window_seconds, "fire_count": 0, "missed_count": 0,
        "created_at": ctx.now, "updated_at": ctx.now,
    }
    tx.schedule_insert(row)
    task = record(tx, ctx, task["id"], {}, "schedule.created", payload={
        "schedule_kind": spec.schedule_kind, "schedule_expr": expr, "timezone": tz_name,
        "next_run_at": sched_math.iso(next_run_at)}) or task
    return task, tx.schedule_get(task["id"]) or row


def load(tx: Tx, ctx: Ctx, task_id: str, *, for_update: bool = False) -> tuple[Row, Row]:
    sched = tx.schedule_get(task_id, for_update=for_update)
    task = tx.task_get(task_id) if sched is not None else None
    if sched is None or task is None or not ctx.actor.sees_workspace(task["workspace_id"]):
        raise NotFound(f"scheduled task {task_id} not found")
    return task, sched


def _load_changeable(tx: Tx, ctx: Ctx, task_id: str, action: str) -> tuple[Row, Row]:
    task, sched = load(tx, ctx, task_id, for_update=True)
    creator = (task["created_by_kind"], task["created_by_ref"])
    if ctx.actor.role == "agent" and creator != (ctx.actor.kind, ctx.actor.ref):
        raise Forbidden(f"agents may {action} only scheduled tasks they created; {task_id} is not yours")
    if effective_status(task, sched) == "canceled":
        raise Conflict(f"scheduled task {task_id} is canceled: cannot {action} it (cancel is final)")
    return task, sched


def effective_status(task: Row, sched: Row) -> str:
    """active | paused | canceled. A core task canceled through another API cancels the schedule."""
    return "canceled" if task["status"] == "canceled" else str(sched["status"])


def listing(tx: Tx, ctx: Ctx, filters: Row, limit: int, offset: int) -> tuple[list[tuple[Row, Row]], int]:
    rows = tx.schedule_list(filters, limit=limit, offset=offset)
    tasks = tx.tasks_get_many([r["task_id"] for r in rows])
    pairs = [(tasks[r["task_id"]], r) for r in rows if r["task_id"] in tasks]
    return pairs, tx.schedule_count(filters)


# -- changes ------------------------------------------------------------------------------

CORE_FIELDS = {"title", "description", "priority", "max_retries", "backoff_strategy", "backoff_seconds",
               "concurrency_key", "concurrency_limit", "rate_limit", "payload", "queue", "dedupe_key"}
SCHEDULE_FIELDS = {"schedule_kind", "schedule_expr", "timezone"}


def update(tx: Tx, ctx: Ctx, task_id: str, changes: Row, checked: CheckedSchedule | None = None
           ) -> tuple[Row, Row]:
    """Apply only the given fields; a change of kind/expr/timezone takes the ``next_run_at``
    that ``check_update`` computed before the write."""
    task, sched = _load_changeable(tx, ctx, task_id, "update")
    sched_changes: Row = {}
    if SCHEDULE_FIELDS & set(changes):
        if checked is None or checked.basis != _basis(sched):
            raise Conflict(f"scheduled task {task_id}: its schedule changed while this update was checked; retry")
        sched_changes.update(kind=checked.kind, expr=checked.expr, timezone=checked.timezone, anchor=checked.anchor,
                             next_run_at=checked.next_run_at, snoozed_until=None, snooze_reason=None)
    if "created_by" in changes:
        sched_changes["created_by"] = changes["created_by"]
    if "dedupe_window_seconds" in changes:
        sched_changes["dedupe_window_seconds"] = changes["dedupe_window_seconds"]
    core: Row = {}
    for key in ("title", "description", "backoff_strategy", "backoff_seconds", "concurrency_key", "concurrency_limit",
                "rate_limit"):
        if key in changes:
            core[key] = changes[key]
    if "priority" in changes:
        core["priority"] = rank_of(changes["priority"])
    if "max_retries" in changes:
        core["max_attempts"] = changes["max_retries"] + 1
    if "payload" in changes:
        core["metadata"] = changes["payload"]
    if "queue" in changes or "payload" in changes:
        ext = loads(task["ext"]) or {}
        queue = changes["queue"] if "queue" in changes else ext.get("queue")
        payload = changes["payload"] if "payload" in changes else loads(task["metadata"])
        core["network_channel"] = route_of(queue, payload)
        core["ext"] = {**ext, "queue": queue}
    if core:
        task = task_ops.update(tx, ctx, task_id, core)
    if "dedupe_key" in changes:
        task = record(tx, ctx, task_id, {"dedupe_key": changes["dedupe_key"]}, "task.updated",
                      payload={"fields": ["dedupe_key"]}) or task
    if sched_changes:
        sched_changes["updated_at"] = ctx.now
        sched = tx.schedule_update(task_id, sched_changes) or sched
        task = record(tx, ctx, task_id, {}, "schedule.updated", payload={
            "fields": sorted(set(changes) & (SCHEDULE_FIELDS | {"created_by", "dedupe_window_seconds"})),
            "next_run_at": sched_math.iso(sched["next_run_at"])}) or task
    return task, sched


def pause(tx: Tx, ctx: Ctx, task_id: str) -> tuple[Row, Row]:
    """No scheduled or event firing until resumed; an open run goes on. Pausing twice is a no-op."""
    task, sched = _load_changeable(tx, ctx, task_id, "pause")
    if sched["status"] == "paused":
        return task, sched
    sched = tx.schedule_update(task_id, {"status": "paused", "waiting": None, "waiting_since": None,
                                         "updated_at": ctx.now}) or sched
    task = record(tx, ctx, task_id, {}, "schedule.paused") or task
    return task, sched


def resume(tx: Tx, ctx: Ctx, task_id: str) -> tuple[Row, Row]:
    """Back to active. Firings that fell in the pause are skipped, not caught up; a ``once``
    schedule whose time passed while paused (and never fired) fires at the next tick."""
    task, sched = _load_changeable(tx, ctx, task_id, "resume")
    if sched["status"] == "active":
        return task, sched
    if sched["snoozed_until"] is not None and sched["snoozed_until"] > ctx.now:
        nxt: float | None = sched["snoozed_until"]
    elif sched["kind"] == "once" and sched["last_fired_at"] is None:
        nxt = max(sched_math.parse_once(sched["expr"], sched_math.zone(sched["timezone"])), ctx.now)
    else:
        nxt = sched_math.next_fire(sched["kind"], sched["expr"], sched["timezone"], ctx.now, sched["anchor"])
    sched = tx.schedule_update(task_id, {"status": "active", "next_run_at": nxt, "updated_at": ctx.now}) or sched
    task = record(tx, ctx, task_id, {}, "schedule.resumed", payload={"next_run_at": sched_math.iso(nxt)}) or task
    return task, sched


def cancel(tx: Tx, ctx: Ctx, task_id: str, reason: str | None = None) -> tuple[Row, Row]:
    """Final: no more firings; queued and live runs are canceled with the core task."""
    task, sched = _load_changeable(tx, ctx, task_id, "cancel")
    sched = tx.schedule_update(task_id, {"status": "canceled", "next_run_at": None, "waiting": None,
                                         "waiting_since": None, "updated_at": ctx.now}) or sched
    why = reason or "scheduled task canceled"
    if task["status"] in TASK_TERMINAL:
        task = move_task(tx, ctx, task_id, TaskStatus.CANCELED, "task.canceled", changes={"closed_at": ctx.now},
                         payload={"reason": why}) or task
    else:
        task = cancel_tree(tx, ctx, task, why)
    return task, sched


def snooze(tx: Tx, ctx: Ctx, task_id: str, delay_seconds: int, reason: str | None) -> tuple[Row, Row]:
    """Shift the next firing by ``delay_seconds`` (event schedules ignore events until then)."""
    task, sched = _load_changeable(tx, ctx, task_id, "snooze")
    if sched["status"] != "active":
        raise Conflict(f"scheduled task {task_id} is {sched['status']}: resume it before snoozing")
    if sched["kind"] == "event":
        until = max(sched["snoozed_until"] or 0.0, ctx.now) + delay_seconds
        changes: Row = {"snoozed_until": until}
    else:
        if sched["next_run_at"] is None:
            raise Conflict(f"scheduled task {task_id} has no upcoming firing to snooze")
        until = float(sched["next_run_at"]) + delay_seconds
        changes = {"snoozed_until": until, "next_run_at": until}
    changes.update(snooze_reason=reason, updated_at=ctx.now)
    sched = tx.schedule_update(task_id, changes) or sched
    task = record(tx, ctx, task_id, {}, "schedule.snoozed", payload={
        "delay_seconds": delay_seconds, "reason": reason, "until": sched_math.iso(until)}) or task
    return task, sched


def run_now(tx: Tx, ctx: Ctx, task_id: str) -> Row:
    """One run now, outside the schedule (which is not touched). Works while paused."""
    task, sched = _load_changeable(tx, ctx, task_id, "run")
    firing = _firing("run_now", ctx.now)
    duplicate = _dedupe_hit(tx, ctx, task, sched)
    if duplicate is not None:
        record(tx, ctx, task_id, {}, "schedule.deduped", payload={**firing, "duplicate_of_run_id": duplicate["id"]})
        raise Conflict(
            f"dedupe_key {task['dedupe_key']!r}: run {duplicate['id']} already has this key within the dedupe window"
        )
    open_run = tx.open_run_of_task(task_id)
    if open_run is not None:
        raise Conflict(f"scheduled task {task_id} already has an open run ({open_run['id']}, {open_run['status']})")
    return _start_firing(tx, ctx, task, firing, None)


# -- firing -------------------------------------------------------------------------------


def _firing(trigger: str, scheduled_for: float, missed: int = 0) -> Row:
    firing: Row = {"id": new_id("firing"), "trigger": trigger, "scheduled_for": sched_math.iso(scheduled_for)}
    if missed:
        firing["missed_firings"] = min(missed, MISSED_CAP)
        if missed > MISSED_CAP:
            firing["missed_capped"] = True
    return firing


def _dedupe_hit(tx: Tx, ctx: Ctx, task: Row, sched: Row) -> Row | None:
    key = task["dedupe_key"]
    if not key:
        return None
    window = sched["dedupe_window_seconds"]
    return tx.dedupe_blocking_run(key, None if window is None else ctx.now - float(window))


def _start_firing(tx: Tx, ctx: Ctx, task: Row, firing: Row, event: Row | None) -> Row:
    """Reopen the core task with a fresh attempt budget and queue this firing's first run.
    One task update and one ``run.queued`` event (its payload names the firing)."""
    attempt = int(task["attempts"]) + 1
    firing = {**firing, "first_attempt": attempt}
    meta: Row = {"firing": firing}
    if event is not None:
        meta["event"] = event
    reopen: Row = {"closed_at": None, "error": None, "result": None, "blocked_reason": None,
                   "attempt_limit": int(task["attempts"]) + int(task["max_attempts"])}
    run = enqueue_run(tx, ctx, task, metadata=dumps(meta), task_changes=reopen, event_payload={"firing": firing},
                      move_to=TaskStatus.READY)
    if task["blocker"] or task["approval_state"] == "pending":
        refresh(tx, ctx, tx.task_get(task["id"]) or task)  # a hand-set blocker holds the run
    return run


def fire(tx: Tx, ctx: Ctx, task: Row, sched: Row, firing: Row, event: Row | None,
         open_run: Row | None) -> tuple[str, Row | None]:
    """Fire once: ('enqueued', run) | ('deduped', other run) | ('waiting', open run) | ('canceled', None)."""
    if task["status"] == "canceled":
        tx.schedule_update(task["id"], {"status": "canceled", "next_run_at": None, "waiting": None,
                                        "waiting_since": None, "updated_at": ctx.now})
        return "canceled", None
    duplicate = _dedupe_hit(tx, ctx, task, sched)
    if duplicate is not None:
        record(tx, ctx, task["id"], {}, "schedule.deduped", payload={**firing, "duplicate_of_run_id": duplicate["id"]})
        return "deduped", duplicate
    if open_run is not None:
        previous = loads(sched["waiting"])
        coalesced = 0 if previous is None else int(previous.get("coalesced", 0)) + 1
        waiting = {"firing": {**firing, "coalesced": coalesced} if coalesced else firing, "event": event}
        tx.schedule_update(task["id"], {"waiting": dumps(waiting),
                                        "waiting_since": sched["waiting_since"] or ctx.now})
        record(tx, ctx, task["id"], {}, "schedule.queued_behind",
               payload={**firing, "behind_run_id": open_run["id"], "coalesced": coalesced})
        return "waiting", open_run
    return "enqueued", _start_firing(tx, ctx, task, firing, event)


def fire_due(tx: Tx, ctx: Ctx, limit: int = 500) -> int:
    """Fire every schedule due at ``ctx.now`` (up to ``limit``); returns how many were claimed."""
    due_rows = tx.schedules_due(ctx.now, limit)
    if not due_rows:
        return 0
    # Schedules sharing (due, next, missed) are claimed with one guarded update.
    groups: dict[tuple[float, float | None, int], list[Row]] = {}
    # Many schedules share an expression and a due time: compute each answer once
    # (cron arithmetic is the dominant cost of a large firing batch).
    memo: dict[tuple[Any, ...], tuple[int, float | None]] = {}
    for sched in due_rows:
        due = float(sched["next_run_at"])
        kind, expr, tz_name, anchor = sched["kind"], sched["expr"], sched["timezone"], sched["anchor"]
        snoozed = sched["snoozed_until"] is not None and float(sched["snoozed_until"]) == due
        key = (kind, expr, tz_name, anchor, due, snoozed)
        if key not in memo:
            missed = 0 if snoozed else len(sched_math.occurrences_between(
                kind, expr, tz_name, due + 1e-6, ctx.now, anchor, cap=MISSED_CAP + 1))
            memo[key] = (missed, sched_math.next_fire(kind, expr, tz_name, ctx.now, anchor))
        missed, nxt = memo[key]
        groups.setdefault((due, nxt, missed), []).append(sched)
    ids = [r["task_id"] for r in due_rows]
    tasks = tx.tasks_get_many(ids)
    open_runs = tx.open_runs_of_tasks(ids)
    claimed = 0
    plain: list[tuple[Row, Row]] = []
    for (due, nxt, missed), rows in groups.items():
        # The guard (next_run_at still = due) makes each firing ours alone: another
        # scheduler that read the same due time finds next_run_at moved and skips it.
        won = tx.schedules_claim_firings([r["task_id"] for r in rows], due, nxt, ctx.now, missed)
        claimed += len(won)
        for sched in won:
            task = tasks.get(sched["task_id"])
            if task is None:
                continue
            firing = _firing("catch_up" if missed else "schedule", due, missed)
            if _plain(task, open_runs.get(task["id"])):
                plain.append((task, firing))
            else:
                fire(tx, ctx, task, sched, firing, None, open_runs.get(task["id"]))
    _start_plain_firings(tx, ctx, plain)
    return claimed


def _plain(task: Row, open_run: Row | None) -> bool:
    """A firing with nothing to decide: no dedupe key, no open run, nothing blocking."""
    return (not task["dedupe_key"] and open_run is None and task["status"] != "canceled"
            and not task["blocker"] and task["approval_state"] != "pending")


def _start_plain_firings(tx: Tx, ctx: Ctx, items: list[tuple[Row, Row]]) -> None:
    """``_start_firing`` for many plain firings at once: one task update, one batch of run
    inserts and one batch of events, instead of three statements per firing. The rows and
    events are the same as the one-by-one path writes."""
    if not items:
        return
    reopened = tx.schedule_tasks_reopen([task["id"] for task, _ in items], ctx.now)
    runs: list[NewRun] = []
    events: list[EventRow] = []
    for task, firing in items:
        fresh = reopened[task["id"]]
        firing = {**firing, "first_attempt": fresh["attempts"]}
        run = new_run_row(ctx, task, metadata=dumps({"firing": firing}))
        runs.append(run)
        events.append(event_row(ctx, task["id"], fresh["event_seq"], "run.queued", run["id"],
                                {"attempt": fresh["attempts"], "firing": firing}))
    tx.runs_insert_many(runs)
    tx.events_insert_many(events)
    for (task, _), run, event in zip(items, runs, events, strict=True):
        for hook in ctx.hooks:
            hook(tx, ctx, reopened[task["id"]], "run.queued", run["id"], loads(event["payload"]))


def release_waiting(tx: Tx, ctx: Ctx, limit: int = 500) -> int:
    """Enqueue waiting firings whose task's previous run has closed."""
    released = 0
    for sched in tx.schedules_waiting_ready(limit):
        won = tx.schedule_update(sched["task_id"], {"waiting": None, "waiting_since": None},
                                 guard={"waiting_since": sched["waiting_since"]})
        task = tx.task_get(sched["task_id"])
        if won is None or task is None:
            continue
        waiting = loads(sched["waiting"]) or {}
        fire(tx, ctx, task, won, waiting.get("firing") or _firing("schedule", ctx.now), waiting.get("event"), None)
        released += 1
    return released


def publish_event(tx: Tx, ctx: Ctx, event_type: str, payload: Any) -> Row:
    """Fire every active event schedule whose ``schedule_expr`` matches ``event_type``."""
    if not event_type or not event_type.strip():
        raise InvalidInput("type must not be empty")
    event = {"id": new_id("evt"), "type": event_type, "payload": payload, "received_at": sched_math.iso(ctx.now)}
    results = []
    for sched in tx.schedules_for_events():
        if not sched_math.event_matches(sched["expr"], event_type):
            continue
        task = tx.task_get(sched["task_id"])
        if task is None or not ctx.actor.sees_workspace(task["workspace_id"]):
            continue
        if sched["snoozed_until"] is not None and float(sched["snoozed_until"]) > ctx.now:
            record(tx, ctx, task["id"], {}, "schedule.skipped", payload={
                "reason": "snoozed", "event_id": event["id"], "snoozed_until": sched_math.iso(sched["snoozed_until"])})
            results.append({"task_id": task["id"], "outcome": "snoozed", "run_id": None})
            continue
        sched = tx.schedule_update(task["id"], {"last_fired_at": ctx.now, "fire_count": int(sched["fire_count"]) + 1,
                                                "snoozed_until": None, "snooze_reason": None}) or sched
        outcome, run = fire(tx, ctx, task, sched, {**_firing("event", ctx.now), "event_id": event["id"]},
                            {"id": event["id"], "type": event_type, "payload": payload},
                            tx.open_run_of_task(task["id"]))
        results.append({"task_id": task["id"], "outcome": outcome, "run_id": run["id"] if run else None})
    return {"event": event, "matched": results}


# -- retries keep their firing --------------------------------------------------------------


def carry_firing(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
    """A retry run (queued by the core with a backoff) keeps its firing and event payload."""
    if event_type != "run.queued" or task.get("source") != "schedule" or run_id is None:
        return
    if not isinstance(payload, dict) or "retry_delay_seconds" not in payload:
        return
    previous = tx.run_of_attempt(task["id"], int(payload["attempt"]) - 1)
    meta = (loads(previous["metadata"]) if previous else None) or {}
    meta.update(retry_delay_seconds=payload["retry_delay_seconds"],
                retry_of_run_id=previous["id"] if previous else None)
    tx.run_update(run_id, {"metadata": dumps(meta)})

