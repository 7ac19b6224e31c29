"""Operations on runs: claim, start, heartbeat, complete, fail, release, cancel, attach a session,
and taking back runs whose lease lapsed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskloom.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from taskloom.domain.key_limits import has_key_limits
from taskloom.domain.states import RUN_LIVE, RUN_OPEN, TASK_TERMINAL, RunStatus, TaskStatus
from taskloom.engine import budgets as budget_ops
from taskloom.engine import usage as usage_rollup
from taskloom.engine.authorization import check_may_act_on_work
from taskloom.engine.context import Ctx, dumps, hash_token, load_visible_task, new_claim_token, record
from taskloom.engine.lifecycle import (
    LIVE,
    OPEN,
    cancel_open_runs,
    canceled_run_changes,
    refresh,
    refresh_tasks,
    released_run_changes,
    settle_failed_run,
)
from taskloom.engine.transitions import (
    TaskMove,
    check_missed_move,
    move_run,
    move_task,
    move_tasks,
    run_step,
    stepped,
    task_step,
)
from taskloom.rows import Row, RunTake
from taskloom.storage.protocols import Coalesce, Tx

USAGE_FIELDS = ("input_tokens", "output_tokens", "total_cost", "cost_currency", "tool_call_count", "turn_count",
                "model", "provider")


@dataclass
class Claim:
    run: Row
    task: Row
    token: str


@dataclass
class ClaimFilters:
    network_channel: str | None = None
    workspace: str | None = None
    capabilities: list[str] | None = None
    min_priority: int | None = None
    task_ids: list[str] | None = None


def _lease_changes(ctx: Ctx, lease_seconds: float, session_id: str | None) -> tuple[Row, str]:
    token, token_hash = new_claim_token()
    changes: Row = {
        "claimed_at": ctx.now,
        "claimed_by_kind": ctx.actor.kind,
        "claimed_by_ref": ctx.actor.ref,
        "claim_token_hash": token_hash,
        "lease_until": ctx.now + lease_seconds,
        "lease_seconds": lease_seconds,
        "heartbeat_at": ctx.now,
        "last_event_type": "run.claimed",
        "last_activity_at": ctx.now,
    }
    if session_id:
        changes["session_id"] = session_id
    return changes, token


def _take(tx: Tx, ctx: Ctx, candidate: Row, lease_seconds: float, session_id: str | None,
          idempotency_key: str | None = None) -> Claim | None:
    task = move_task(
        tx, ctx, candidate["task_id"], TaskStatus.IN_PROGRESS, "run.claimed", changes={"started_at": Coalesce(ctx.now)},
        run_id=candidate["id"], payload={"attempt": candidate["attempt"], "lease_seconds": lease_seconds},
        only_from=(TaskStatus.READY,),
    )
    if task is None:
        # The run is queued but its task is not ready: hold the run so claims skip it
        # until the task's next refresh releases it.
        tx.run_update(candidate["id"], {"held": 1}, expect_status=("queued",))
        return None
    changes, token = _lease_changes(ctx, lease_seconds, session_id)
    if task["timeout_seconds"]:
        changes["timeout_at"] = ctx.now + float(task["timeout_seconds"])
    if idempotency_key:
        changes["idempotency_key"] = idempotency_key
    run = move_run(tx, candidate["id"], RunStatus.CLAIMED, changes, only_from=(RunStatus.QUEUED,))
    if run is None:
        raise Conflict(f"run {candidate['id']} is no longer queued")
    return Claim(run=run, task=task, token=token)


def _take_next(tx: Tx, ctx: Ctx, query: Row, lease_seconds: float, session_id: str | None) -> tuple[bool, Claim | None]:
    """The next candidate and ``_take`` of it in one storage call (one statement on PostgreSQL), with
    the same rows, events and hooks. (False, None): nothing claimable; (True, None): its task was
    not ready, so the run is held, as ``_take`` does."""
    changes, token = _lease_changes(ctx, lease_seconds, session_id)
    run_changes, run_expect = run_step(RunStatus.CLAIMED, changes, only_from=(RunStatus.QUEUED,))
    step = task_step(ctx, TaskStatus.IN_PROGRESS, "run.claimed", changes={"started_at": Coalesce(ctx.now)},
                     only_from=(TaskStatus.READY,), payload={"lease_seconds": lease_seconds})
    taken = tx.run_claim_take(ctx.now, query, RunTake(step, run_changes, run_expect, timeout_base=ctx.now))
    if taken is None:
        return False, None
    candidate = taken.candidate
    if taken.task is None:
        tx.run_update(candidate["id"], {"held": 1}, expect_status=("queued",))
        return True, None
    stepped(tx, ctx, step, taken.task, candidate)
    if taken.run is None:
        raise Conflict(f"run {candidate['id']} is no longer queued")
    return True, Claim(run=taken.run, task=taken.task, token=token)


def _take_many(tx: Tx, ctx: Ctx, candidates: list[Row], lease_seconds: float, session_id: str | None) -> list[Claim]:
    """``_take`` for the candidates of a claim-batch, set-based: one guarded task UPDATE, one
    multi-row event INSERT and one run UPDATE (named statement ``claim_take``) for all of them,
    with the same rows, events (per task, in order) and hooks as one ``_take`` each."""
    candidates = list({c["id"]: c for c in candidates}.values())  # each run once
    if len(candidates) < 2:
        return [c for c in (_take(tx, ctx, cand, lease_seconds, session_id) for cand in candidates) if c is not None]
    moved = move_tasks(
        tx, ctx, [TaskMove(c["task_id"], {}, c["id"], {"attempt": c["attempt"], "lease_seconds": lease_seconds})
                  for c in candidates],
        TaskStatus.IN_PROGRESS, "run.claimed", changes={"started_at": Coalesce(ctx.now)}, only_from=(TaskStatus.READY,))
    taking = []
    for candidate in candidates:
        if candidate["task_id"] in moved:
            taking.append(candidate)
        else:  # as in _take: its task is not ready, hold the run until the task's next refresh
            tx.run_update(candidate["id"], {"held": 1}, expect_status=("queued",))
    tokens = {c["id"]: new_claim_token() for c in taking}
    items = []
    for c in taking:
        timeout = moved[c["task_id"]]["timeout_seconds"]
        items.append({"id": c["id"], "token_hash": tokens[c["id"]][1],
                      "timeout_at": ctx.now + float(timeout) if timeout else None})
    runs = {r["id"]: r for r in tx.runs_claim_many(items, ctx.now, holder=(ctx.actor.kind, ctx.actor.ref),
                                                   lease_seconds=lease_seconds, session_id=session_id)}
    for c in taking:
        if c["id"] not in runs:
            raise Conflict(f"run {c['id']} is no longer queued")
    return [Claim(run=runs[c["id"]], task=moved[c["task_id"]], token=tokens[c["id"]][0]) for c in taking]


def claim_query(ctx: Ctx, filters: ClaimFilters, channel: str | None) -> Row:
    """What the claim statements filter on: the caller's filters plus who is asking."""
    return {
        "network_channel": channel,
        "workspace": filters.workspace,
        "capabilities": filters.capabilities,
        "min_priority": filters.min_priority,
        "assignee": ctx.actor.ref,
        "task_ids": filters.task_ids,
        "visible_workspaces": ctx.actor.workspaces,
    }


