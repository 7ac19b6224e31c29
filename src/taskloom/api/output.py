"""Streamed run output: POST /api/agent/tasks/{run_id}/output, GET /api/task-runs/{id}/output
(issue 16; docs/api/agent-native.md)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response
from pydantic import Field

from taskloom.api.auth import CurrentActor
from taskloom.api.deps import EngineDep, ok
from taskloom.api.family_responses import OutputAppendedOut, OutputOut
from taskloom.api.schemas import ERRORS, Body
from taskloom.engine import output as output_ops

router = APIRouter(tags=["runs"], responses=ERRORS)


class OutputChunk(Body):
    chunk: str = Field(min_length=1, description="Text to append; at most 64 KB (UTF-8) per call, 10 MB per run")
    claim_token: str | None = Field(default=None, max_length=200)


@router.post("/api/agent/tasks/{run_id}/output", tags=["agent"], response_model=OutputAppendedOut,
             summary="Append streamed output to a claimed run",
             responses={413: {"description": "Over 64 KB in this call or 10 MB for the run"}})
async def post_output(run_id: str, body: OutputChunk, engine: EngineDep, actor: CurrentActor) -> Response:
    """Appends streamed output (text chunks) to the caller's claimed run. 403 not your run; 409 when the run is no longer
    live."""
    size = output_ops.check_chunk(body.chunk)  # before the write: a refused chunk never holds the writer

    run = await engine.write(actor, lambda tx, ctx: output_ops.append(tx, ctx, run_id, body.chunk, size,
                                                                      body.claim_token))
    return ok({"run_id": run_id, "offset": int(run["output_length"]) - len(body.chunk), "length": len(body.chunk),
               "next_offset": int(run["output_length"]), "total_bytes": int(run["output_bytes"])})


@router.get("/api/task-runs/{run_id}/output", response_model=OutputOut,
            summary="Read a run's streamed output after an offset")
async def get_output(run_id: str, engine: EngineDep, actor: CurrentActor,
                     after_offset: int = Query(default=0, ge=0, le=2**62,
                                               description="Characters already read")) -> Response:
    """The run's streamed output after an offset, for polling or tailing. 404 unknown run."""
    return ok(await engine.read(actor, lambda tx, ctx: output_ops.read(tx, ctx, run_id, after_offset)))
