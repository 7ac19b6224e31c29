"""Server-Sent Events for one task: replay after a sequence, then live events.

Wake-ups come from the notice hub (this process's commits, or PostgreSQL
NOTIFY from other processes); the stream then reads what is new from the
event table, so nothing is lost between replay and live.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from fastapi import Request

from taskloom.api import read_models
from taskloom.domain.actors import Actor
from taskloom.engine import read_models as rm
from taskloom.engine.engine import Engine
from taskloom.rows import Row


def sse_event(item: Row) -> bytes:
    data = orjson.dumps({"sequence": item["sequence"], "timeline": item, "type": item["event_type"]})
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (item["sequence"], item["event_type"].encode(), data)


async def task_event_stream(engine: Engine, actor: Actor, task_id: str, after: int, keepalive: float,
                            request: Request) -> AsyncIterator[bytes]:
    last = after
    last_sent = time.monotonic()
    yield b": connected\n\n"
    while True:
        # The read is awaited at once, so the lambda always sees this pass's ``last``.
        task, entries = await engine.read(actor, lambda tx, ctx: rm.task_events_since(
            tx, task_id, last, 500, exclude_type=None))  # noqa: B023
        items = read_models.timeline(task, entries) if task is not None else []
        if task is None:
            yield b"event: deleted\ndata: {}\n\n"
            return
        for item in items:
            last = item["sequence"]
            yield sse_event(item)
            last_sent = time.monotonic()
        if len(items) == 500:
            continue
        if await request.is_disconnected():
            return
        if engine.draining:
            yield b": server shutting down, reconnect\n\n"
            return
        remaining = keepalive - (time.monotonic() - last_sent)
        woke = await engine.wait_for_task(task_id, max(0.05, min(remaining, 1.0)))
        if not woke and time.monotonic() - last_sent >= keepalive:
            yield b": keep-alive\n\n"
            last_sent = time.monotonic()
