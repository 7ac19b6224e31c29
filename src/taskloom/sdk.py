"""A small Python client for agents: claim, heartbeat, complete — sync and async.

    from taskloom.sdk import Client

    client = Client("http://127.0.0.1:8420", token)
    client.work(lambda claim: {"answer": 42}, network_channel="research")

``work`` claims with long-poll, keeps the lease alive from a background heartbeat
while the handler runs, completes with the handler's return value, and fails the run
with the exception's message if the handler raises.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


class TaskloomError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


@dataclass
class Claim:
    run_id: str
    task_id: str
    claim_token: str
    lease_seconds: float
    task: dict[str, Any]
    run: dict[str, Any]

    @classmethod
    def from_answer(cls, body: dict[str, Any], lease_seconds: float) -> Claim:
        claim = body["claim"]
        return cls(run_id=claim["run"]["id"], task_id=claim["task"]["id"], claim_token=claim["claim_token"],
                   lease_seconds=lease_seconds, task=claim["task"], run=claim["run"])


def _check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise TaskloomError(response.status_code, message)
    return None if response.status_code == 204 else response.json()


def _claim_body(network_channel: str | None, wait_seconds: float, lease_seconds: float,
                extra: dict[str, Any]) -> dict[str, Any]:
    body = {"wait_seconds": wait_seconds, "lease_seconds": lease_seconds, **extra}
    if network_channel:
        body["network_channel"] = network_channel
    return body


class Client:
    """Synchronous client (httpx)."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 40.0):
        self.http = httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def create_task(self, title: str, **fields: Any) -> dict[str, Any]:
        return _check(self.http.post("/api/tasks", json={"title": title, **fields}))["task"]

    def get_task(self, task_id: str) -> dict[str, Any]:
        return _check(self.http.get(f"/api/tasks/{task_id}"))["task"]["task"]

    def claim(self, network_channel: str | None = None, *, wait_seconds: float = 0, lease_seconds: float = 300,
              **extra: Any) -> Claim | None:
        body = _check(self.http.post("/api/agent/tasks/claim-next",
                                     json=_claim_body(network_channel, wait_seconds, lease_seconds, extra)))
        return None if body is None else Claim.from_answer(body, lease_seconds)

    def heartbeat(self, claim: Claim, **fields: Any) -> dict[str, Any]:
        body = {"lease_seconds": claim.lease_seconds, "claim_token": claim.claim_token, **fields}
        return _check(self.http.post(f"/api/agent/tasks/{claim.run_id}/heartbeat", json=body))["lease"]

    def complete(self, claim: Claim, result: Any = None, **fields: Any) -> dict[str, Any]:
        body = {"result": result, "claim_token": claim.claim_token, "idempotency_key": f"complete-{claim.run_id}",
                **fields}
        return _check(self.http.post(f"/api/agent/tasks/{claim.run_id}/complete", json=body))["lease"]

    def fail(self, claim: Claim, error: str, *, retryable: bool = True) -> dict[str, Any]:
        body = {"error": error, "retryable": retryable, "claim_token": claim.claim_token,
                "idempotency_key": f"fail-{claim.run_id}"}
        return _check(self.http.post(f"/api/agent/tasks/{claim.run_id}/fail", json=body))["lease"]

    def release(self, claim: Claim, reason: str | None = None) -> dict[str, Any]:
        body = {"reason": reason, "claim_token": claim.claim_token}
        return _check(self.http.post(f"/api/agent/tasks/{claim.run_id}/release", json=body))["lease"]

    def work_one(self, handler: Callable[[Claim], Any], network_channel: str | None = None, *,
                 wait_seconds: float = 30, lease_seconds: float = 60, **claim_fields: Any) -> Claim | None:
        """Claim one task (waiting up to ``wait_seconds``), run ``handler`` with the lease kept alive."""
        claim = self.claim(network_channel, wait_seconds=wait_seconds, lease_seconds=lease_seconds, **claim_fields)
        if claim is None:
            return None
        stop = threading.Event()
        beat = threading.Thread(target=self._keep_alive, args=(claim, stop), daemon=True)
        beat.start()
        try:
            result = handler(claim)
        except Exception as exc:  # noqa: BLE001 - the run fails with the handler's error
            stop.set()
            beat.join()
            self.fail(claim, f"{type(exc).__name__}: {exc}")
            return claim
        stop.set()
        beat.join()
        self.complete(claim, result)
        return claim

    def work(self, handler: Callable[[Claim], Any], network_channel: str | None = None, *,
             max_tasks: int | None = None, **options: Any) -> int:
        """Work tasks until ``max_tasks`` are done (forever if None). Returns the count."""
        done = 0
        while max_tasks is None or done < max_tasks:
            if self.work_one(handler, network_channel, **options) is not None:
                done += 1
        return done

    def _keep_alive(self, claim: Claim, stop: threading.Event) -> None:
        # Heartbeat at a third of the lease, so one lost heartbeat does not lose the lease.
        while not stop.wait(max(claim.lease_seconds / 3, 0.2)):
            try:
                self.heartbeat(claim)
            except (TaskloomError, httpx.HTTPError):
                return


