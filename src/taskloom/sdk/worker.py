"""Workers: claim tasks, run a handler on each, finish the run — and survive what goes wrong.

    worker = Worker(Client(), channel="research", concurrency=8)

    @worker.task
    def summarise(task: Task, ctx: RunContext) -> dict: ...

    worker.run()      # until SIGINT/SIGTERM or worker.stop()

``Worker`` runs plain functions, each in its own thread; ``AsyncWorker`` runs ``async def``
handlers on its event loop. Both share one engine (:class:`_Runner`, asyncio):

- one claim loop fills free slots with claim-batch (claim-next on older servers);
- one heartbeat loop renews every held lease at a third of the lease;
- finished runs are completed together with complete-batch;
- a 403/404/409 from the server means the run is not ours any more (canceled, lease
  lost): ``ctx.cancelled`` is set, it is logged once, and the worker goes on;
- on stop it claims nothing more, gives running handlers ``shutdown_grace_seconds``,
  then *releases* what is left (no attempt spent) and returns.

One log line per task (logger ``taskloom.worker``): ``completed``, ``failed (retrying)``,
``failed``, ``released`` or ``canceled``, with the task identifier and the duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from taskloom.sdk import calls
from taskloom.sdk.client import AsyncClient, Client
from taskloom.sdk.context import LOST_STATUSES, AsyncRunContext, RunContext
from taskloom.sdk.errors import Failure, NonRetryableError, ReleaseRun, ServerUnreachable, TaskloomError
from taskloom.sdk.models import Claim

log = logging.getLogger("taskloom.worker")
BATCH_MAX = 500  # the batch endpoints' limit per call
RELEASE_PAUSE = 1.0  # a slot rests this long after its handler released a run, so it is not re-claimed at once


@dataclass
class Options:
    channel: str | None = None
    concurrency: int = 1
    lease_seconds: float = 60.0
    shutdown_grace_seconds: float = 30.0
    poll_seconds: float = 5.0  # long-poll per claim call; bounds how long a stop waits for an answer
    max_tasks: int | None = None
    filters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if self.lease_seconds < 1:
            raise ValueError("lease_seconds must be at least 1")


@dataclass(eq=False)
class _Slot:
    claim: Claim
    ctx: RunContext | AsyncRunContext
    started: float = field(default_factory=time.monotonic)
    job: asyncio.Task[None] | None = None
    settling: bool = False  # the handler is done; its outcome is being sent
    lost: str | None = None  # why the run is not ours any more
    logged: bool = False

    @property
    def name(self) -> str:
        return self.claim.task.name

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.2f}s"


Invoke = Callable[[_Slot], Awaitable[Any]]


class _Runner:
    def __init__(self, client: AsyncClient, options: Options, invoke: Invoke,
                 make_ctx: Callable[[Claim, Callable[[str], None]], RunContext | AsyncRunContext]):
        self.client = client
        self.o = options
        self.invoke = invoke
        self.make_ctx = make_ctx
        self.held: dict[str, _Slot] = {}
        self.taken = 0
        self.done = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = asyncio.Event()
        self._abort = asyncio.Event()
        self._freed = asyncio.Event()
        self._stop_requests = 0
        self._completions: list[tuple[_Slot, dict[str, Any], asyncio.Future[dict[str, Any]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._unreachable = False

    # -- stopping (thread-safe) -------------------------------------------------------

    def request_stop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            self._stop_requests += 1
            return
        with contextlib.suppress(RuntimeError):  # the loop just closed
            self._loop.call_soon_threadsafe(self._stop_now)

    def _stop_now(self) -> None:
        if self._stopping.is_set():
            log.warning("stopping now: releasing %d running task(s)", len(self.held))
            self._abort.set()
            return
        self._stopping.set()
        if self.held:
            log.info("stopping: no new tasks; waiting up to %gs for %d running task(s) (stop again to release them now)",
                     self.o.shutdown_grace_seconds, len(self.held))

    # -- main loop -----------------------------------------------------------------

    async def run(self) -> int:
        self._loop = asyncio.get_running_loop()
        for _ in range(self._stop_requests):
            self._stop_now()
        beats = asyncio.create_task(self._heartbeats())
        try:
            await self._claim_loop()
            await self._drain()
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
        return self.done

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            free = self.o.concurrency - len(self.held)
            if self.o.max_tasks is not None:
                if self.taken >= self.o.max_tasks:
                    return
                free = min(free, self.o.max_tasks - self.taken)
            if free <= 0:
                self._freed.clear()
                await _first(self._freed.wait(), self._stopping.wait())
                continue
            claims = await self._claim(free)
            for claim in claims:
                if self._stopping.is_set():
                    await self._give_back(claim)
                else:
                    self._start(claim)

    async def _claim(self, free: int) -> list[Claim]:
        poll = asyncio.ensure_future(self.client.claim_batch(
            min(free, BATCH_MAX), self.o.channel, wait_seconds=self.o.poll_seconds,
            lease_seconds=self.o.lease_seconds, retry_for=10.0, **self.o.filters))
        # On stop, let an open long-poll answer (it may have claimed for us, then we release)
        # unless a second stop asks to quit at once.
        await _first(poll, self._abort.wait())
        if not poll.done():
            poll.cancel()
            return []
        try:
            claims = poll.result()
        except ServerUnreachable as exc:
            if not self._unreachable:
                log.error("%s; retrying", exc.message)
                self._unreachable = True
            await _first(asyncio.sleep(2.0), self._stopping.wait())
            return []
        except TaskloomError as exc:
            if exc.status in (401, 403):
                raise
            log.error("claim refused: %s; retrying", exc)
            await _first(asyncio.sleep(2.0), self._stopping.wait())
            return []
        if self._unreachable:
            log.info("reached %s again", self.client.url)
            self._unreachable = False
        return claims

    def _start(self, claim: Claim) -> None:
        self.taken += 1
        slot: _Slot

        def on_lost(reason: str) -> None:  # may be called from a handler thread
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._lose, slot, reason)

        slot = _Slot(claim, self.make_ctx(claim, on_lost))
        self.held[claim.run_id] = slot
        slot.job = asyncio.create_task(self._work(slot))

    async def _give_back(self, claim: Claim) -> None:
        self.taken += 1
        slot = _Slot(claim, self.make_ctx(claim, lambda reason: None))
        await self._release(slot, "the worker is stopping")

    # -- one task ----------------------------------------------------------------------

    async def _work(self, slot: _Slot) -> None:
        pause = 0.0
        try:
            outcome = await self._outcome(slot)
            slot.settling = True
            if slot.lost is not None:
                self._note_lost(slot)
            elif outcome[0] == "complete":
                await self._complete(slot, outcome[1])
            elif outcome[0] == "release":
                await self._release(slot, outcome[1])
                pause = RELEASE_PAUSE
            else:
                await self._fail(slot, outcome[1], outcome[2])
        except asyncio.CancelledError:
            if slot.lost is None:  # not cancelled by us (lost run or release): the loop is going away
                raise
        except Exception:  # noqa: BLE001 - one task's trouble never stops the worker
            log.exception("unexpected error finishing %s", slot.name)
        finally:
            if pause and not self._stopping.is_set():
                await _first(asyncio.sleep(pause), self._stopping.wait())
            self.held.pop(slot.claim.run_id, None)
            self.done += 1
            self._freed.set()

    async def _outcome(self, slot: _Slot) -> tuple[Any, ...]:
        """What the handler's end asks for: ("complete", result) | ("fail", error, retryable) | ("release", why)."""
        try:
            result = await self.invoke(slot)
        except ReleaseRun as exc:
            return ("release", exc.reason)
        except Failure as exc:
            return ("fail", exc.message, exc.retryable)
        except NonRetryableError as exc:
            return ("fail", _describe(exc), False)
        except Exception as exc:  # noqa: BLE001 - the run fails with the handler's error
            return ("fail", _describe(exc), True)
        try:
            calls.encode(result)
        except (TypeError, ValueError) as exc:
            return ("fail", f"the handler's result is not JSON: {exc}", False)
        return ("complete", result)

    async def _complete(self, slot: _Slot, result: Any) -> None:
        item = calls.complete_item(slot.claim, result, dict(slot.ctx.usage))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._completions.append((slot, item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        try:
            answer = await future
        except TaskloomError as exc:
            self._line(slot, logging.ERROR, "not completed", f"{exc.message} (it is retried once its lease lapses)")
            return
        if answer["status"] == 200:
            self._line(slot, logging.INFO, "completed")
        elif answer["status"] in LOST_STATUSES:
            self._lose(slot, answer.get("error", "refused"))
        else:
            self._line(slot, logging.ERROR, "not completed", str(answer.get("error")))

    async def _flush(self) -> None:
        # Completions that pile up while one call is in flight go together in the next.
        while self._completions:
            batch, self._completions = self._completions[:BATCH_MAX], self._completions[BATCH_MAX:]
            try:
                answers = await self.client.complete_many([item for _, item, _ in batch],
                                                          retry_for=max(60.0, self.o.lease_seconds))
            except TaskloomError as exc:
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, _, future), answer in zip(batch, answers, strict=True):
                future.set_result(answer)

    async def _fail(self, slot: _Slot, error: str, retryable: bool) -> None:
        try:
            await self.client.fail(slot.claim, error, retryable=retryable)
            status = await self.client.task_status_of_run(slot.claim.run_id) if retryable else "failed"
        except TaskloomError as exc:
            if exc.status in LOST_STATUSES:
                self._lose(slot, exc.message)
            else:
                self._line(slot, logging.ERROR, "not failed", exc.message)
            return
        word = "failed" if status == "failed" else "failed (retrying)"
        self._line(slot, logging.WARNING, word, error)

    async def _release(self, slot: _Slot, reason: str) -> None:
        try:
            await self.client.release(slot.claim, reason)
        except TaskloomError as exc:
            if exc.status in LOST_STATUSES:
                self._lose(slot, exc.message)
            else:
                self._line(slot, logging.ERROR, "not released", f"{exc.message} (it is retried once its lease lapses)")
            return
        self._line(slot, logging.INFO, "released", reason)

    def _lose(self, slot: _Slot, reason: str) -> None:
        """The run is not ours any more: flag the handler, log once, and free the slot soon."""
        if slot.lost is not None:
            return
        slot.lost = reason
        slot.ctx.cancelled.set()
        self._note_lost(slot)
        if isinstance(slot.ctx, AsyncRunContext) and slot.job is not None and not slot.settling:
            slot.job.cancel()  # async handlers stop at their next await; threads watch ctx.cancelled

    def _note_lost(self, slot: _Slot) -> None:
        self._line(slot, logging.WARNING, "canceled", slot.lost or "")

    def _line(self, slot: _Slot, level: int, word: str, detail: str | None = None) -> None:
        if slot.logged:
            return
        slot.logged = True
        text = f"{word} {slot.name} in {slot.elapsed()}"
        log.log(level, text + (f": {_one_line(detail)}" if detail else ""))

    # -- leases --------------------------------------------------------------------

    async def _heartbeats(self) -> None:
        interval = max(self.o.lease_seconds / 3, 0.3)
        while True:
            await asyncio.sleep(interval)
            slots = [s for s in self.held.values() if s.lost is None]
            await asyncio.gather(*(self._beat(s, interval) for s in slots))

    async def _beat(self, slot: _Slot, budget: float) -> None:
        try:
            await self.client.heartbeat(slot.claim, retry_for=budget)
        except ServerUnreachable:
            pass  # the next beat tries again; the lease has two more beats of room
        except TaskloomError as exc:
            # Once the handler is done, the complete/fail/release call's own answer decides: a
            # beat refused because that call already landed (its answer lost to a restart) is no loss.
            if exc.status in LOST_STATUSES and not slot.settling:
                self._lose(slot, exc.message)

    # -- shutdown ------------------------------------------------------------------

    async def _drain(self) -> None:
        jobs = [s.job for s in self.held.values() if s.job is not None]
        if jobs:
            if self._stopping.is_set():
                await _first(asyncio.wait(jobs, timeout=self.o.shutdown_grace_seconds), self._abort.wait())
            else:
                await asyncio.wait(jobs)  # max_tasks reached: let them finish
        # Whatever still runs goes back to the queue: released, not failed, so no attempt is spent.
        left = [s for s in self.held.values() if not s.settling]
        for slot in left:
            slot.lost = "released by the worker"  # its handler's outcome is thrown away
            slot.ctx.cancelled.set()
            if slot.job is not None:
                slot.job.cancel()
        await _first(asyncio.gather(*(self._release(s, "the worker is stopping") for s in left)), self._abort.wait())
        settling = [s.job for s in self.held.values() if s.job is not None and s.settling]
        if settling:
            await _first(asyncio.wait(settling), self._abort.wait())


async def _first(*waits: Awaitable[Any]) -> None:
    """Wait until the first of ``waits`` is done; cancel the rest (futures passed in are left running)."""
    tasks = [w if isinstance(w, asyncio.Future) else asyncio.ensure_future(w) for w in waits]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task, wait in zip(tasks, waits, strict=True):
        if task in pending and task is not wait:
            task.cancel()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _ensure_logging() -> None:
    # A worker is a program's main loop: show its lines when the program set up no logging.
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        quiet_http_logs()


def quiet_http_logs() -> None:
    """httpx logs every request at INFO: keep the worker's one line per task readable."""
    logging.getLogger("httpx").setLevel(logging.WARNING)


@contextlib.contextmanager
def _signals(runner: _Runner, loop: asyncio.AbstractEventLoop, enabled: bool) -> Any:
    installed = []
    if enabled and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, runner.request_stop)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


