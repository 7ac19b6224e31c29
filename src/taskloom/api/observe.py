"""Observe API (seed 004): the task dashboard and the per-caller inbox."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response

from taskloom.api import views
from taskloom.api.auth import CurrentActor
from taskloom.api.budgets import budget_record
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import DashboardEnvelope, InboxEnvelope
from taskloom.api.schemas import ERRORS, ActorKind, OriginKind, Scope
from taskloom.engine import observe_models as om
from taskloom.rows import Row

router = APIRouter(prefix="/api/observe/tasks", tags=["observe"], responses=ERRORS)
TASK_STATUSES = ("draft", "pending", "blocked", "ready", "in_progress", "completed", "failed", "canceled")
Lane = Literal["my_work", "approvals", "questions", "budgets", "failed_runs", "blocked", "archived"]


def _filters(actor: Any, **given: Any) -> Row:
    filters = {k: v for k, v in given.items() if v is not None}
    if actor.workspaces is not None:
        filters["visible_workspaces"] = actor.workspaces
    return filters


def _ms(seconds: float | None) -> int:
    return 0 if seconds is None else max(0, int(seconds * 1000))


def _health(bad: bool, warn: bool = False) -> str:
    return "critical" if bad else ("warning" if warn else "healthy")


def dashboard(data: om.Dashboard, settings: Any) -> Row:
    """The dashboard answer, shaped from its read model (engine/observe_models.py)."""
    now = data.now
    tasks, blocked, runs = data.task_counts, data.blocked_counts, data.run_counts
    tasks_total = sum(tasks.values())
    live, task_rows = data.live_runs, data.live_tasks
    stuck_after = settings.stuck_after_seconds
    items = []
    stuck_total = orphans = 0
    for r in live:
        task = task_rows.get(r["task_id"])
        lapsed = r["lease_until"] is not None and r["lease_until"] < now
        silent = r["heartbeat_at"] is not None and now - r["heartbeat_at"] > stuck_after
        stuck = lapsed or silent
        stuck_total += stuck
        orphan = task is None or task["status"] in ("completed", "failed", "canceled")
        orphans += orphan
        items.append({
            "age_ms": _ms(now - (r["claimed_at"] or r["queued_at"])),
            "attempt": r["attempt"],
            "error": r["error"],
            "health_status": "stuck" if stuck else "healthy",
            "last_activity_at": views.iso(r["last_activity_at"]),
            "max_attempts": task["max_attempts"] if task else None,
            "network_channel": r["network_channel"],
            "run_id": r["id"],
            "run_status": r["status"],
            "scope": task["scope"] if task else None,
            "session_id": r["session_id"],
            "stuck": stuck,
            "task_id": r["task_id"],
            "task_identifier": task["identifier"] if task else None,
            "task_owner": views.actor(task["owner_kind"], task["owner_ref"]) if task else None,
            "task_priority": views.to_runtime(task["priority"]) if task else None,
            "task_status": task["status"] if task else None,
            "task_title": task["title"] if task else None,
            "workspace_id": r["workspace_id"],
        })
    depth_rows = data.queue_depth
    depth = [
        {
            "count": int(d["count"]),
            "network_channel": d["network_channel"],
            "oldest_queue_age_ms": _ms(now - d["oldest"]) if d["oldest"] is not None else 0,
            "oldest_queued_at": views.iso(d["oldest"]),
        }
        for d in depth_rows
    ]
    oldest = min((d["oldest"] for d in depth_rows if d["oldest"] is not None), default=None)
    queue_total = sum(d["count"] for d in depth)
    oldest_age = (now - oldest) if oldest is not None else None
    backlog_warning = oldest_age is not None and oldest_age > settings.backlog_threshold_seconds
    lat, latest = data.latency, data.latest_event_at
    age = (now - latest) if latest is not None else None
    has_live = bool(live) or queue_total > 0
    stale = has_live and age is not None and age > settings.stale_after_seconds
    queued_runs = runs.get("queued", 0)
    claimed, starting, running = runs.get("claimed", 0), runs.get("starting", 0), runs.get("running", 0)
    forced = data.forced_stops
    spent_budgets = [budget_record(b, now) for b in data.spent_budgets]
    totals = {
        "active_runs": claimed + starting + running,
        "awaiting_approval_tasks": blocked.get("approval", 0),
        "blocked_tasks": tasks.get("blocked", 0),
        "canceled_runs": runs.get("canceled", 0),
        "canceled_tasks": tasks.get("canceled", 0),
        "claimed_runs": claimed,
        "completed_runs": runs.get("completed", 0),
        "completed_tasks": tasks.get("completed", 0),
        "dependency_blocked_tasks": blocked.get("dependencies", 0),
        "draft_tasks": tasks.get("draft", 0),
        "failed_runs": runs.get("failed", 0),
        "failed_tasks": tasks.get("failed", 0),
        "in_progress_tasks": tasks.get("in_progress", 0),
        "pending_tasks": tasks.get("pending", 0),
        "queued_runs": queued_runs,
        "ready_tasks": tasks.get("ready", 0),
        "running_runs": running,
        "runs_total": sum(runs.values()),
        "starting_runs": starting,
        "tasks_total": tasks_total,
    }
    return {
        "active_runs": {"claimed": claimed, "items": items, "queued": queued_runs, "running": running,
                        "starting": starting, "total": claimed + starting + running},
        "cards": {
            "blocked": {"awaiting_approval": totals["awaiting_approval_tasks"],
                        "awaiting_dependencies": totals["dependency_blocked_tasks"],
                        "awaiting_input": blocked.get("awaiting_input", 0), "manual": blocked.get("manual", 0),
                        "health_status": _health(False, totals["blocked_tasks"] > 0),
                        "tasks": totals["blocked_tasks"]},
            "failed": {"failed_runs": totals["failed_runs"], "forced_stops": forced,
                       "health_status": _health(False, totals["failed_tasks"] > 0), "tasks": totals["failed_tasks"]},
            "in_progress": {"active_runs": totals["active_runs"], "claimed_runs": claimed,
                            "health_status": _health(stuck_total > 0), "queued_runs": queued_runs,
                            "running_runs": running, "starting_runs": starting,
                            "tasks": totals["in_progress_tasks"]},
            "latency": {
                "claim_latency_ms": {"average_ms": _ms(lat.get("claim_avg")), "maximum_ms": _ms(lat.get("claim_max")),
                                     "samples": int(lat.get("claim_n") or 0)},
                "start_latency_ms": {"average_ms": _ms(lat.get("start_avg")), "maximum_ms": _ms(lat.get("start_max")),
                                     "samples": int(lat.get("start_n") or 0)},
            },
        },
        "freshness": {
            "age_ms": _ms(age), "has_live_work": has_live, "latest_activity_at": views.iso(latest),
            "observed_at": views.iso(now), "stale": stale, "stale_after_ms": _ms(settings.stale_after_seconds),
            "status": "stale" if stale else "fresh",
        },
        "health": {"active_orphan_runs": orphans, "queue_backlog": backlog_warning,
                   "status": _health(stuck_total > 0 or orphans > 0, backlog_warning), "stuck_runs": stuck_total},
        "queue": {
            "backlog_status": "backlogged" if backlog_warning else "ok",
            "backlog_threshold_ms": _ms(settings.backlog_threshold_seconds),
            "backlog_warning": backlog_warning,
            "depth": depth,
            "oldest_queue_age_ms": _ms(oldest_age),
            "oldest_queued_at": views.iso(oldest),
            "total": queue_total,
        },
        "status_breakdown": [
            {"count": tasks.get(s, 0), "share_percent": round(100.0 * tasks.get(s, 0) / tasks_total, 2)
             if tasks_total else 0.0, "status": s}
            for s in TASK_STATUSES
        ],
        "totals": totals,
        "budgets": {"exhausted": spent_budgets, "exhausted_total": len(spent_budgets)},
    }


@router.get("/dashboard", response_model=DashboardEnvelope, summary="Get the task dashboard")
async def get_dashboard(request: Request, engine: EngineDep, actor: CurrentActor, scope: Scope | None = None,
                        workspace: str | None = None, owner_kind: ActorKind | None = None,
                        owner_ref: str | None = None, network_channel: str | None = None,
                        origin_kind: OriginKind | None = None) -> Response:
    """Counts by status, live and stuck runs, backlog and latency figures for the caller's visible tasks."""
    filters = _filters(actor, scope=scope, workspace_id=workspace, owner_kind=owner_kind, owner_ref=owner_ref,
                       network_channel=network_channel, origin_kind=origin_kind)
    settings = request.app.state.settings
    data = await engine.read(actor, lambda tx, ctx: om.dashboard(tx, ctx, filters))
    return ok({"dashboard": dashboard(data, settings)})


