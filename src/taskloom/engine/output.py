"""Streamed output of a run: the agent appends text while it works; people follow it live.

Each chunk is a row of ``run_output`` and a ``run.output`` event (carrying the text) on the
task's stream, committed before the answer. Offsets count characters of the run's whole
output; the limits count UTF-8 bytes. Output events are left out of the timeline unless
asked for, so a chatty run does not bury its history.
"""

from __future__ import annotations

from taskloom.domain.errors import InvalidInput, TooLarge
from taskloom.domain.states import RUN_TERMINAL
from taskloom.engine.context import Ctx, record
from taskloom.engine.lifecycle import LIVE
from taskloom.engine.runs import load_own_live_run, load_visible_run
from taskloom.rows import Row
from taskloom.storage.protocols import Tx

MAX_CHUNK_BYTES = 64 * 1024
MAX_RUN_BYTES = 10 * 1024 * 1024
MAX_READ_CHARS = 1024 * 1024
OUTPUT_EVENT = "run.output"


def check_chunk(chunk: str) -> int:
    """The chunk's size in bytes, or 413/400 naming the limit. Checked before the write."""
    if chunk == "":
        raise InvalidInput("chunk must not be empty")
    try:
        size = len(chunk.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"chunk is not valid text: {exc.reason} at character {exc.start}") from exc
    if size > MAX_CHUNK_BYTES:
        raise TooLarge(f"chunk too large: {size} bytes; the limit is {MAX_CHUNK_BYTES} bytes (64 KB) per call")
    return size


def append(tx: Tx, ctx: Ctx, run_id: str, chunk: str, size: int, claim_token: str | None) -> Row:
    """Append a chunk to the caller's live run. Returns the run row after it."""
    run = load_own_live_run(tx, ctx, run_id, claim_token, "stream output to")
    if run["output_bytes"] + size > MAX_RUN_BYTES:
        raise TooLarge(f"run output too large: {run['output_bytes']} bytes streamed, this chunk adds {size}; the"
                       f" limit is {MAX_RUN_BYTES} bytes (10 MB) per run")
    start = int(run["output_length"])
    tx.output_insert(run_id, start, chunk, ctx.now)
    updated = tx.run_update(run_id, {"output_length": start + len(chunk), "output_bytes": run["output_bytes"] + size,
                                     "last_activity_at": ctx.now}, expect_status=LIVE)
    assert updated is not None
    record(tx, ctx, run["task_id"], {}, OUTPUT_EVENT, run_id=run_id,
           payload={"offset": start, "length": len(chunk), "chunk": chunk})
    return updated


def read(tx: Tx, ctx: Ctx, run_id: str, after_offset: int) -> Row:
    """The output text after ``after_offset`` (at most about 1 M characters) and the offset to ask next."""
    run = load_visible_run(tx, ctx, run_id)
    total = int(run["output_length"])
    start = min(after_offset, total)
    parts = []
    for c in tx.output_after(run_id, start, MAX_READ_CHARS):
        parts.append(c["chunk"][max(0, start - c["start_offset"]):])
    text = "".join(parts)
    return {"run_id": run_id, "offset": start, "next_offset": start + len(text), "text": text,
            "total_length": total, "total_bytes": int(run["output_bytes"]), "run_status": run["status"],
            "done": run["status"] in RUN_TERMINAL}
