"""Usage by agent and model: GET /api/observe/usage (issue 16; see docs/api/agent-native.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from taskloom.api import views
from taskloom.api.auth import CurrentActor
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import UsageOut
from taskloom.api.schemas import ERRORS, rules_400
from taskloom.engine import usage as usage_ops

router = APIRouter(tags=["observe"], responses=ERRORS)


@router.get("/api/observe/usage", response_model=UsageOut, responses=rules_400(
    "group_by: comma-separated agent, model, channel, workspace, day, each at most once",
    "since, until: ISO-8601 or epoch seconds, before the year 10000"),
            summary="Sums of tokens, cost, tool calls and runs, grouped by agent, model, "
            "channel, workspace and/or day")
async def get_usage(
    engine: EngineDep,
    actor: CurrentActor,
    group_by: str | None = Query(default=None, max_length=200,
                                 description="Comma-separated: agent, model, channel, workspace, day"),
    since: str | None = Query(default=None, max_length=64, description="ISO-8601 or epoch seconds (inclusive)"),
    until: str | None = Query(default=None, max_length=64, description="ISO-8601 or epoch seconds (exclusive)"),
    agent: str | None = Query(default=None, max_length=200),
    model: str | None = Query(default=None, max_length=200),
    channel: str | None = Query(default=None, max_length=200),
    workspace: str | None = Query(default=None, max_length=200),
) -> Response:
    """Token, cost, tool-call and run totals from the usage roll-up, grouped by the requested dimensions over
    since/until. 400 for an unknown dimension or date."""
    q = usage_ops.UsageQuery(
        group_by=usage_ops.parse_group_by(group_by),
        since=usage_ops.parse_time("since", since),
        until=usage_ops.parse_time("until", until),
        filters={"agent": agent, "model": model, "channel": channel, "workspace": workspace},
    )
    groups = await engine.read(actor, lambda tx, ctx: usage_ops.usage_report(tx, ctx, q))
    return ok({"group_by": q.group_by, "since": views.iso(q.since), "until": views.iso(q.until), "groups": groups})
