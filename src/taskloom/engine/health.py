"""Readiness: is this process fit to take traffic? /readyz answers 503 with every reason.

Two kinds of condition: the ones here, which need the database or the shutdown state
(async), and ``engine.readiness_checks`` — plain functions returning None or a reason,
which other parts append to (the write watchdog is one).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from taskloom.domain.actors import SYSTEM
from taskloom.storage.migrations import migration_files

if TYPE_CHECKING:
    from taskloom.engine.engine import Engine

DATABASE_TIMEOUT = 4.0  # longer than the PostgreSQL pool wait, which answers "unavailable" first


async def database_problem(engine: Engine) -> str | None:
    """None when the database answers and every migration this version knows is applied."""
    try:
        applied = await asyncio.wait_for(engine.read(SYSTEM, lambda tx, ctx: tx.migrations_applied()),
                                         DATABASE_TIMEOUT)
    except TimeoutError:
        return f"database did not answer within {DATABASE_TIMEOUT:g} s"
    except Exception:  # noqa: BLE001 - any failure to read means not ready
        return "database unavailable"
    missing = [name for name, _ in migration_files(engine.storage.dialect) if name not in applied]
    return f"migrations not applied: {', '.join(missing)}" if missing else None


async def readiness(engine: Engine) -> list[str]:
    """Every reason this process is not ready now (empty when it is)."""
    problems = ["shutting down"] if engine.draining else []
    database = await database_problem(engine)
    if database:
        problems.append(database)
    return problems + engine.readiness_problems()