def _blocking_text(item: om.InboxTask) -> str | None:
    task = item.task
    reason = task["blocked_reason"]
    if task["approval_state"] == "pending":
        return "waiting for approval"
    if reason == "manual":
        return f"blocked: {task['blocker']}"
    if reason == "awaiting_input":
        return "awaiting input from a person"
    if reason == "dependencies":
        unmet = [f"{r['identifier']} ({r['status']})" for r in item.unmet_dependencies]
        return "waiting for dependencies: " + ", ".join(sorted(unmet))
    if task["status"] == "failed":
        return f"failed: {task['error']}"
    return None


def _budgets_group(spent: list[Row], now: float, limit: int) -> Row:
    items = []
    for b in (budget_record(b, now) for b in spent):
        caps = [f"{b['spent_tokens']} of {b['max_tokens']} tokens"] if b["max_tokens"] is not None else []
        if b["max_cost"] is not None:
            caps.append(f"{b['spent_cost']} of {b['max_cost']} {b['currency'] or ''}".rstrip())
        period = {"day": "today", "month": "this month", "total": "in total"}[b["period"]]
        items.append({"lane": "budgets", "budget": b, "blocking_reason": f"budget spent: {b['scope']} {b['ref']}"
                      f" used {' and '.join(caps)} {period}; claims it covers get no work", "latest_activity_at":
                      b["exhausted_at"], "task": None, "run": None, "triage": None, "unread": True})
    return {"count": len(items), "items": items[:limit], "lane": "budgets", "unread_count": len(items)}


