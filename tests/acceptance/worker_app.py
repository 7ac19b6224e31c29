"""A worker process for the acceptance tests: `python -m tests.acceptance.worker_app [--async]`.

Configured by the environment (TASKLOOM_URL, TASKLOOM_TOKEN, WORKER_CHANNEL,
WORKER_CONCURRENCY, WORKER_LEASE, WORKER_GRACE). What each task's handler does is chosen
by the task's metadata ``{"do": ...}``, so one process serves a whole scenario.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import sys
import threading
import time
from typing import Any

from taskloom.sdk import AsyncRunContext, AsyncWorker, NonRetryableError, RunContext, Task, Worker

_in_flight = 0
_lock = threading.Lock()


def _options() -> dict[str, Any]:
    return dict(channel=os.environ.get("WORKER_CHANNEL") or None,
                concurrency=int(os.environ.get("WORKER_CONCURRENCY", "1")),
                lease_seconds=float(os.environ.get("WORKER_LEASE", "3")),
                shutdown_grace_seconds=float(os.environ.get("WORKER_GRACE", "30")),
                poll_seconds=1.0)


def _plain(task: Task, what: str) -> Any:
    meta = task.metadata or {}
    if what == "echo":
        return {"echo": meta.get("value"), "title": task.title}
    if what == "datetime":
        return {"when": datetime.datetime.now()}
    if what == "nonretryable":
        raise NonRetryableError("bad input")
    if what == "raise":
        raise ValueError("boom")
    raise AssertionError(f"unknown action {what}")


def handle(task: Task, ctx: RunContext) -> Any:
    global _in_flight
    meta = task.metadata or {}
    what = meta.get("do", "echo")
    if what == "sleep":
        with _lock:
            _in_flight += 1
            peak = _in_flight
        try:
            ctx.cancelled.wait(meta["seconds"])
        finally:
            with _lock:
                _in_flight -= 1
        return {"slept": meta["seconds"], "peak": peak}
    if what == "wait_cancel":
        ctx.progress("waiting to be canceled")
        ctx.cancelled.wait(30)
        return "never canceled"
    if what == "ask":
        answer = ctx.ask_human(meta["question"], timeout=30)
        ctx.report_usage(input_tokens=100, output_tokens=20, cost=0.01, model="model-x")
        ctx.report_usage(input_tokens=50)
        return {"answer": answer, "messages": len(ctx.messages())}
    return _plain(task, what)


async def handle_async(task: Task, ctx: AsyncRunContext) -> Any:
    meta = task.metadata or {}
    what = meta.get("do", "echo")
    if what == "sleep":
        await asyncio.sleep(meta["seconds"])
        return {"slept": meta["seconds"]}
    if what == "wait_cancel":
        await ctx.progress("waiting to be canceled")
        await asyncio.sleep(30)  # the worker cancels this await when the run is canceled
        return "never canceled"
    if what == "ask":
        answer = await ctx.ask_human(meta["question"], timeout=30)
        await ctx.report_usage(input_tokens=100, output_tokens=20, cost=0.01, model="model-x")
        await ctx.report_usage(input_tokens=50)
        return {"answer": answer, "messages": len(await ctx.messages())}
    return _plain(task, what)


def main() -> None:
    print("worker started", file=sys.stderr, flush=True)
    started = time.monotonic()
    if "--async" in sys.argv:
        aworker = AsyncWorker(**_options())
        aworker.task(handle_async)
        asyncio.run(aworker.run())
    else:
        worker = Worker(**_options())
        worker.task(handle)
        worker.run()
    print(f"worker exited after {time.monotonic() - started:.1f}s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
