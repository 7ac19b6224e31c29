"""The HTTP clients, sync (:class:`Client`) and async (:class:`AsyncClient`), with the same methods.

Both send the calls of :mod:`taskloom.sdk.calls` and retry connection errors, 429 and
502/503/504 with exponential backoff and jitter, honouring ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from taskloom.sdk import calls
from taskloom.sdk.calls import Call, RetryPolicy
from taskloom.sdk.errors import ServerUnreachable, TaskloomError
from taskloom.sdk.models import Claim, Message, Task

# Connect errors mean the request never reached the server: always safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class _Base:
    def __init__(self, url: str | None, token: str | None, timeout: float, retry_for: float):
        self.url, self.token = calls.configure(url, token)
        self.timeout = timeout
        self.retry = RetryPolicy(budget=retry_for)
        self.batch_endpoints: bool | None = None  # unknown until the first batch call
        self.headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                        "User-Agent": "taskloom-sdk"}

    def _next_wait(self, call: Call, attempt: int, deadline: float, *, exc: Exception | None = None,
                   response: httpx.Response | None = None) -> float | None:
        """Seconds to wait before sending ``call`` again, or None to give up."""
        if exc is not None:
            if not (call.safe or isinstance(exc, _NOT_SENT)):
                return None
            wait = self.retry.delay(attempt)
        else:
            assert response is not None
            if not self.retry.retry_status(call, response.status_code):
                return None
            wait = self.retry.delay(attempt, calls.retry_after(response.headers.get("retry-after")))
        return wait if time.monotonic() + wait <= deadline else None

    def _answer(self, call: Call, response: httpx.Response) -> Any:
        if response.status_code >= 400:
            raise calls.error_message(response.status_code, response.text)
        return call.unwrap(None if response.status_code == 204 or not response.content else response.json())

    def _unreachable(self, exc: Exception) -> ServerUnreachable:
        return ServerUnreachable(self.url, str(exc) or type(exc).__name__)

    @staticmethod
    def _content(call: Call) -> bytes | None:
        return None if call.body is None else calls.encode(call.body)

    @staticmethod
    def _results_of_singles(items: list[dict[str, Any]], outcomes: list[Any]) -> list[dict[str, Any]]:
        """complete-batch's per-item answer shape, from single completes."""
        out = []
        for item, outcome in zip(items, outcomes, strict=True):
            if isinstance(outcome, TaskloomError):
                out.append({"run_id": item["run_id"], "status": outcome.status, "error": outcome.message})
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                out.append({"run_id": item["run_id"], "status": 200, "lease": outcome})
        return out


