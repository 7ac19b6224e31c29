"""What a handler gets besides its task: progress, usage, questions to a person, cancellation.

``RunContext`` (sync handlers, running in their own thread) and ``AsyncRunContext``
(``async def`` handlers) have the same methods. ``cancelled`` is set when the run was
canceled, its lease was lost, or the worker is shutting down and released it: stop
working then, the result would be thrown away.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from taskloom.sdk.errors import RunCanceled, ServerUnreachable, TaskloomError
from taskloom.sdk.models import Claim, Message

if TYPE_CHECKING:
    from taskloom.sdk.client import AsyncClient, Client

# report_usage's names → the API's usage fields (running totals of the run).
_COUNTERS = {"input_tokens": "input_tokens", "output_tokens": "output_tokens", "cost": "total_cost",
             "tool_calls": "tool_call_count", "turns": "turn_count"}
LOST_STATUSES = (403, 404, 409)


class _Context:
    def __init__(self, claim: Claim, on_lost: Callable[[str], None], poll_seconds: float):
        self.claim = claim
        self.task = claim.task
        self.run = claim.run
        self.usage: dict[str, Any] = {}
        self._on_lost = on_lost
        self._poll = poll_seconds

    def _add_usage(self, counts: dict[str, float | int | None], labels: dict[str, str | None]) -> dict[str, Any]:
        for name, value in counts.items():
            if value is not None:
                field = _COUNTERS[name]
                self.usage[field] = self.usage.get(field, 0) + value
        self.usage.update({k: v for k, v in labels.items() if v is not None})
        return dict(self.usage)

    def _lost(self, exc: TaskloomError, event: Any) -> bool:
        """A 403/404/409 means the run is not ours any more: flag it (the worker logs it once)."""
        if isinstance(exc, ServerUnreachable) or exc.status not in LOST_STATUSES:
            return False
        event.set()
        self._on_lost(exc.message)
        return True

    @contextlib.contextmanager
    def _guard(self, event: Any, *, raises: bool) -> Iterator[None]:
        try:
            yield
        except TaskloomError as exc:
            if not self._lost(exc, event):
                raise
            if raises:
                raise RunCanceled(exc.status, exc.message) from None

    @staticmethod
    def _answer(replies: list[Message]) -> str | None:
        return replies[0].message if replies else None

    @staticmethod
    def _no_answer(question: str, timeout: float) -> TimeoutError:
        return TimeoutError(f"no answer within {timeout:g} s to: {question}")


class RunContext(_Context):
    def __init__(self, client: Client, claim: Claim, on_lost: Callable[[str], None], poll_seconds: float = 0.5):
        super().__init__(claim, on_lost, poll_seconds)
        self.client = client
        self.cancelled = threading.Event()

    def progress(self, progress: Any) -> None:
        """Record progress (any JSON); it also renews the lease."""
        self._beat(progress=progress)

    def report_usage(self, *, input_tokens: int | None = None, output_tokens: int | None = None,
                     cost: float | None = None, model: str | None = None, provider: str | None = None,
                     tool_calls: int | None = None, turns: int | None = None, currency: str | None = None) -> None:
        """Add to the run's usage (figures add up across calls) and send the totals now."""
        totals = self._add_usage({"input_tokens": input_tokens, "output_tokens": output_tokens, "cost": cost,
                                  "tool_calls": tool_calls, "turns": turns},
                                 {"model": model, "provider": provider, "cost_currency": currency})
        self._beat(**totals)

    def _beat(self, **fields: Any) -> None:
        with self._guard(self.cancelled, raises=False):
            self.client.heartbeat(self.claim, **fields)

    def messages(self, after_sequence: int = 0) -> list[Message]:
        """The task's conversation: questions asked and the answers, in order."""
        with self._guard(self.cancelled, raises=True):
            return self.client.messages(self.claim, after_sequence=after_sequence)
        raise AssertionError("unreachable")

    def ask_human(self, question: str, *, timeout: float | None = None) -> str:
        """Ask a person; the task shows awaiting_input until they answer. Returns the answer.

        Raises TimeoutError after ``timeout`` seconds, RunCanceled if the run is canceled meanwhile.
        """
        with self._guard(self.cancelled, raises=True):
            asked = self.client.ask(self.claim, question)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = self._answer(self._replies(asked.sequence))
            if answer is not None:
                return answer
            if deadline is not None and time.monotonic() >= deadline:
                raise self._no_answer(question, timeout or 0)
            if self.cancelled.wait(self._poll):
                raise RunCanceled(409, "the run was canceled while waiting for an answer")

    def _replies(self, after: int) -> list[Message]:
        try:
            with self._guard(self.cancelled, raises=True):
                return self.client.messages(self.claim, after_sequence=after, role="user")
        except ServerUnreachable:
            pass  # keep waiting; the server may be restarting
        return []


class AsyncRunContext(_Context):
    def __init__(self, client: AsyncClient, claim: Claim, on_lost: Callable[[str], None],
                 poll_seconds: float = 0.5):
        super().__init__(claim, on_lost, poll_seconds)
        self.client = client
        self.cancelled = asyncio.Event()

    async def progress(self, progress: Any) -> None:
        await self._beat(progress=progress)

    async def report_usage(self, *, input_tokens: int | None = None, output_tokens: int | None = None,
                           cost: float | None = None, model: str | None = None, provider: str | None = None,
                           tool_calls: int | None = None, turns: int | None = None,
                           currency: str | None = None) -> None:
        totals = self._add_usage({"input_tokens": input_tokens, "output_tokens": output_tokens, "cost": cost,
                                  "tool_calls": tool_calls, "turns": turns},
                                 {"model": model, "provider": provider, "cost_currency": currency})
        await self._beat(**totals)

    async def _beat(self, **fields: Any) -> None:
        with self._guard(self.cancelled, raises=False):
            await self.client.heartbeat(self.claim, **fields)

    async def messages(self, after_sequence: int = 0) -> list[Message]:
        with self._guard(self.cancelled, raises=True):
            return await self.client.messages(self.claim, after_sequence=after_sequence)
        raise AssertionError("unreachable")

    async def ask_human(self, question: str, *, timeout: float | None = None) -> str:
        with self._guard(self.cancelled, raises=True):
            asked = await self.client.ask(self.claim, question)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            answer = self._answer(await self._replies(asked.sequence))
            if answer is not None:
                return answer
            if deadline is not None and time.monotonic() >= deadline:
                raise self._no_answer(question, timeout or 0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cancelled.wait(), self._poll)
            if self.cancelled.is_set():
                raise RunCanceled(409, "the run was canceled while waiting for an answer")

    async def _replies(self, after: int) -> list[Message]:
        try:
            with self._guard(self.cancelled, raises=True):
                return await self.client.messages(self.claim, after_sequence=after, role="user")
        except ServerUnreachable:
            pass
        return []
