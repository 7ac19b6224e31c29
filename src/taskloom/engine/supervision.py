"""Read models for the dashboard's queues and agents views (times are epoch seconds; the API shapes them)."""

from __future__ import annotations

from typing import Any

from taskloom.engine.context import Ctx
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

HISTORY_SECONDS = 3600
HISTORY_POINTS = 13  # every 5 minutes over the last hour, the last one now


def _scope(ctx: Ctx) -> Row:
    return {"visible_workspaces": ctx.actor.workspaces} if ctx.actor.workspaces is not None else {}


def queues(tx: Tx, ctx: Ctx, stuck_after: float) -> Row:
    """Every channel with queued, live or recent work, and every work queue: its depth (claimable runs),
    oldest queued time, live and stuck runs, and its depth at HISTORY_POINTS times over the last hour."""
    now, scope = ctx.now, _scope(ctx)
    step = HISTORY_SECONDS / (HISTORY_POINTS - 1)
    times = [now - HISTORY_SECONDS + i * step for i in range(HISTORY_POINTS)]
    rows: dict[Any, Row] = {}

    def entry(channel: str | None) -> Row:
        return rows.setdefault(channel, {"network_channel": channel, "work_queue": None, "depth": 0,
                                         "oldest_queued_at": None, "active_runs": 0, "stuck_runs": 0,
                                         "depth_history": [0] * HISTORY_POINTS})

    for q in tx.wq_list(None, ctx.actor.workspaces, limit=1000, offset=0):
        entry(q["id"])["work_queue"] = {"id": q["id"], "name": q["name"], "team_id": q["team_id"]}
    for d in tx.queue_depth(scope):
        e = entry(d["network_channel"])
        e["depth"], e["oldest_queued_at"] = int(d["count"]), d["oldest"]
    for r in tx.live_run_counts_by_channel(scope, now, now - stuck_after):
        e = entry(r["network_channel"])
        e["active_runs"], e["stuck_runs"] = int(r["active"]), int(r["stuck"] or 0)
    # depth at times[k] = runs that entered the queue by then - runs claimed by then (prefix sums).
    changes: dict[Any, list[int]] = {}
    last = HISTORY_POINTS - 1
    for w in tx.queue_waits(scope, times[0], step):
        delta = changes.setdefault(w["network_channel"], [0] * HISTORY_POINTS)
        delta[min(int(w["queued"]), last)] += int(w["n"])
        if w["claimed"] is not None:
            delta[min(int(w["claimed"]), last)] -= int(w["n"])
    for channel, delta in changes.items():
        depth, history = 0, entry(channel)["depth_history"]
        for k, change in enumerate(delta):
            depth += change
            history[k] = depth
    for e in rows.values():
        e["depth_history"][-1] = e["depth"]  # now: exactly the live depth
    ordered = sorted(rows.values(), key=lambda e: (-e["depth"], -e["active_runs"], str(e["network_channel"])))
    return {"queues": ordered, "history_times": times}


def agents(tx: Tx, ctx: Ctx, stuck_after: float) -> list[Row]:
    """Per caller that holds a live run or claimed one in the last hour: its live runs (with their task's
    title and lease), its latest claim, and the latest heartbeat (or claim) of its live runs."""
    now, scope = ctx.now, _scope(ctx)
    out: dict[tuple[str, str], Row] = {}

    def entry(kind: str, ref: str) -> Row:
        return out.setdefault((kind, ref), {"kind": kind, "ref": ref, "live_runs": [], "last_claimed_at": None,
                                            "last_heartbeat_at": None, "recent_runs": 0})

    for a in tx.claimer_activity(now - HISTORY_SECONDS):
        e = entry(a["claimed_by_kind"], a["claimed_by_ref"])
        e.update(last_claimed_at=a["last_claimed_at"], recent_runs=int(a["runs"]))
    live = tx.live_runs(scope, limit=1000)
    titles = tx.tasks_get_many(sorted({r["task_id"] for r in live}))
    for r in live:
        if r["claimed_by_ref"] is None:
            continue
        e = entry(r["claimed_by_kind"], r["claimed_by_ref"])
        task = titles.get(r["task_id"])
        lapsed = r["lease_until"] is not None and r["lease_until"] < now
        silent = r["heartbeat_at"] is not None and now - r["heartbeat_at"] > stuck_after
        e["live_runs"].append({"run": r, "task_title": task["title"] if task else None,
                               "task_identifier": task["identifier"] if task else None, "stuck": lapsed or silent})
        beat = r["heartbeat_at"] or r["claimed_at"]
        if beat is not None and (e["last_heartbeat_at"] is None or beat > e["last_heartbeat_at"]):
            e["last_heartbeat_at"] = beat
    return sorted(out.values(), key=lambda e: (e["kind"], e["ref"]))