def _usage(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class Client(_Base):
    """Synchronous client. ``Client()`` reads TASKLOOM_URL and TASKLOOM_TOKEN."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 40.0,
                 retry_for: float = 60.0):
        super().__init__(url, token, timeout, retry_for)
        self.http = httpx.Client(base_url=self.url, timeout=timeout, headers=self.headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, call: Call, *, retry_for: float | None = None) -> Any:
        deadline = time.monotonic() + (self.retry.budget if retry_for is None else retry_for)
        content = self._content(call)
        attempt = 0
        while True:
            try:
                response = self.http.request(call.method, call.path, content=content, params=call.params)
            except httpx.TransportError as exc:
                wait = self._next_wait(call, attempt, deadline, exc=exc)
                if wait is None:
                    raise self._unreachable(exc) from None
            else:
                wait = self._next_wait(call, attempt, deadline, response=response)
                if wait is None:
                    return self._answer(call, response)
            time.sleep(wait)
            attempt += 1

    def request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        """Any endpoint; the answer's JSON (None for 204). GETs are retried, other methods only when unsent."""
        return self.send(Call(method, path, json, params, safe=method == "GET"))

    # tasks
    def create_task(self, title: str, **fields: Any) -> Task:
        return self.send(calls.create_task(title, fields))

    def create_tasks(self, tasks: list[dict[str, Any]]) -> list[Task]:
        """Create up to 1,000 tasks in one call, all or nothing (POST /api/tasks/batch)."""
        return self.send(calls.create_tasks(tasks))

    def get_task(self, task_id: str) -> Task:
        return self.send(calls.get_task(task_id))

    # the agent side
    def claim(self, channel: str | None = None, *, wait_seconds: float = 0, lease_seconds: float = 300,
              **filters: Any) -> Claim | None:
        return self.send(calls.claim(channel, wait_seconds, lease_seconds, filters))

    def claim_batch(self, max_runs: int, channel: str | None = None, *, wait_seconds: float = 0,
                    lease_seconds: float = 300, retry_for: float | None = None, **filters: Any) -> list[Claim]:
        """Up to ``max_runs`` claims in one call (claim-next on servers without claim-batch)."""
        if self.batch_endpoints is not False:
            try:
                found = self.send(calls.claim_batch(max_runs, channel, wait_seconds, lease_seconds, filters),
                                  retry_for=retry_for)
                self.batch_endpoints = True
                return found
            except TaskloomError as exc:
                if not calls.missing_endpoint(exc) or self.batch_endpoints:
                    raise
                self.batch_endpoints = False
        # Without claim-batch: wait for the first claim, then take what else is ready at once.
        claims: list[Claim] = []
        wait = wait_seconds
        while len(claims) < max_runs:
            one = self.send(calls.claim(channel, wait, lease_seconds, filters), retry_for=retry_for)
            if one is None:
                break
            claims.append(one)
            wait = 0
        return claims

    def heartbeat(self, claim: Claim, *, progress: Any = None, retry_for: float | None = None,
                  **usage: Any) -> dict[str, Any]:
        fields = _usage({"progress": progress, **usage})
        return self.send(calls.heartbeat(claim, fields), retry_for=retry_for)

    def complete(self, claim: Claim, result: Any = None, **fields: Any) -> dict[str, Any]:
        return self.send(calls.complete(claim, result, fields))

    def complete_many(self, items: list[dict[str, Any]], *, retry_for: float | None = None) -> list[dict[str, Any]]:
        """Complete several runs (items of :func:`calls.complete_item`); one answer per item, in order."""
        if self.batch_endpoints is not False:
            try:
                return self.send(calls.complete_batch(items), retry_for=retry_for)
            except TaskloomError as exc:
                if not calls.missing_endpoint(exc) or self.batch_endpoints:
                    raise
                self.batch_endpoints = False
        outcomes: list[Any] = []
        for item in items:
            try:
                outcomes.append(self.send(calls.complete_one(item), retry_for=retry_for))
            except TaskloomError as exc:
                if isinstance(exc, ServerUnreachable):
                    raise
                outcomes.append(exc)
        return self._results_of_singles(items, outcomes)

    def fail(self, claim: Claim, error: str, *, retryable: bool = True) -> dict[str, Any]:
        return self.send(calls.fail(claim, error, retryable))

    def release(self, claim: Claim, reason: str | None = None) -> dict[str, Any]:
        return self.send(calls.release(claim, reason))

    def ask(self, claim: Claim, question: str) -> Message:
        """Put the task in awaiting_input with ``question`` (see RunContext.ask_human to wait for the answer)."""
        return self.send(calls.ask(claim, question))

    def messages(self, claim: Claim, *, after_sequence: int = 0, role: str | None = None) -> list[Message]:
        return self.send(calls.messages(claim.run_id, after_sequence, role))

    def task_status_of_run(self, run_id: str) -> str:
        return self.send(calls.run_task_status(run_id))

    def work(self, handler: Callable[..., Any], channel: str | None = None, *, concurrency: int = 1,
             **options: Any) -> int:
        """Run ``handler(task, ctx)`` on claimed tasks with a :class:`~taskloom.sdk.Worker`; the count done."""
        from taskloom.sdk.worker import Worker

        worker = Worker(self, channel, concurrency=concurrency, **options)
        worker.task(handler)
        return worker.run()


class AsyncClient(_Base):
    """Asynchronous client: the same methods as :class:`Client`, awaited."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 40.0,
                 retry_for: float = 60.0):
        super().__init__(url, token, timeout, retry_for)
        self.http = httpx.AsyncClient(base_url=self.url, timeout=timeout, headers=self.headers)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(self, call: Call, *, retry_for: float | None = None) -> Any:
        deadline = time.monotonic() + (self.retry.budget if retry_for is None else retry_for)
        content = self._content(call)
        attempt = 0
        while True:
            try:
                response = await self.http.request(call.method, call.path, content=content, params=call.params)
            except httpx.TransportError as exc:
                wait = self._next_wait(call, attempt, deadline, exc=exc)
                if wait is None:
                    raise self._unreachable(exc) from None
            else:
                wait = self._next_wait(call, attempt, deadline, response=response)
                if wait is None:
                    return self._answer(call, response)
            await asyncio.sleep(wait)
            attempt += 1

    async def request(self, method: str, path: str, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        return await self.send(Call(method, path, json, params, safe=method == "GET"))

    async def create_task(self, title: str, **fields: Any) -> Task:
        return await self.send(calls.create_task(title, fields))

    async def create_tasks(self, tasks: list[dict[str, Any]]) -> list[Task]:
        return await self.send(calls.create_tasks(tasks))

    async def get_task(self, task_id: str) -> Task:
        return await self.send(calls.get_task(task_id))

    async def claim(self, channel: str | None = None, *, wait_seconds: float = 0, lease_seconds: float = 300,
                    **filters: Any) -> Claim | None:
        return await self.send(calls.claim(channel, wait_seconds, lease_seconds, filters))

    async def claim_batch(self, max_runs: int, channel: str | None = None, *, wait_seconds: float = 0,
                          lease_seconds: float = 300, retry_for: float | None = None, **filters: Any) -> list[Claim]:
        if self.batch_endpoints is not False:
            try:
                found = await self.send(calls.claim_batch(max_runs, channel, wait_seconds, lease_seconds, filters),
                                        retry_for=retry_for)
                self.batch_endpoints = True
                return found
            except TaskloomError as exc:
                if not calls.missing_endpoint(exc) or self.batch_endpoints:
                    raise
                self.batch_endpoints = False
        # Without claim-batch: wait for the first claim, then take what else is ready at once.
        first = await self.send(calls.claim(channel, wait_seconds, lease_seconds, filters), retry_for=retry_for)
        if first is None:
            return []
        more = await asyncio.gather(*(self.send(calls.claim(channel, 0, lease_seconds, filters), retry_for=retry_for)
                                      for _ in range(max_runs - 1)), return_exceptions=True)
        return [first, *(c for c in more if isinstance(c, Claim))]

    async def heartbeat(self, claim: Claim, *, progress: Any = None, retry_for: float | None = None,
                        **usage: Any) -> dict[str, Any]:
        fields = _usage({"progress": progress, **usage})
        return await self.send(calls.heartbeat(claim, fields), retry_for=retry_for)

    async def complete(self, claim: Claim, result: Any = None, **fields: Any) -> dict[str, Any]:
        return await self.send(calls.complete(claim, result, fields))

    async def complete_many(self, items: list[dict[str, Any]], *,
                            retry_for: float | None = None) -> list[dict[str, Any]]:
        if self.batch_endpoints is not False:
            try:
                return await self.send(calls.complete_batch(items), retry_for=retry_for)
            except TaskloomError as exc:
                if not calls.missing_endpoint(exc) or self.batch_endpoints:
                    raise
                self.batch_endpoints = False

        outcomes = await asyncio.gather(*(self.send(calls.complete_one(i), retry_for=retry_for) for i in items),
                                        return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, ServerUnreachable):
                raise outcome
        return self._results_of_singles(items, list(outcomes))

    async def fail(self, claim: Claim, error: str, *, retryable: bool = True) -> dict[str, Any]:
        return await self.send(calls.fail(claim, error, retryable))

    async def release(self, claim: Claim, reason: str | None = None) -> dict[str, Any]:
        return await self.send(calls.release(claim, reason))

    async def ask(self, claim: Claim, question: str) -> Message:
        return await self.send(calls.ask(claim, question))

    async def messages(self, claim: Claim, *, after_sequence: int = 0, role: str | None = None) -> list[Message]:
        return await self.send(calls.messages(claim.run_id, after_sequence, role))

    async def task_status_of_run(self, run_id: str) -> str:
        return await self.send(calls.run_task_status(run_id))

    async def work(self, handler: Callable[..., Awaitable[Any]], channel: str | None = None, *,
                   concurrency: int = 1, **options: Any) -> int:
        from taskloom.sdk.worker import AsyncWorker

        worker = AsyncWorker(self, channel, concurrency=concurrency, **options)
        worker.task(handler)
        return await worker.run()
