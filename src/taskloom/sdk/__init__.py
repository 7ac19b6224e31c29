"""The Taskloom Python SDK: clients, workers and the objects they hand you.

It needs only httpx: importing it never imports the server (FastAPI, uvicorn, psycopg).

    from taskloom.sdk import Client, RunContext, Task, Worker

    worker = Worker(Client(), channel="research", concurrency=8)   # TASKLOOM_URL, TASKLOOM_TOKEN

    @worker.task
    def summarise(task: Task, ctx: RunContext) -> dict:
        ctx.report_usage(input_tokens=1200, output_tokens=300, model="gpt-x")
        return {"summary": "..."}

    worker.run()
"""

from taskloom.sdk.client import AsyncClient, Client
from taskloom.sdk.context import AsyncRunContext, RunContext
from taskloom.sdk.errors import (
    Failure,
    NonRetryableError,
    ReleaseRun,
    RunCanceled,
    ServerUnreachable,
    TaskloomError,
)
from taskloom.sdk.models import Claim, Message, Run, Task
from taskloom.sdk.worker import AsyncWorker, Worker

__all__ = [
    "AsyncClient", "AsyncRunContext", "AsyncWorker", "Claim", "Client", "Failure", "Message", "NonRetryableError",
    "ReleaseRun", "Run", "RunCanceled", "RunContext", "ServerUnreachable", "Task", "TaskloomError", "Worker",
]