def inbox(data: om.Inbox, unread_only: bool, limit: int) -> Row:
    """The inbox answer, shaped from its read model (engine/observe_models.py)."""
    now = data.now
    triage = data.triage
    groups = []
    total = unread_total = 0
    for name in om.LANES:
        if name == "budgets":
            if data.spent_budgets is not None:
                group = _budgets_group(data.spent_budgets, now, limit)
                groups.append(group)
                total += group["count"]
                unread_total += group["unread_count"]
            continue
        if name not in data.lanes:
            continue
        items = []
        for item in data.lanes[name]:
            t = item.task
            tr = triage.get(t["id"])
            unread = tr is None or not tr["read"] or (tr["last_seen_activity_at"] or 0) < t["last_activity_at"]
            if unread_only and not unread:
                continue
            items.append({
                "approval_policy": t["approval_policy"],
                "approval_state": t["approval_state"],
                "blocking_reason": _blocking_text(item),
                "lane": name,
                "question": item.question["body"] if item.question else None,
                "latest_activity_at": views.iso(t["last_activity_at"]),
                "run": views.run_summary(item.latest_run, t["max_attempts"]),
                "task": views.task_ref(t),
                "triage": views.triage_record(tr) if tr else None,
                "unread": unread,
            })
        unread_count = sum(1 for i in items if i["unread"])
        count = len(items)
        items = items[:limit]
        groups.append({"count": count, "items": items, "lane": name, "unread_count": unread_count})
        if name != "archived":
            total += count
            unread_total += unread_count
    return {
        "archived_total": sum(1 for tr in triage.values() if tr["archived"]),
        "groups": groups,
        "total": total,
        "unread_total": unread_total,
    }


@router.get("/inbox", response_model=InboxEnvelope, summary="Get the task inbox of the caller")
async def get_inbox(engine: EngineDep, actor: CurrentActor, scope: Scope | None = None, workspace: str | None = None,
                    owner_kind: ActorKind | None = None, owner_ref: str | None = None, lane: Lane | None = None,
                    unread: bool = False, query: str | None = None,
                    limit: int = Query(default=50, ge=1, le=500)) -> Response:
    """The tasks that want the caller's attention (approvals, questions, failures), with the caller's own
    read/dismiss/archive state."""
    filters = _filters(actor, scope=scope, workspace_id=workspace, owner_kind=owner_kind, owner_ref=owner_ref)
    data = await engine.read(actor, lambda tx, ctx: om.inbox(tx, ctx, filters, lane, query, limit))
    return ok({"inbox": inbox(data, unread, limit)})