def claim_next(tx: Tx, ctx: Ctx, filters: ClaimFilters, lease_seconds: float, session_id: str | None) -> Claim | None:
    """Claim the most urgent, oldest claimable run visible to the caller."""
    claims = claim_many(tx, ctx, filters, 1, lease_seconds, session_id)
    return claims[0] if claims else None


def claim_many(tx: Tx, ctx: Ctx, filters: ClaimFilters, limit: int, lease_seconds: float,
               session_id: str | None) -> list[Claim]:
    """Claim up to ``limit`` runs in claim-next order; each claim is exactly what claim-next makes
    (a channel-limited API key: from its channels only, tried in order). A spent budget that
    covers the claim leaves it nothing (BudgetExhausted when nothing was claimed); one that
    covers only some channels or workspaces leaves those out."""
    claims: list[Claim] = []
    spent = budget_ops.spent_for_claims(tx, ctx)  # [] without a read while no budget exists
    stopped_by: Row | None = None
    for channel in ctx.actor.claim_channels(filters.network_channel):
        query = claim_query(ctx, filters, channel)
        if spent:
            blocked, leave_out = budget_ops.claim_limits(spent, ctx.actor.ref, channel, filters.workspace)
            if blocked is not None:
                stopped_by = stopped_by or blocked
                continue
            query.update(leave_out)
        claims += _claim_in(tx, ctx, query, limit - len(claims), lease_seconds, session_id)
        if len(claims) >= limit:
            break
    if not claims and stopped_by is not None:
        raise budget_ops.BudgetExhausted(stopped_by)
    return claims


