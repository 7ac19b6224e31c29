"""The ``taskloom`` command: serve, migrate, token, work, keys."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from taskloom.config import Settings

app = typer.Typer(help="Taskloom: a durable task runtime for teams of AI agents.", no_args_is_help=True)


def _settings(database: str | None) -> Settings:
    settings = Settings.from_env()
    if database:
        settings.database_url = database
    return settings


def _secret(settings: Settings, *, announce: bool) -> str:
    from taskloom.api.auth import issue_token, load_or_create_secret

    if settings.jwt_secret:
        return settings.jwt_secret
    secret, created = load_or_create_secret(settings.data_dir)
    if created and announce:
        token = issue_token(secret, "admin", kind="human", role="admin")
        typer.echo(f"Generated a signing secret in {os.path.join(settings.data_dir, 'jwt-secret')}.")
        typer.echo(f"Admin token (keep it safe):\n{token}")
    return secret


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8420,
    database: Annotated[str | None, typer.Option(help="sqlite:///path.db or postgresql://user@host:port/db")] = None,
    workers: Annotated[int, typer.Option(help="Server processes (PostgreSQL only; SQLite has one writer)")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "warning",
) -> None:
    """Run the HTTP server (migrations run first)."""
    import uvicorn

    from taskloom import logs
    from taskloom.api.app import create_app

    logs.configure()
    settings = _settings(database)
    settings.jwt_secret = _secret(settings, announce=True)
    if workers < 1:
        raise typer.BadParameter("--workers must be at least 1")
    if workers > 1 and not settings.database_url.startswith(("postgresql:", "postgres:")):
        raise typer.BadParameter("--workers > 1 needs PostgreSQL: SQLite is served by one process")
    typer.echo(f"Taskloom on http://{host}:{port} (database: {settings.database_url.split('@')[-1]})", err=True)
    typer.echo(f"Dashboard: http://{host}:{port}/ui   API docs: http://{host}:{port}/docs", err=True)
    # Shutdown budget: most of it for open requests (long-polls end at once), the rest for the
    # background services' last pass and closing the database.
    graceful = max(1, int(settings.shutdown_seconds * 0.7))
    options: dict[str, Any] = dict(
        host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=graceful,
        log_config=None,  # our handler (taskloom.logs) formats uvicorn's lines too
        loop="uvloop" if _has("uvloop") else "asyncio", http="httptools" if _has("httptools") else "h11",
    )
    if workers == 1:
        from taskloom.api.shutdown import exit_cleanly_on_signal

        exit_cleanly_on_signal()
        uvicorn.run(create_app(settings, serving=True), **options)
        return
    # Worker processes build their own app from the environment: pass the settings on.
    settings.apply_to_env()
    from taskloom.storage import open_storage

    open_storage(settings.database_url).migrate()  # once, before the workers start
    # Counters from every worker add up at scrape time (prometheus-client's multiprocess mode).
    import shutil
    import tempfile

    metrics_dir = tempfile.mkdtemp(prefix="taskloom-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        uvicorn.run("taskloom.api.app:app_from_env", factory=True, workers=workers, **options)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


@app.command()
def migrate(database: Annotated[str | None, typer.Option(help="Database URL")] = None) -> None:
    """Apply pending migrations and exit."""
    from taskloom.storage import open_storage

    settings = _settings(database)
    applied = open_storage(settings.database_url).migrate()
    typer.echo("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))


from taskloom.commands import backup as _backup  # noqa: E402 - sub-commands in their own modules
from taskloom.commands import keys as _keys  # noqa: E402
from taskloom.commands import purge as _purge  # noqa: E402
from taskloom.commands import token as _token  # noqa: E402
from taskloom.commands import work as _work  # noqa: E402
from taskloom.commands.mcp import mcp as _mcp  # noqa: E402

app.add_typer(_keys.app, name="keys")
app.command()(_mcp)
app.command()(_token.token)
app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(_work.work)
app.command()(_purge.purge)
app.command()(_backup.backup)
app.command()(_backup.restore)

if __name__ == "__main__":
    app()
