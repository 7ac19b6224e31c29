"""Run engine operations straight on the database, for commands that work without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from taskloom.engine.context import Ctx
    from taskloom.engine.engine import Engine
    from taskloom.storage.protocols import Tx

T = TypeVar("T")


def database_url(database: str | None) -> str:
    from taskloom.config import Settings

    return database or Settings.from_env().database_url


def with_engine(database: str | None, fn: Callable[[Engine], Awaitable[T]]) -> T:
    """Migrate, start an engine without background services, run ``fn(engine)``, close."""
    from taskloom.engine.engine import Engine
    from taskloom.storage import open_storage

    async def main() -> T:
        storage = open_storage(database_url(database))
        storage.migrate()
        engine = Engine(storage)
        await engine.start(run_services=False)
        try:
            return await fn(engine)
        finally:
            await engine.stop()

    return asyncio.run(main())


def run_op(database: str | None, op: Callable[[Tx, Ctx], T], *, write: bool = True) -> T:
    """Run ``op`` in one transaction as the system actor."""
    from taskloom.domain.actors import SYSTEM

    return with_engine(database, lambda engine: engine.write(SYSTEM, op, origin="cli") if write
                       else engine.read(SYSTEM, op))