def _claim_in(tx: Tx, ctx: Ctx, query: Row, limit: int, lease_seconds: float, session_id: str | None) -> list[Claim]:
    """A candidate whose task turned out not ready is held and replaced by the next one."""
    claims: list[Claim] = []
    for _ in range(3):
        want = limit - len(claims)
        if want == 1:
            found, claim = _take_next(tx, ctx, query, lease_seconds, session_id)
            claims += [claim] if claim is not None else []
            if claim is not None or not found:
                break
            continue
        candidates = tx.runs_claim_candidates(ctx.now, query, want)
        claims += _take_many(tx, ctx, candidates, lease_seconds, session_id)
        if len(claims) >= limit or len(candidates) < want:
            break
    return claims


def load_visible_run(tx: Tx, ctx: Ctx, run_id: str, *, for_update: bool = False) -> Row:
    run = tx.run_get(run_id, for_update=for_update)
    if run is None or not ctx.actor.sees_workspace(run["workspace_id"]):
        raise NotFound(f"run {run_id} not found")
    return run


def claim_run(tx: Tx, ctx: Ctx, run_id: str, lease_seconds: float, idempotency_key: str | None) -> Claim | Row:
    """Claim one named queued run. Repeating the same idempotency key returns the claim already made."""
    run = load_visible_run(tx, ctx, run_id, for_update=True)
    if run["status"] != "queued":
        if idempotency_key and run["idempotency_key"] == idempotency_key and _is_claimer(ctx, run):
            return run
        raise Conflict(f"run {run_id} is {run['status']}, not queued")
    if run["held"]:
        task = tx.task_get(run["task_id"])
        reason = task["blocked_reason"] if task else "blocked"
        raise Conflict(f"run {run_id} is not claimable: its task is blocked ({reason})")
    if run["available_at"] > ctx.now:
        raise Conflict(f"run {run_id} is waiting for its retry backoff")
    if run["assignee"] and run["assignee"] != ctx.actor.ref and not ctx.actor.is_admin:
        raise Forbidden(f"run {run_id} is reserved for agent {run['assignee']}")
    ctx.actor.check_claim_channel(run["network_channel"])  # a channel-limited key: 403 outside its channels
    budget_ops.check_run_claim(tx, ctx, run)
    refusal = tx.key_limit_refusal(run, ctx.now, {}) if has_key_limits(run) else None
    if refusal is not None:
        raise Conflict(f"run {run_id} is not claimable now: {refusal}")
    claim = _take(tx, ctx, run, lease_seconds, None, idempotency_key)
    if claim is None:
        raise Conflict(f"run {run_id} is not claimable now")
    return claim


def _is_claimer(ctx: Ctx, run: Row) -> bool:
    return bool(run["claimed_by_kind"] == ctx.actor.kind and run["claimed_by_ref"] == ctx.actor.ref)


def load_own_live_run(tx: Tx, ctx: Ctx, run_id: str, claim_token: str | None, action: str,
                       run: Row | None = None) -> Row:
    """The caller's live run, or the error that says exactly why not."""
    run = run or load_visible_run(tx, ctx, run_id, for_update=True)
    if not _is_claimer(ctx, run) and not ctx.actor.is_admin:
        raise Forbidden(f"run {run_id} is not held by you")
    if run["status"] not in LIVE:
        raise Conflict(not_live_reason(run, action))
    if claim_token is not None and hash_token(claim_token) != run["claim_token_hash"]:
        raise Conflict(f"claim token does not match the current lease of run {run_id}")
    return run


