"""Graceful shutdown: on SIGTERM/SIGINT the engine drains at once.

uvicorn, on the signal, stops accepting connections and waits for open requests; but a
long-poll would wait out its full ``wait_seconds`` and an SSE stream forever. So the
signal also tells the engine to drain: long-polls answer 204 and streams end with a
final comment, and uvicorn's wait is short. Installed from the app's lifespan, it wraps
the handler uvicorn set (in every worker process of ``serve --workers N`` too).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from taskloom.engine.engine import Engine

SIGNALS = (signal.SIGTERM, signal.SIGINT)
log = logging.getLogger("taskloom.server")


def drain_on_signal(engine: Engine) -> Callable[[], None]:
    """Chain a drain onto the current SIGTERM/SIGINT handlers; return a function that undoes it."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # e.g. a test client's lifespan: no signals there
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {sig: signal.getsignal(sig) for sig in SIGNALS}

    def drain(name: str) -> None:
        if not engine.draining:
            log.info("received %s: draining (long-polls answered, streams closed)", name)
        engine.begin_drain()

    def handler(sig: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(drain, signal.Signals(sig).name)  # signal-safe: no work in here
        chained = previous.get(sig)
        if callable(chained):
            chained(sig, frame)

    for sig in SIGNALS:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            if signal.getsignal(sig) is handler:
                signal.signal(sig, old)

    return restore


def exit_cleanly_on_signal() -> None:
    """Before uvicorn takes the signals: a SIGTERM/SIGINT outside its watch (during start-up, or
    re-raised by uvicorn once its graceful shutdown is done) ends the process with exit code 0."""

    def leave(sig: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    for sig in SIGNALS:
        signal.signal(sig, leave)
