"""The ``taskloom`` command: serve, migrate, token."""

from __future__ import annotations

import os
from typing import Annotated

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

    from taskloom.api.app import create_app

    settings = _settings(database)
    settings.jwt_secret = _secret(settings, announce=True)
    if workers < 1:
        raise typer.BadParameter("--workers must be at least 1")
    if workers > 1 and not settings.database_url.startswith(("postgresql:", "postgres:")):
        raise typer.BadParameter("--workers > 1 needs PostgreSQL: SQLite is served by one process")
    typer.echo(f"Taskloom on http://{host}:{port} (database: {settings.database_url.split('@')[-1]})", err=True)
    # Shutdown budget: most of it for open requests (long-polls end at once), the rest for the
    # background services' last pass and closing the database.
    graceful = max(1, int(settings.shutdown_seconds * 0.7))
    options: dict[str, object] = dict(
        host=host, port=port, log_level=log_level, access_log=False, timeout_graceful_shutdown=graceful,
        loop="uvloop" if _has("uvloop") else "asyncio", http="httptools" if _has("httptools") else "h11",
    )
    if workers == 1:
        from taskloom.api.shutdown import exit_cleanly_on_signal

        exit_cleanly_on_signal()
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    # Worker processes build their own app from the environment: pass the settings on.
    settings.apply_to_env()
    from taskloom.storage import open_storage

    open_storage(settings.database_url).migrate()  # once, before the workers start
    uvicorn.run("taskloom.api.app:app_from_env", factory=True, workers=workers, **options)  # type: ignore[arg-type]


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


@app.command()
def token(
    sub: Annotated[str, typer.Option(help="The caller's reference (agent id, user name)")],
    kind: Annotated[str, typer.Option(help="human | agent_session | automation | extension | network_peer | pool")]
    = "human",
    role: Annotated[str, typer.Option(help="admin | member | agent")] = "member",
    workspace: Annotated[list[str] | None, typer.Option(help="Restrict to this workspace (repeatable)")] = None,
    ttl: Annotated[float | None, typer.Option(help="Lifetime in seconds (default: no expiry)")] = None,
) -> None:
    """Print a signed JWT for the server's secret (TASKLOOM_JWT_SECRET or the data folder's)."""
    from taskloom.api.auth import issue_token
    from taskloom.domain.actors import ACTOR_KINDS, ROLES

    if kind not in ACTOR_KINDS:
        raise typer.BadParameter(f"kind must be one of {', '.join(ACTOR_KINDS)}")
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    secret = _secret(Settings.from_env(), announce=False)
    typer.echo(issue_token(secret, sub, kind=kind, role=role, workspaces=workspace or None, ttl=ttl))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def work(
    ctx: typer.Context,
    url: Annotated[str, typer.Option(envvar="TASKLOOM_URL", help="Server URL")] = "http://127.0.0.1:8420",
    token: Annotated[str, typer.Option(envvar="TASKLOOM_TOKEN", help="The agent's bearer token")] = "",
    channel: Annotated[str | None, typer.Option(help="network_channel to claim from")] = None,
    lease_seconds: Annotated[float, typer.Option(help="Lease per claim; heartbeats renew it")] = 60.0,
    max_tasks: Annotated[int | None, typer.Option(help="Stop after this many tasks (default: run forever)")] = None,
    idle_exit: Annotated[bool, typer.Option(help="Exit when no task arrives within 30 s")] = False,
) -> None:
    """Run a shell command per task: `taskloom work --channel ops -- ./handle.sh`.

    The command gets the claimed task as JSON on stdin and TASKLOOM_TASK_ID / TASKLOOM_RUN_ID
    in its environment. Exit 0 completes the run with its stdout (parsed as JSON when it is
    JSON); any other exit fails the run with the end of its stderr.
    """
    import json
    import subprocess

    from taskloom.sdk import Claim, Client

    command = list(ctx.args)
    if not command:
        raise typer.BadParameter("give the command after --, e.g. taskloom work -- ./handle.sh")
    if not token:
        raise typer.BadParameter("an agent token is needed: --token or TASKLOOM_TOKEN")

    def handle(claim: Claim) -> object:
        env = {**os.environ, "TASKLOOM_TASK_ID": claim.task_id, "TASKLOOM_RUN_ID": claim.run_id}
        done = subprocess.run(command, input=json.dumps(claim.task), env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-2000:]}")
        try:
            return json.loads(done.stdout)
        except ValueError:
            return done.stdout

    done = 0
    with Client(url, token) as client:
        while max_tasks is None or done < max_tasks:
            claim = client.work_one(handle, channel, wait_seconds=30, lease_seconds=lease_seconds)
            if claim is None:
                if idle_exit:
                    break
                continue
            done += 1
            typer.echo(f"worked {claim.task_id} (run {claim.run_id})", err=True)


from taskloom.commands import keys as _keys  # noqa: E402 - sub-commands in their own modules
from taskloom.commands.mcp import mcp as _mcp  # noqa: E402

app.add_typer(_keys.app, name="keys")
app.command()(_mcp)

if __name__ == "__main__":
    app()
