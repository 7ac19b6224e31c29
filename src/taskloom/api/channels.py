"""Coordination channel messages: /api/task-runs/{id}/messages (issue 16; docs/api/agent-native.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import Field

from taskloom.api import views
from taskloom.api.auth import CurrentActor
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import ChannelMessagesOut, ChannelPostOut
from taskloom.api.schemas import ERRORS, Body
from taskloom.domain.channels import MESSAGE_KINDS
from taskloom.engine import channels as channel_ops

router = APIRouter(tags=["runs"], responses=ERRORS)


class MessageCreate(Body):
    kind: str = Field(min_length=1, max_length=40, description="One of the channel's allowed_message_kinds",
                      json_schema_extra={"enum": list(MESSAGE_KINDS)})  # another kind: 422, as documented
    body: str = Field(min_length=1, max_length=100_000)


@router.post("/api/task-runs/{run_id}/messages", status_code=201, response_model=ChannelPostOut,
             summary="Post a message on the run's coordination"
             " channel", responses={422: {"description": "kind is not one of the channel's allowed_message_kinds"}})
async def post_message(run_id: str, body: MessageCreate, engine: EngineDep, actor: CurrentActor) -> Response:
    """Posts a message on the run's coordination channel (a question from the claimer makes the task wait for input). 403
    when not allowed; 404 unknown run."""
    msg, run = await engine.write(actor, lambda tx, ctx: channel_ops.post(tx, ctx, run_id, body.kind, body.body))
    return ok({"message": views.message_record(msg), "channel": views.coordination_channel(run)}, 201)


@router.get("/api/task-runs/{run_id}/messages", response_model=ChannelMessagesOut,
            summary="Read the run's coordination channel, after a sequence")
async def list_messages(run_id: str, engine: EngineDep, actor: CurrentActor,
                        after: int = Query(default=0, ge=0, le=2**62, description="Messages after this sequence"),
                        limit: int = Query(default=100, ge=1, le=1000)) -> Response:
    """The run's coordination channel after a sequence, in order. 404 unknown run."""
    run, rows = await engine.read(actor, lambda tx, ctx: channel_ops.messages(tx, ctx, run_id, after, limit))
    return ok({"channel": views.coordination_channel(run), "messages": [views.message_record(m) for m in rows],
               "next_after": rows[-1]["sequence"] if rows else after})
