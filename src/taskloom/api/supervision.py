"""Read endpoints the dashboard's queues and agents views need: /api/observe/queues, /api/observe/agents."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from taskloom.api import views
from taskloom.api.auth import CurrentActor
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import AgentsActivityOut, QueuesActivityOut
from taskloom.api.schemas import ERRORS
from taskloom.engine import supervision

router = APIRouter(prefix="/api/observe", tags=["observe"], responses=ERRORS)


def _age_ms(now: float, ts: float | None) -> int:
    return 0 if ts is None else max(0, int((now - ts) * 1000))


@router.get("/queues", response_model=QueuesActivityOut,
            summary="Every channel and work queue: depth, oldest age, live and stuck runs, depth history")
async def get_queues(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    """Every channel and work queue with depth, oldest age, live and stuck runs, and recent depth history."""
    stuck_after = request.app.state.settings.stuck_after_seconds
    now, found = await engine.read(actor, lambda tx, ctx: (ctx.now, supervision.queues(tx, ctx, stuck_after)))
    queues = [{**q, "oldest_queued_at": views.iso(q["oldest_queued_at"]),
               "oldest_queue_age_ms": _age_ms(now, q["oldest_queued_at"])} for q in found["queues"]]
    return ok({"queues": queues, "history_times": [views.iso(t) for t in found["history_times"]]})


def _live_run(now: float, item: dict[str, Any]) -> dict[str, Any]:
    r = item["run"]
    return {"run_id": r["id"], "task_id": r["task_id"], "task_title": item["task_title"],
            "task_identifier": item["task_identifier"], "status": r["status"], "attempt": r["attempt"],
            "network_channel": r["network_channel"], "claimed_at": views.iso(r["claimed_at"]),
            "heartbeat_at": views.iso(r["heartbeat_at"]), "lease_until": views.iso(r["lease_until"]),
            "lease_remaining_ms": None if r["lease_until"] is None else int((r["lease_until"] - now) * 1000),
            "stuck": item["stuck"]}


@router.get("/agents", response_model=AgentsActivityOut,
            summary="Who is working: each claimer's live runs with their leases, and its last heartbeat")
async def get_agent_activity(request: Request, engine: EngineDep, actor: CurrentActor) -> Response:
    """Each claimer's live runs with their leases and its last heartbeat: who is working on what."""
    stuck_after = request.app.state.settings.stuck_after_seconds
    now, found = await engine.read(actor, lambda tx, ctx: (ctx.now, supervision.agents(tx, ctx, stuck_after)))
    return ok({"observed_at": views.iso(now), "agents": [
        {"claimer": {"kind": a["kind"], "ref": a["ref"]}, "live_runs": [_live_run(now, i) for i in a["live_runs"]],
         "last_claimed_at": views.iso(a["last_claimed_at"]), "last_heartbeat_at": views.iso(a["last_heartbeat_at"]),
         "recent_runs": a["recent_runs"]} for a in found]})