def not_live_reason(run: Row, action: str) -> str:
    if run["status"] == "queued":
        return f"cannot {action} run {run['id']}: it is queued, not claimed"
    if run["status"] == "canceled":
        return f"cannot {action} run {run['id']}: it was canceled ({run['error'] or 'canceled'})"
    if run["status"] == "failed" and run["error"] and run["error"].startswith(("lease expired", "timed out")):
        return f"cannot {action} run {run['id']}: it was taken back ({run['error']})"
    return f"cannot {action} run {run['id']}: it is already {run['status']}"


def _usage_changes(usage: Row | None) -> Row:
    return {k: v for k, v in (usage or {}).items() if k in USAGE_FIELDS and v is not None}


def start_run(tx: Tx, ctx: Ctx, run_id: str, idempotency_key: str | None) -> Row:
    run = load_visible_run(tx, ctx, run_id, for_update=True)
    if run["status"] in ("starting", "running") and idempotency_key and run["idempotency_key"] == idempotency_key:
        return run
    if not _is_claimer(ctx, run) and not ctx.actor.is_admin:
        raise Forbidden(f"run {run_id} is not held by you")
    if run["status"] != "claimed":
        raise Conflict(not_live_reason(run, "start") if run["status"] not in LIVE
                       else f"run {run_id} is already {run['status']}")
    changes: Row = {"started_at": ctx.now, "last_event_type": "run.started", "last_activity_at": ctx.now}
    if idempotency_key:
        changes["idempotency_key"] = idempotency_key
    updated = move_run(tx, run_id, RunStatus.STARTING, changes, only_from=(RunStatus.CLAIMED,))
    assert updated is not None
    record(tx, ctx, run["task_id"], {}, "run.started", run_id=run_id)
    return updated


def heartbeat(tx: Tx, ctx: Ctx, run_id: str, *, lease_seconds: float | None, claim_token: str | None,
              usage: Row | None, progress: Any = None) -> Row:
    run = load_own_live_run(tx, ctx, run_id, claim_token, "heartbeat")
    seconds = float(lease_seconds or run["lease_seconds"] or 300)
    changes: Row = {
        "lease_until": ctx.now + seconds,
        "lease_seconds": seconds,
        "heartbeat_at": ctx.now,
        "started_at": Coalesce(ctx.now),
        "last_event_type": "run.heartbeat",
        "last_activity_at": ctx.now,
        **_usage_changes(usage),
    }
    updated = move_run(tx, run_id, RunStatus.RUNNING, changes, only_from=RUN_LIVE)
    assert updated is not None
    if usage:
        usage_rollup.record(tx, ctx, updated)
    payload: Row = {"lease_until": changes["lease_until"]}
    if progress is not None:
        payload["progress"] = progress
    record(tx, ctx, run["task_id"], {}, "run.heartbeat", run_id=run_id, payload=payload)
    return updated


def complete_run(tx: Tx, ctx: Ctx, run_id: str, *, result: Any, idempotency_key: str | None,
                 claim_token: str | None, usage: Row | None) -> Row:
    """Complete the caller's live run. The guarded update comes first; only a refused one reads
    the run, to answer a repeat (same idempotency key) or say why. Every refusal is raised
    before anything is written, so batches can refuse items one by one."""
    result_text = dumps(result)
    # The run, its task and the event in one storage call (one statement on PostgreSQL).
    step = task_step(ctx, TaskStatus.COMPLETED, "run.completed", changes=completed_task_changes(ctx, result_text))
    closed = tx.run_complete_close(run_id, ctx.now, result=result_text, terminal_key=idempotency_key,
                                   usage=_usage_changes(usage), fence=fence(ctx, claim_token), close=step)
    if closed is None:
        return refused_complete(tx, ctx, run_id, idempotency_key, claim_token)
    run = closed.run
    if usage:
        usage_rollup.record(tx, ctx, run)
    if closed.task is None:
        check_missed_move(tx, run["task_id"], TaskStatus.COMPLETED)
    else:
        stepped(tx, ctx, step, closed.task, run)
        refresh_tasks(tx, ctx, closed.dependents)
    return run


def completed_task_changes(ctx: Ctx, result_text: str | None) -> Row:
    """What completing its run writes on the task (besides its status)."""
    return {"closed_at": ctx.now, "result": result_text, "blocked_reason": None, "error": None}


