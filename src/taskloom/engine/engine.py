"""The engine: storage, clock and background services, with async entry points.

Each public method runs one engine operation in one storage transaction. API
layers call these and never touch storage or SQL themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from taskloom.clock import Clock
from taskloom.domain.actors import SYSTEM, Actor
from taskloom.engine.context import Ctx
from taskloom.storage import Storage
from taskloom.storage.base import RUNS_CHANGED
from taskloom.storage.sql import Tx

T = TypeVar("T")
WORK_NOTICES = (RUNS_CHANGED, ("*", "*"))  # what wakes a long-polling claim
log = logging.getLogger("taskloom.engine")


class Service:
    """A background loop owned by the engine (rescuer, scheduler, webhook sender, ...)."""

    name = "service"
    interval = 1.0

    async def tick(self, engine: Engine) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class Engine:
    def __init__(self, storage: Storage, clock: Clock | None = None, *, services: list[Service] | None = None):
        self.storage = storage
        self.clock = clock or Clock()
        self.services: list[Service] = list(services or [])
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self.extras: dict[str, Any] = {}

    def ctx(self, actor: Actor, origin_kind: str = "http", origin_ref: str | None = None) -> Ctx:
        return Ctx(now=self.clock.now(), actor=actor, origin_kind=origin_kind, origin_ref=origin_ref)

    async def write(self, actor: Actor, op: Callable[[Tx, Ctx], T], *, origin: str = "http") -> T:
        """Run ``op(tx, ctx)`` in a write transaction; the answer follows the durable commit."""
        ctx = self.ctx(actor, origin)
        return await self.storage.write(lambda tx: op(tx, ctx))

    async def read(self, actor: Actor, op: Callable[[Tx, Ctx], T]) -> T:
        ctx = self.ctx(actor)
        return await self.storage.read(lambda tx: op(tx, ctx))

    async def system_write(self, op: Callable[[Tx, Ctx], T]) -> T:
        return await self.write(SYSTEM, op, origin="daemon")

    # -- lifecycle ----------------------------------------------------------------
    async def start(self, *, run_services: bool = True) -> None:
        await self.storage.start()
        if run_services:
            for service in self.services:
                self._tasks.append(asyncio.create_task(self._loop(service), name=f"taskloom-{service.name}"))

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        await self.storage.close()

    async def _loop(self, service: Service) -> None:
        while not self._stopping.is_set():
            try:
                await service.tick(self)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a service must outlive one bad tick
                log.exception("background service %s failed a tick", service.name)
            try:
                await asyncio.wait_for(self._stopping.wait(), service.interval)
            except TimeoutError:
                pass

    async def long_poll(self, caller: Actor, attempt: Callable[[], Awaitable[T | None]],
                        wait_seconds: float) -> T | None:
        """Run ``attempt`` (a claim) until it returns work or ``wait_seconds`` pass; None if none.

        It listens before each attempt, so work announced while an attempt runs still wakes
        it, and re-tries at least once a second for backoff-delayed runs becoming due. A
        claim gate installed by an API family (``extras["claim_gate"]``) may refuse the
        caller: then there is no work for it at all.
        """
        deadline = time.monotonic() + wait_seconds
        gate = self.extras.get("claim_gate")
        hub = self.storage.hub
        while True:
            if gate is not None and not await gate(self, caller):
                return None
            woken = hub.listen(WORK_NOTICES) if wait_seconds > 0 else None
            try:
                found = await attempt()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or woken is None:
                    return None
                await asyncio.wait((woken,), timeout=min(remaining, 1.0))
            finally:
                if woken is not None:
                    hub.unlisten(WORK_NOTICES, woken)

    async def wait_for_task(self, task_id: str, timeout: float) -> bool:
        return await self.storage.hub.wait([("task", task_id), ("*", "*")], timeout)
