"""The storage interface every backend implements, and the in-process notice hub."""

from __future__ import annotations

import asyncio
import logging
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from taskloom.rows import Notice

if TYPE_CHECKING:
    from taskloom.storage.protocols import Tx

T = TypeVar("T")

# Notice keys: ("task", task_id) when a task's events change, ("runs", "*") when
# claimable work may have appeared. Listeners wake on them; they carry no data.
RUNS_CHANGED: Notice = ("runs", "*")
# Published with RUNS_CHANGED when it comes from another process (PostgreSQL LISTEN): a waiter
# with a standing claim listens for this one only, since this process's own commits try its
# claim in the commit itself and waking it as well would only make it check again (with 200
# waiters, 200 wake-ups per commit).
REMOTE_WORK: Notice = ("runs", "from another process")
# The channel key of work that appeared where the transaction could not say on which channel
# (a resumed agent, a budget raised): every standing claim may get some of it.
ANY_CHANNEL = ("any channel",)


class NoticeHub:
    """Wakes waiters in this process when notices arrive (from a commit here, or
    from PostgreSQL LISTEN for commits made by other processes)."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[Notice, set[asyncio.Future[None]]] = {}
        self._lock = threading.Lock()
        # Called (on the loop) when a waiter arrives while there was none: PostgreSQL's notifier
        # tells the other processes that this one now waits for their notices.
        self.on_first_waiter: Callable[[], None] | None = None

    def has_waiters(self) -> bool:
        """Whether anyone waits (thread-safe enough for a yes/no: a dict's truth value)."""
        return bool(self._waiters)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def publish(self, notices: Iterable[Notice]) -> None:
        """Thread-safe: may be called from a storage thread."""
        notices = list(notices)
        if not notices or self._loop is None:
            return
        if _running_loop() is self._loop:
            self._wake(notices)
        else:
            self._loop.call_soon_threadsafe(self._wake, notices)

    def _wake(self, notices: list[Notice]) -> None:
        wake_all = ("*", "*") in notices
        keys = list(self._waiters) if wake_all else notices
        for key in keys:
            for fut in self._waiters.pop(key, ()):
                if not fut.done():
                    fut.set_result(None)

    def listen(self, keys: Iterable[Notice]) -> asyncio.Future[None]:
        """A future resolved by the next publish of one of ``keys`` from now on. Register it
        *before* checking for work, so a notice arriving during the check is not lost;
        always ``unlisten`` it afterwards."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        first = not self._waiters
        for key in keys:
            self._waiters.setdefault(key, set()).add(fut)
        if first and self._waiters and self.on_first_waiter is not None:
            self.on_first_waiter()
        return fut

    def unlisten(self, keys: Iterable[Notice], fut: asyncio.Future[None]) -> None:
        for key in keys:
            waiters = self._waiters.get(key)
            if waiters is not None:
                waiters.discard(fut)
                if not waiters:
                    self._waiters.pop(key, None)

    async def wait(self, keys: Iterable[Notice], timeout: float) -> bool:
        """Wait until one of ``keys`` is published or ``timeout`` passes; True if woken."""
        keys = list(keys)
        fut = self.listen(keys)
        try:
            await asyncio.wait_for(fut, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self.unlisten(keys, fut)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Standing:
    """A write waiting for work (a long-polling claim), run by a backend that supports it in the
    same transaction as the commit that makes work appear, so the claim is answered with that
    commit instead of after a wake-up, a second write and a second fsync."""

    def __init__(self, fn: Callable[[Tx], Any], loop: asyncio.AbstractEventLoop, *,
                 channel: Any = ANY_CHANNEL, claimed: Callable[[Any], list[str | None]] = lambda found: []):
        self.fn = fn
        self.future: asyncio.Future[Any] = loop.create_future()
        self.rounds = 0  # commits that tried it and found nothing for it
        self.taken = False  # a storage thread is trying it now
        self.abandoned = False  # the waiter left while it was taken: answer None
        self.channel = channel  # the one channel it claims from; None: any channel; ANY_CHANNEL: unknown
        self.claimed = claimed  # the channels of the runs in what it found


class StandingPlan:
    """Which standing claims a commit's new work can serve, so a create does not try every
    waiting claim of the process (200 agents waiting elsewhere made each create 0.24 ms dearer).

    ``appeared`` counts the runs the commit made claimable, by channel (``ANY_CHANNEL`` when a
    transaction could not say where). A claim bound to channel X may get work only if runs
    appeared on X, and only as many claims as runs appeared there; work already claimable
    before the commit would have gone to the waiter already (its claim tried it and it keeps
    retrying each second for backoff-delayed runs). Where the channel is unknown, every standing
    claim is tried, as before this plan."""

    def __init__(self, appeared: Counter[Any]):
        self.unknown = appeared.get(ANY_CHANNEL, 0) > 0
        self.left: Counter[Any] = Counter({k: n for k, n in appeared.items() if k != ANY_CHANNEL and n > 0})

    def may_serve(self, standing: Standing) -> bool:
        if self.unknown or standing.channel is ANY_CHANNEL:
            return True
        if standing.channel is None:
            return sum(self.left.values()) > 0
        return self.left[standing.channel] > 0

    def served(self, standing: Standing, found: Any) -> None:
        for channel in standing.claimed(found):
            if self.left[channel] > 0:
                self.left[channel] -= 1


class Standings:
    """The standing writes of one storage; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: list[Standing] = []
        self.takes = 0  # how many times a commit took them to try (a waiter compares it, engine.long_poll)

    def add(self, fn: Callable[[Tx], Any], **where: Any) -> Standing:
        standing = Standing(fn, asyncio.get_running_loop(), **where)
        with self._lock:
            self._waiting.append(standing)
        return standing

    def remove(self, standing: Standing) -> bool:
        """Withdraw it; False if a storage thread is trying it now (its future will tell)."""
        with self._lock:
            if standing.taken:
                standing.abandoned = True
                return False
            if standing in self._waiting:
                self._waiting.remove(standing)
        return True

    def take(self) -> list[Standing]:
        """All waiting ones, oldest first, marked taken (storage thread)."""
        with self._lock:
            self.takes += 1
            taken, self._waiting = self._waiting, []
            for standing in taken:
                standing.taken = True
        return taken

    def put_back(self, standings: list[Standing]) -> list[Standing]:
        """Those that found nothing wait again; returns the abandoned ones (to answer None)."""
        with self._lock:
            gone = [s for s in standings if s.abandoned]
            for standing in standings:
                standing.taken = False
                standing.rounds += 1
            self._waiting[:0] = [s for s in standings if not s.abandoned]
        return gone


class Storage(ABC):
    """A backend runs engine operations (plain functions of a ``Tx``) in transactions.

    ``write`` returns only after the transaction has committed durably; if the
    function raises, nothing it did is kept. ``read`` never writes.
    """

    dialect: str
    url: str

    def __init__(self) -> None:
        self.hub = NoticeHub()
        # Long-polling claims a backend may run right in the commit that makes work appear
        # (SQLite's writer does; elsewhere they wait for the hub's wake-up as before).
        self.standings = Standings()
        self.runs_standings = False
        # Called with each committed write transaction, on the storage thread, after the commit.
        self.commit_hooks: list[Callable[[Tx], None]] = []

    def committed(self, tx: Tx) -> None:
        calls: list[Callable[[], None]] = [lambda hook=hook: hook(tx) for hook in self.commit_hooks]  # type: ignore[misc]
        for call in calls + tx.after_commit:
            try:
                call()
            except Exception:  # noqa: BLE001 - an observer must never fail a committed write
                logging.getLogger("taskloom.storage").exception("commit hook failed")

    @abstractmethod
    def migrate(self) -> list[str]:
        """Apply pending migrations; return the names applied."""

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def write(self, fn: Callable[[Tx], T]) -> T: ...

    @abstractmethod
    async def read(self, fn: Callable[[Tx], T]) -> T: ...

    def describe(self) -> dict[str, Any]:
        return {"backend": self.dialect}