def refused_complete(tx: Tx, ctx: Ctx, run_id: str, idempotency_key: str | None, claim_token: str | None) -> Row:
    """After the guarded complete changed nothing: the run of a repeat (same idempotency key),
    or the error that says why it was refused. Reads only."""
    existing = load_visible_run(tx, ctx, run_id)
    if _repeat(existing, "completed", idempotency_key):
        return existing
    load_own_live_run(tx, ctx, run_id, claim_token, "complete", existing)
    raise Conflict(f"cannot complete run {run_id} now")  # the fence refused for a reason checked above


def fence(ctx: Ctx, claim_token: str | None) -> Row:
    """The checks that make a terminal update the caller's own: the live run it holds (admins
    may act on any), with the current claim token if one is given, in a workspace it sees."""
    return {
        "holder": None if ctx.actor.is_admin else (ctx.actor.kind, ctx.actor.ref),
        "claim_token_hash": hash_token(claim_token) if claim_token is not None else None,
        "visible_workspaces": ctx.actor.workspaces,
    }


def _repeat(run: Row, status: str, idempotency_key: str | None) -> bool:
    """A terminal call repeated with the same idempotency key is answered, not refused."""
    return bool(idempotency_key) and run["status"] == status and run["terminal_key"] == idempotency_key


def fail_run(tx: Tx, ctx: Ctx, run_id: str, *, error: str, idempotency_key: str | None, claim_token: str | None,
             retryable: bool = True, usage: Row | None = None) -> Row:
    if not error or not error.strip():
        raise InvalidInput("error must not be empty")
    existing = load_visible_run(tx, ctx, run_id, for_update=True)
    if _repeat(existing, "failed", idempotency_key):
        return existing
    load_own_live_run(tx, ctx, run_id, claim_token, "fail", existing)
    changes: Row = {
        "ended_at": ctx.now, "error": error, "terminal_key": idempotency_key,
        "last_event_type": "run.failed", "last_activity_at": ctx.now, **_usage_changes(usage),
    }
    updated = move_run(tx, run_id, RunStatus.FAILED, changes, only_from=RUN_LIVE)
    assert updated is not None
    if usage:
        usage_rollup.record(tx, ctx, updated)
    settle_failed_run(tx, ctx, updated, error, retryable=retryable)
    return updated


def refused_fail(tx: Tx, ctx: Ctx, run_id: str, idempotency_key: str | None, claim_token: str | None) -> Row:
    """After a guarded set-based fail changed nothing: the run of a repeat (same idempotency key),
    or the error that says why it was refused, as ``fail_run`` would. Reads only."""
    existing = load_visible_run(tx, ctx, run_id)
    if _repeat(existing, "failed", idempotency_key):
        return existing
    load_own_live_run(tx, ctx, run_id, claim_token, "fail", existing)
    raise Conflict(f"cannot fail run {run_id} now")  # the fence refused for a reason checked above


def release_run(tx: Tx, ctx: Ctx, run_id: str, *, reason: str | None, claim_token: str | None) -> Row:
    """Hand a claimed run back to the queue unchanged: not a failure, the attempt is not spent."""
    run = load_own_live_run(tx, ctx, run_id, claim_token, "release")
    updated = move_run(tx, run_id, RunStatus.QUEUED, released_run_changes(ctx), only_from=RUN_LIVE)
    assert updated is not None
    task = move_task(tx, ctx, run["task_id"], TaskStatus.READY, "run.released", run_id=run_id,
                     payload={"reason": reason}, only_from=(TaskStatus.IN_PROGRESS, TaskStatus.BLOCKED))
    if task is not None:
        refresh(tx, ctx, task)
    return tx.run_get(run_id) or updated


def cancel_run(tx: Tx, ctx: Ctx, run_id: str, reason: str | None = None) -> Row:
    """Cancel one run. The task goes back to pending (no automatic retry): start or enqueue to run again."""
    run = load_visible_run(tx, ctx, run_id, for_update=True)
    if run["status"] not in OPEN:
        raise Conflict(f"run {run_id} is already {run['status']}")
    check_may_act_on_work(ctx.actor, tx.task_get(run["task_id"]), run, "cancel")
    why = reason or "run canceled"
    updated = move_run(tx, run_id, RunStatus.CANCELED, canceled_run_changes(ctx, why), only_from=RUN_OPEN)
    assert updated is not None
    task = tx.task_get(run["task_id"])
    if task is not None and task["status"] not in TASK_TERMINAL:
        move_task(tx, ctx, task["id"], TaskStatus.PENDING, "run.canceled", changes={"blocked_reason": None},
                  run_id=run_id, payload={"reason": why})
    return updated


