"""The engine: storage, clock and background services, with async entry points.

Each public method runs one engine operation in one storage transaction. API
layers call these and never touch storage or SQL themselves.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar, cast

from taskloom.clock import Clock
from taskloom.domain.actors import SYSTEM, Actor
from taskloom.domain.errors import Unavailable
from taskloom.engine.budgets import BudgetPresence
from taskloom.engine.context import Ctx, EventHook
from taskloom.storage.base import ANY_CHANNEL, REMOTE_WORK, RUNS_CHANGED, Standing, Storage
from taskloom.storage.protocols import Tx

T = TypeVar("T")
WORK_NOTICES = (RUNS_CHANGED, ("*", "*"))  # what wakes a long-polling claim
# ... one with a standing claim: this process's commits try the claim itself (storage/base.py).
STANDING_NOTICES = (REMOTE_WORK, ("*", "*"))
DUE_TTL = 0.5  # seconds a standing claim's re-check may reuse another waiter's "anything due?" read
log = logging.getLogger("taskloom.engine")


class Service:
    """A background loop owned by the engine (rescuer, scheduler, webhook sender, ...)."""

    name = "service"
    interval = 1.0

    async def tick(self, engine: Engine) -> None:  # pragma: no cover - interface
        raise NotImplementedError


class ClaimGate(Protocol):
    """Decides before a claim whether the caller may get work at all."""

    async def allows(self, engine: Engine, caller: Actor) -> bool: ...

    def forget(self, ref: str) -> None: ...


class Engine:
    def __init__(self, storage: Storage, clock: Clock | None = None, *, services: list[Service] | None = None,
                 event_hooks: Sequence[EventHook] = (), claim_gates: Sequence[ClaimGate] = (),
                 write_timeout_seconds: float = 5.0):
        self.storage = storage
        self.clock = clock or Clock()
        self.services: list[Service] = list(services or [])
        # Transactional side effects of events (every Ctx carries them) and the gates a
        # caller passes before a claim: given by the composition root (create_app).
        self.event_hooks: tuple[EventHook, ...] = tuple(event_hooks)
        self.claim_gates: tuple[ClaimGate, ...] = tuple(claim_gates)
        self.budgets = BudgetPresence()  # claims skip the budgets table while none exists
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Set when the server is shutting down: long-polls answer "nothing" at once and
        # streams close, so in-flight requests finish quickly.
        self.draining = False
        self.extras: dict[str, Any] = {}
        self.write_timeout_seconds = write_timeout_seconds
        # Write functions running now: key -> (operation name, monotonic start). Filled on
        # the storage thread that runs them, read by the watchdog and /readyz.
        self._running_writes: dict[object, tuple[str, float]] = {}
        self._reported_writes: set[object] = set()
        # Readiness checks: each returns None when fine, else why the server is not ready.
        self.readiness_checks: list[Callable[[], str | None]] = [self._writer_problem]
        self._stands: dict[str, set[Standing]] = {}  # waiting claims run in the commit that queues work, by caller
        self._due: dict[Any, tuple[float, bool]] = {}  # channel -> (until, any run due there): see _may_claim
        self.services.append(WriteWatchdog())

    def ctx(self, actor: Actor, origin_kind: str = "http", origin_ref: str | None = None) -> Ctx:
        return Ctx(now=self.clock.now(), actor=actor, origin_kind=origin_kind, origin_ref=origin_ref,
                   hooks=self.event_hooks, budgets=self.budgets)

    async def write(self, actor: Actor, op: Callable[[Tx, Ctx], T], *, origin: str = "http",
                    name: str | None = None) -> T:
        """Run ``op(tx, ctx)`` in a write transaction; the answer follows the durable commit.

        The write watchdog sees ``op`` while it runs, under ``name`` (default: the name of
        the function that made the lambda, e.g. the route).
        """
        ctx = self.ctx(actor, origin)
        op_name = name or _op_name(op)

        def watched(tx: Tx) -> T:
            key = object()
            self._running_writes[key] = (op_name, time.monotonic())
            try:
                return op(tx, ctx)
            finally:
                self._running_writes.pop(key, None)
                self._reported_writes.discard(key)

        return await self.storage.write(watched)

    # -- the write watchdog -------------------------------------------------------------
    def stuck_writes(self) -> list[tuple[object, str, float]]:
        """(key, operation name, seconds running) of every write running past the timeout."""
        now = time.monotonic()
        return [(key, name, now - started) for key, (name, started) in list(self._running_writes.items())
                if now - started > self.write_timeout_seconds]

    def report_stuck_writes(self) -> None:
        for key, name, seconds in self.stuck_writes():
            if key not in self._reported_writes:
                self._reported_writes.add(key)
                log.error("write %s has run for %.1f s (TASKLOOM_WRITE_TIMEOUT_SECONDS=%g): the writer is stuck",
                          name, seconds, self.write_timeout_seconds)

    def _writer_problem(self) -> str | None:
        stuck = self.stuck_writes()
        if not stuck:
            return None
        _, name, seconds = max(stuck, key=lambda s: s[2])
        return f"writer stuck: {name} has run for {seconds:.1f} s (timeout {self.write_timeout_seconds:g} s)"

    def readiness_problems(self) -> list[str]:
        """Why this server should not get traffic now (empty when ready); /readyz answers 503 then."""
        return [p for p in (check() for check in self.readiness_checks) if p]

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

    def begin_drain(self) -> None:
        """Shutdown has begun: wake every long-poll and stream so they answer and end."""
        if not self.draining:
            self.draining = True
            self.storage.hub.publish([("*", "*")])

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the services after their current pass (cancelled past ``timeout``), then close storage."""
        self._stopping.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=timeout)
            for task in late:
                log.warning("background service %s did not finish its pass in time; cancelled", task.get_name())
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.storage.close()

    async def _loop(self, service: Service) -> None:
        while not self._stopping.is_set():
            try:
                await service.tick(self)
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:  # the database is down: say so once a tick, no traceback
                log.warning("background service %s skipped a pass: %s", service.name, exc.message)
            except Exception:  # noqa: BLE001 - a service must outlive one bad tick
                log.exception("background service %s failed a tick", service.name)
            try:
                await asyncio.wait_for(self._stopping.wait(), service.interval)
            except TimeoutError:
                pass

    async def long_poll(self, caller: Actor, attempt: Callable[[], Awaitable[T | None]],
                        wait_seconds: float, *, standing: Callable[[Tx, Ctx], T | None] | None = None,
                        channel: Any = ANY_CHANNEL) -> T | None:
        """Run ``attempt`` (a claim) until it returns work or ``wait_seconds`` pass; None if none.

        It listens before each attempt, so work announced while an attempt runs still wakes
        it, and re-tries at least once a second for backoff-delayed runs becoming due. A
        claim gate (e.g. paused agents get no work) may refuse the caller: then there is no
        work for it at all.

        ``standing`` is the attempt's write operation. A backend that runs standing writes
        (SQLite) tries it, while this waits, inside the very commit that queues work: the
        waiter gets its claim with that commit, without a wake-up hop, a second write and a
        second fsync. It is withdrawn before every ``attempt``, so a waiter never claims twice.
        ``channel`` is the one channel it claims from (None: any), so a commit tries it only when
        work appeared there (storage/base.py ``StandingPlan``); ``standing`` returns claims.
        """
        deadline = time.monotonic() + wait_seconds
        hub = self.storage.hub
        use_standing = standing is not None and self.storage.runs_standings
        while True:
            if not await self._gates_allow(caller):
                return None
            keys = WORK_NOTICES
            takes = self.storage.standings.takes
            woken = hub.listen(keys) if wait_seconds > 0 else None
            stand = None
            try:
                found = await attempt()
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0 or woken is None or self.draining:
                    return None
                if use_standing:
                    assert standing is not None
                    stand = self._stand(caller, standing, channel)
                    if self.storage.standings.takes == takes:
                        # No commit has tried standing claims since before our attempt, so every
                        # commit from now on tries ours: only other processes' work must wake us.
                        hub.unlisten(keys, woken)
                        keys = STANDING_NOTICES
                        woken = hub.listen(keys)
                while True:
                    rounds = stand.rounds if stand is not None else 0
                    waits: set[asyncio.Future[Any]] = {woken} if stand is None else {woken, stand.future}
                    await asyncio.wait(waits, timeout=min(remaining, 1.0), return_when=asyncio.FIRST_COMPLETED)
                    if stand is not None and stand.future.done():
                        found, stand = cast("T | None", stand.future.result()), None
                        if found is not None:
                            return found
                        break
                    remaining = deadline - time.monotonic()
                    if (stand is not None and not woken.done() and remaining > 0 and not self.draining
                            and not await self._may_claim(caller, channel)):
                        continue  # the once-a-second re-check: nothing it could claim is due, stand on
                    if stand is None or not woken.done() or stand.rounds == rounds or remaining <= 0 or self.draining:
                        break
                    if keys is STANDING_NOTICES:  # another process's work woke it (this process's commits don't)
                        break
                    # The commit that woke us tried our claim in it already and found nothing: wait on,
                    # woken from now on only by other processes' work (this process's tries our claim).
                    hub.unlisten(keys, woken)
                    keys = STANDING_NOTICES
                    woken = hub.listen(keys)
                if stand is not None:
                    found, stand = cast("T | None", await self._withdraw(caller, stand)), None
                    if found is not None:
                        return found
            finally:
                if woken is not None:
                    hub.unlisten(keys, woken)
                if stand is not None:  # leaving on an error: withdraw it, best effort
                    self.storage.standings.remove(stand)
                    self._stands.get(caller.ref, set()).discard(stand)

    async def _gates_allow(self, caller: Actor) -> bool:
        """Whether every claim gate lets ``caller`` have work (e.g. it is not a paused agent)."""
        for gate in self.claim_gates:
            if not await gate.allows(self, caller):
                return False
        return True

    async def _may_claim(self, caller: Actor, channel: Any) -> bool:
        """The once-a-second re-check of a standing claim, made cheap: it matters only for work no
        commit of this process announced (a backoff-delayed run coming due, another process's
        commit whose notice was lost) and for the claim gates (an agent paused elsewhere). So it
        runs the gates, then asks whether any run is queued and due on the claim's channel (one
        read, shared by every waiter on that channel for DUE_TTL seconds); only then does the
        waiter withdraw and try a full claim write. With 200 agents waiting on an idle channel that
        is one read per DUE_TTL instead of 200 claim writes a second."""
        if not await self._gates_allow(caller):
            return True  # withdraw: the claim loop says no for it
        key = None if channel is ANY_CHANNEL else channel
        now = time.monotonic()
        hit = self._due.get(key)
        if hit is None or hit[0] < now:
            due = await self.read(SYSTEM, lambda tx, ctx: tx.runs_due_exist(ctx.now, key))
            if len(self._due) > 1_000:
                self._due.clear()
            hit = self._due[key] = (now + DUE_TTL, due)
        return hit[1]

    def _stand(self, caller: Actor, op: Callable[[Tx, Ctx], T | None], channel: Any) -> Standing:
        def standing(tx: Tx) -> T | None:
            if self.draining:
                return None
            found = op(tx, self.ctx(caller))
            return found or None  # nothing claimable ([] from a batch) is None

        stand = self.storage.standings.add(standing, channel=channel, claimed=_channels_of_claims)
        self._stands.setdefault(caller.ref, set()).add(stand)
        return stand

    async def _withdraw(self, caller: Actor, stand: Standing) -> Any:
        """Withdraw a standing claim; if a commit is trying it right now, its answer (or None)."""
        self._stands.get(caller.ref, set()).discard(stand)
        if self.storage.standings.remove(stand):
            return None
        return await stand.future

    def caller_changed(self, ref: str) -> None:
        """A caller's standing changed (an agent paused or resumed): gates forget what they cached,
        and its waiting claims stop standing (they return to check the gates)."""
        for gate in self.claim_gates:
            gate.forget(ref)
        for stand in self._stands.pop(ref, set()):
            if self.storage.standings.remove(stand) and not stand.future.done():
                stand.future.set_result(None)

    async def wait_for_task(self, task_id: str, timeout: float) -> bool:
        return await self.storage.hub.wait([("task", task_id), ("*", "*")], timeout)


class WriteWatchdog(Service):
    """Logs (once, with its operation name) each write running past the write timeout."""

    name = "write-watchdog"
    interval = 1.0

    async def tick(self, engine: Engine) -> None:
        engine.report_stuck_writes()


def _op_name(op: Callable[..., Any]) -> str:
    name = getattr(op, "__qualname__", None) or repr(op)
    return name.replace(".<locals>", "").replace(".<lambda>", "")


def _channels_of_claims(found: Any) -> list[str | None]:
    """The channels of the runs a standing claim took (one claim, or a batch's list)."""
    return [claim.run.get("network_channel") for claim in (found if isinstance(found, list) else [found])]
