"""Run engine operations straight on the database, for commands that work without a server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from taskloom.engine.context import Ctx
    from taskloom.storage.sql import Tx

T = TypeVar("T")


def database_url(database: str | None) -> str:
    from taskloom.config import Settings

    return database or Settings.from_env().database_url


def run_op(database: str | None, op: Callable[[Tx, Ctx], T], *, write: bool = True) -> T:
    """Migrate, then run ``op`` in one transaction as the system actor, and close."""
    from taskloom.domain.actors import SYSTEM
    from taskloom.engine.engine import Engine
    from taskloom.storage import open_storage

    async def main() -> T:
        storage = open_storage(database_url(database))
        storage.migrate()
        engine = Engine(storage)
        await engine.start(run_services=False)
        try:
            return await (engine.write(SYSTEM, op, origin="cli") if write else engine.read(SYSTEM, op))
        finally:
            await engine.stop()

    return asyncio.run(main())