def attach_session(tx: Tx, ctx: Ctx, run_id: str, session_id: str) -> Row:
    if not session_id.strip():
        raise InvalidInput("session_id must not be empty")
    run = load_visible_run(tx, ctx, run_id, for_update=True)
    if run["status"] not in OPEN:
        raise Conflict(f"run {run_id} is already {run['status']}")
    if run["status"] in LIVE and not _is_claimer(ctx, run) and not ctx.actor.is_admin:
        raise Forbidden(f"run {run_id} is not held by you")
    if run["status"] not in LIVE:
        check_may_act_on_work(ctx.actor, tx.task_get(run["task_id"]), run, "attach a session to")
    changes: Row = {"session_id": session_id, "last_event_type": "run.session_attached", "last_activity_at": ctx.now}
    if run["status"] == RunStatus.STARTING:
        updated = move_run(tx, run_id, RunStatus.RUNNING, changes, only_from=(RunStatus.STARTING,))
    else:
        updated = tx.run_update(run_id, changes, expect_status=OPEN)
    assert updated is not None
    record(tx, ctx, run["task_id"], {}, "run.session_attached", run_id=run_id, payload={"session_id": session_id})
    return updated


def expire_leases(tx: Tx, ctx: Ctx, limit: int = 200) -> int:
    """Take back runs whose lease lapsed (or whose timeout passed): fail them and retry or fail the task."""
    taken = 0
    for run in tx.runs_lease_expired(ctx.now, limit):
        timed_out = run["timeout_at"] is not None and run["timeout_at"] < ctx.now
        if timed_out:
            task = tx.task_get(run["task_id"])
            seconds = task["timeout_seconds"] if task else None
            error = f"timed out: the run exceeded its timeout of {seconds} s"
        else:
            error = (
                f"lease expired: no heartbeat from {run['claimed_by_kind']}:{run['claimed_by_ref']} "
                f"within the {run['lease_seconds']} s lease"
            )
        updated = move_run(
            tx, run["id"], RunStatus.FAILED,
            {"ended_at": ctx.now, "error": error, "last_event_type": "run.lease_expired", "last_activity_at": ctx.now},
            only_from=RUN_LIVE,
        )
        if updated is None:
            continue
        record(tx, ctx, run["task_id"], {}, "run.timed_out" if timed_out else "run.lease_expired",
               run_id=run["id"], payload={"error": error})
        settle_failed_run(tx, ctx, updated, error)
        taken += 1
    return taken


def expire_deadlines(tx: Tx, ctx: Ctx, limit: int = 200) -> int:
    """A queued run whose task deadline passed is never handed out: the run is canceled and
    the task fails with ``deadline passed`` (the work-queues API shows it as ``expired``)."""
    expired = 0
    for run in tx.runs_past_deadline(ctx.now, limit):
        updated = move_run(
            tx, run["id"], RunStatus.CANCELED,
            {"ended_at": ctx.now, "error": "deadline passed", "last_event_type": "run.expired",
             "last_activity_at": ctx.now},
            only_from=(RunStatus.QUEUED,),
        )
        if updated is None:
            continue
        move_task(tx, ctx, run["task_id"], TaskStatus.FAILED, "task.expired",
                  changes={"error": "deadline passed", "closed_at": ctx.now, "blocked_reason": None},
                  run_id=run["id"], payload={"deadline": run["deadline"]},
                  only_from=(TaskStatus.READY, TaskStatus.BLOCKED, TaskStatus.PENDING))
        expired += 1
    return expired


def get_run(tx: Tx, ctx: Ctx, run_id: str) -> tuple[Row, Row]:
    run = load_visible_run(tx, ctx, run_id)
    task = load_visible_task(tx, ctx, run["task_id"])
    return run, task


__all__ = [
    "Claim", "ClaimFilters", "claim_next", "claim_many", "claim_run", "start_run", "heartbeat", "complete_run", "fail_run",
    "release_run", "cancel_run", "attach_session", "expire_leases", "get_run", "cancel_open_runs",
]
