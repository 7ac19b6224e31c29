"""The claim gate that keeps paused, stopped or failed agents from getting work."""

from __future__ import annotations

import time

from taskloom.domain.actors import SYSTEM, Actor
from taskloom.engine.engine import Engine

STATE_TTL = 1.0  # seconds another process's state change may take to reach this one's gate


class PausedAgentGate:
    """A registered agent that is not active is handed no work; unregistered callers pass.

    Agent states are cached for ``STATE_TTL`` per process; ``forget`` drops one at once
    (this process changed it)."""

    def __init__(self, ttl: float = STATE_TTL, max_entries: int = 10_000):
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[str | None, float]] = {}

    async def allows(self, engine: Engine, caller: Actor) -> bool:
        now = time.monotonic()
        hit = self._cache.get(caller.ref)
        if hit is None or hit[1] < now:
            state = await engine.read(SYSTEM, lambda tx, ctx: tx.agent_state(caller.ref))
            if len(self._cache) > self.max_entries:
                self._cache.clear()
            hit = self._cache[caller.ref] = (state, now + self.ttl)
        return hit[0] in (None, "active")

    def forget(self, ref: str) -> None:
        self._cache.pop(ref, None)
