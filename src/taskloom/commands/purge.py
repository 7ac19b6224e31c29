"""``taskloom purge --older-than 7d [--dry-run]``: retention by hand, on the database directly."""

from __future__ import annotations

import re
import time
from typing import Annotated

import typer

from taskloom.commands.db import database_url, with_engine

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_age(text: str) -> float:
    """``90s``, ``15m``, ``12h``, ``7d``, ``2w`` → seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*", text)
    if not match:
        raise typer.BadParameter(f"--older-than must look like 7d, 12h, 30m or 90s, not {text!r}")
    return float(match.group(1)) * UNITS[match.group(2)]


def purge(
    older_than: Annotated[str, typer.Option(help="Age of closed tasks to delete: 7d, 12h, 30m, 90s")],
    dry_run: Annotated[bool, typer.Option(help="Only count what would be deleted")] = False,
    batch: Annotated[int, typer.Option(help="At most this many tasks per transaction (≤ 1000; the size used "
                                            "adapts so one takes about 20 ms)", min=1, max=1000)] = 500,
    database: Annotated[str | None, typer.Option(help="Database URL (default: TASKLOOM_DATABASE_URL)")] = None,
) -> None:
    """Delete closed tasks older than --older-than, with their runs, events, messages, webhook
    deliveries and triage rows. Trees and DAGs with an open member are kept whole."""
    from taskloom.engine.retention import purge as run_purge

    age = parse_age(older_than)
    began = time.monotonic()
    # From another process, a SQLite server's writer waits on the file lock with back-off steps of up
    # to 100 ms: pause longer than that between batches so it gets its turn.
    pause = 0.15 if database_url(database).startswith("sqlite") else 0.01
    count, kept = with_engine(database, lambda engine: run_purge(engine, time.time() - age, batch=batch,
                                                                  dry_run=dry_run, min_pause=pause))
    verb = "would delete" if dry_run else "deleted"
    typer.echo(f"{verb} {count} closed tasks older than {older_than}; kept {kept} groups with an open or newer "
               f"member ({time.monotonic() - began:.1f} s)")