class AsyncClient:
    """Asynchronous client (httpx.AsyncClient); same methods, awaited."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 40.0):
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                      headers={"Authorization": f"Bearer {token}"})

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def create_task(self, title: str, **fields: Any) -> dict[str, Any]:
        return _check(await self.http.post("/api/tasks", json={"title": title, **fields}))["task"]

    async def claim(self, network_channel: str | None = None, *, wait_seconds: float = 0,
                    lease_seconds: float = 300, **extra: Any) -> Claim | None:
        body = _check(await self.http.post("/api/agent/tasks/claim-next",
                                           json=_claim_body(network_channel, wait_seconds, lease_seconds, extra)))
        return None if body is None else Claim.from_answer(body, lease_seconds)

    async def heartbeat(self, claim: Claim, **fields: Any) -> dict[str, Any]:
        body = {"lease_seconds": claim.lease_seconds, "claim_token": claim.claim_token, **fields}
        return _check(await self.http.post(f"/api/agent/tasks/{claim.run_id}/heartbeat", json=body))["lease"]

    async def complete(self, claim: Claim, result: Any = None, **fields: Any) -> dict[str, Any]:
        body = {"result": result, "claim_token": claim.claim_token, "idempotency_key": f"complete-{claim.run_id}",
                **fields}
        return _check(await self.http.post(f"/api/agent/tasks/{claim.run_id}/complete", json=body))["lease"]

    async def fail(self, claim: Claim, error: str, *, retryable: bool = True) -> dict[str, Any]:
        body = {"error": error, "retryable": retryable, "claim_token": claim.claim_token,
                "idempotency_key": f"fail-{claim.run_id}"}
        return _check(await self.http.post(f"/api/agent/tasks/{claim.run_id}/fail", json=body))["lease"]

    async def work_one(self, handler: Callable[[Claim], Awaitable[Any]], network_channel: str | None = None, *,
                       wait_seconds: float = 30, lease_seconds: float = 60, **claim_fields: Any) -> Claim | None:
        claim = await self.claim(network_channel, wait_seconds=wait_seconds, lease_seconds=lease_seconds,
                                 **claim_fields)
        if claim is None:
            return None
        beat = asyncio.create_task(self._keep_alive(claim))
        try:
            result = await handler(claim)
        except Exception as exc:  # noqa: BLE001
            beat.cancel()
            await self.fail(claim, f"{type(exc).__name__}: {exc}")
            return claim
        beat.cancel()
        await self.complete(claim, result)
        return claim

    async def _keep_alive(self, claim: Claim) -> None:
        while True:
            await asyncio.sleep(max(claim.lease_seconds / 3, 0.2))
            try:
                await self.heartbeat(claim)
            except (TaskloomError, httpx.HTTPError):
                return
