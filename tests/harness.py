"""Drive engine operations directly (no HTTP) on a manual clock: tests/engine and tests/storage."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from taskloom.clock import ManualClock
from taskloom.domain.actors import Actor
from taskloom.engine.context import Ctx
from taskloom.engine.engine import Engine
from taskloom.engine.schedules import carry_firing
from taskloom.engine.webhooks import outbox_hook
from taskloom.storage import open_storage
from taskloom.storage.protocols import Tx

T = TypeVar("T")
BOSS = Actor("human", "boss", "admin")


class Harness:
    """An engine on a manual clock, with a private event loop to run its coroutines."""

    def __init__(self, database_url: str):
        self.clock = ManualClock()
        storage = open_storage(database_url)
        storage.migrate()
        # The event hooks create_app wires (api/app.py), so side effects happen as in the server.
        self.engine = Engine(storage, self.clock, event_hooks=(outbox_hook, carry_firing))
        self.loop = asyncio.new_event_loop()
        self.loop.run_until_complete(self.engine.start(run_services=False))
        listening = getattr(storage, "listening", None)  # PostgreSQL: its listener's start wakes every waiter
        if listening is not None:
            self.loop.run_until_complete(asyncio.wait_for(listening.wait(), 30))

    def write(self, op: Callable[[Tx, Ctx], T], actor: Actor = BOSS) -> T:
        return self.loop.run_until_complete(self.engine.write(actor, op))

    def read(self, op: Callable[[Tx, Ctx], T], actor: Actor = BOSS) -> T:
        return self.loop.run_until_complete(self.engine.read(actor, op))

    def close(self) -> None:
        self.loop.run_until_complete(self.engine.stop())
        self.loop.close()
