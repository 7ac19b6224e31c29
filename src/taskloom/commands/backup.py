"""``taskloom backup FILE`` and ``taskloom restore FILE``.

SQLite: the backup is SQLite's online backup API, in one step, so it is one consistent
snapshot even while the server writes (WAL readers do not block the writer). Restore
checks the file (integrity check, a Taskloom schema this version knows) and copies it
into place. PostgreSQL: these commands say to use pg_dump / pg_restore instead.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Annotated

import typer

from taskloom.commands.db import database_url

Database = Annotated[str | None, typer.Option(help="Database URL (default: TASKLOOM_DATABASE_URL or the data folder)")]
PG_BACKUP = ("PostgreSQL databases are backed up with PostgreSQL's own tools, while Taskloom runs:\n"
             "  pg_dump --format=custom --file=taskloom.dump '{url}'\n"
             "and restored (server stopped, into an empty database) with:\n"
             "  pg_restore --dbname='{url}' --clean --if-exists taskloom.dump")


def _sqlite_path(url: str) -> str | None:
    if not url.startswith("sqlite:"):
        return None
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url.removeprefix("sqlite:")


def check_file(path: str) -> str:
    """A summary of a Taskloom SQLite file, or typer.Exit(1) saying what is wrong with it."""
    from taskloom.storage.migrations import migration_files

    if not os.path.isfile(path):
        _fail(f"{path}: no such file")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            _fail(f"{path}: integrity check failed: {result}")
        try:
            applied = {r[0] for r in conn.execute("SELECT name FROM schema_migrations")}
            tasks = conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        except sqlite3.DatabaseError as exc:
            _fail(f"{path}: not a Taskloom database ({exc})")
    except sqlite3.DatabaseError as exc:
        _fail(f"{path}: not a readable SQLite database ({exc})")
    finally:
        conn.close()
    known = {name for name, _ in migration_files("sqlite")}
    unknown = sorted(applied - known)
    if unknown:
        _fail(f"{path}: made by a newer Taskloom (unknown migrations: {', '.join(unknown)})")
    return f"integrity ok, {tasks} tasks, {len(applied)} migrations applied"


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _copy(source: str, target: str) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)  # all pages in one step: one consistent snapshot
    finally:
        dst.close()
        src.close()


def backup(
    file: Annotated[str, typer.Argument(help="Where to write the copy (must not exist)")],
    database: Database = None,
) -> None:
    """Copy a live SQLite database consistently (the server may keep running)."""
    url = database_url(database)
    source = _sqlite_path(url)
    if source is None:
        typer.echo(PG_BACKUP.format(url=url), err=True)
        raise typer.Exit(2)
    if not os.path.isfile(source):
        _fail(f"{source}: no such database")
    if os.path.exists(file):
        _fail(f"{file} already exists: choose a new file name")
    _copy(source, file)
    typer.echo(f"backed up {source} to {file}: {check_file(file)}")


def restore(
    file: Annotated[str, typer.Argument(help="A file made by `taskloom backup`")],
    database: Database = None,
    force: Annotated[bool, typer.Option(help="Replace an existing database (stop the server first)")] = False,
) -> None:
    """Check a backup and copy it into place as the database. Stop the server first."""
    url = database_url(database)
    target = _sqlite_path(url)
    if target is None:
        typer.echo(PG_BACKUP.format(url=url), err=True)
        raise typer.Exit(2)
    summary = check_file(file)
    if os.path.exists(target) and not force:
        _fail(f"{target} exists: stop the server, then run again with --force to replace it")
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    _copy(file, target)
    typer.echo(f"restored {file} to {target}: {summary}. Start the server; it applies any newer migrations.")