class _WorkerBase:
    def __init__(self, channel: str | None, concurrency: int, lease_seconds: float, shutdown_grace_seconds: float,
                 max_tasks: int | None, poll_seconds: float, handle_signals: bool, filters: dict[str, Any]):
        self.options = Options(channel=channel, concurrency=concurrency, lease_seconds=lease_seconds,
                               shutdown_grace_seconds=shutdown_grace_seconds, poll_seconds=poll_seconds,
                               max_tasks=max_tasks, filters=filters)
        self.handle_signals = handle_signals
        self.handler: Callable[..., Any] | None = None
        self._runner: _Runner | None = None
        self._stop_early = False

    def task(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: the handler, called as ``fn(task, ctx)`` for every claimed task."""
        if self.handler is not None:
            raise ValueError("a worker runs one handler; make one worker per kind of task (channel)")
        self._check(fn)
        self.handler = fn
        return fn

    def _check(self, fn: Callable[..., Any]) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop claiming, let running handlers finish (within the grace period), release the rest.

        Safe from any thread, a handler or a signal handler; a second call releases at once."""
        if self._runner is None:
            self._stop_early = True
        else:
            self._runner.request_stop()

    async def _serve(self, client: AsyncClient, invoke: Invoke,
                     make_ctx: Callable[[Claim, Callable[[str], None]], RunContext | AsyncRunContext]) -> int:
        if self.handler is None:
            raise ValueError("no handler: decorate a function with @worker.task")
        _ensure_logging()
        runner = _Runner(client, self.options, invoke, make_ctx)
        self._runner = runner
        if self._stop_early:
            runner.request_stop()
        with _signals(runner, asyncio.get_running_loop(), self.handle_signals):
            return await runner.run()


class Worker(_WorkerBase):
    """Runs a plain-function handler ``fn(task: Task, ctx: RunContext)``, each call in its own thread."""

    def __init__(self, client: Client | None = None, channel: str | None = None, *, concurrency: int = 1,
                 lease_seconds: float = 60.0, shutdown_grace_seconds: float = 30.0, max_tasks: int | None = None,
                 poll_seconds: float = 5.0, handle_signals: bool = True, **filters: Any):
        super().__init__(channel, concurrency, lease_seconds, shutdown_grace_seconds, max_tasks, poll_seconds,
                         handle_signals, filters)
        self.client = client or Client()

    def _check(self, fn: Callable[..., Any]) -> None:
        if inspect.iscoroutinefunction(fn):
            raise TypeError("Worker runs plain functions; use AsyncWorker for async def handlers")

    def run(self) -> int:
        """Work until stopped (SIGINT/SIGTERM, stop(), or max_tasks). Returns the number of tasks handled."""
        return asyncio.run(self._main())

    async def _main(self) -> int:
        c = self.client
        async with AsyncClient(c.url, c.token, timeout=c.timeout, retry_for=c.retry.budget) as engine_client:
            return await self._serve(engine_client, self._in_thread,
                                     lambda claim, lost: RunContext(c, claim, lost))

    async def _in_thread(self, slot: _Slot) -> Any:
        # A daemon thread per call: a handler still running when the worker exits (after its
        # run was released) cannot keep the process alive.
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        handler = self.handler
        assert handler is not None

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                future.set_result(value) if ok else future.set_exception(value)

        def target() -> None:
            try:
                outcome: tuple[bool, Any] = (True, handler(slot.claim.task, slot.ctx))
            except Exception as exc:  # noqa: BLE001 - handed to the loop
                outcome = (False, exc)
            with contextlib.suppress(RuntimeError):  # the loop is closed: the worker has gone
                loop.call_soon_threadsafe(settle, *outcome)

        threading.Thread(target=target, name=f"taskloom-{slot.name}", daemon=True).start()
        return await future


class AsyncWorker(_WorkerBase):
    """Runs an ``async def`` handler ``fn(task: Task, ctx: AsyncRunContext)`` on the event loop."""

    def __init__(self, client: AsyncClient | None = None, channel: str | None = None, *, concurrency: int = 1,
                 lease_seconds: float = 60.0, shutdown_grace_seconds: float = 30.0, max_tasks: int | None = None,
                 poll_seconds: float = 5.0, handle_signals: bool = True, **filters: Any):
        super().__init__(channel, concurrency, lease_seconds, shutdown_grace_seconds, max_tasks, poll_seconds,
                         handle_signals, filters)
        self.client = client or AsyncClient()

    def _check(self, fn: Callable[..., Any]) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError("AsyncWorker runs async def handlers; use Worker for plain functions")

    async def run(self) -> int:
        c = self.client
        return await self._serve(c, self._awaited, lambda claim, lost: AsyncRunContext(c, claim, lost))

    async def _awaited(self, slot: _Slot) -> Any:
        assert self.handler is not None
        return await self.handler(slot.claim.task, slot.ctx)
