"""`taskloom work --channel C [--concurrency N] [--timeout S] -- CMD ...`: any command as a worker.

Built on the SDK's Worker, so it has all of its survival: retries, one heartbeat loop,
cancel detection, graceful stop with release. Per task, the command gets the task as
JSON on stdin and TASKLOOM_TASK_ID / TASKLOOM_RUN_ID in its environment, then:

- exit 0: the run completes with its stdout (parsed as JSON when it is JSON);
- exit 75 (EX_TEMPFAIL): the run is released, to be claimed again (no attempt spent);
- any other exit: the run fails with the last 2 KB of its stderr;
- running past --timeout: its process group is killed and the run fails.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Annotated, Any

import typer

EX_TEMPFAIL = 75
STDERR_TAIL = 2048


def work(
    ctx: typer.Context,
    channel: Annotated[str | None, typer.Option(help="network_channel to claim from (default: any)")] = None,
    concurrency: Annotated[int, typer.Option(help="Commands running at once")] = 1,
    timeout: Annotated[float | None, typer.Option(help="Kill a command (its process group) after this many seconds")]
    = None,
    url: Annotated[str, typer.Option(envvar="TASKLOOM_URL", help="Server URL")] = "http://127.0.0.1:8420",
    token: Annotated[str, typer.Option(envvar="TASKLOOM_TOKEN", help="The agent's bearer token")] = "",
    lease_seconds: Annotated[float, typer.Option(help="Lease per claim; heartbeats renew it")] = 60.0,
    shutdown_grace: Annotated[float, typer.Option(help="On SIGINT/SIGTERM, seconds running commands get")] = 30.0,
    max_tasks: Annotated[int | None, typer.Option(help="Stop after this many tasks (default: run forever)")] = None,
) -> None:
    """Run a command per task: `taskloom work --channel ops -- ./handle.sh`."""
    from taskloom.sdk import Client, TaskloomError, Worker
    from taskloom.sdk.worker import quiet_http_logs

    command = list(ctx.args)
    if not command:
        _die("give the command after --, e.g. taskloom work --channel ops -- ./handle.sh", 2)
    if not token:
        _die("no token: set TASKLOOM_TOKEN (mint one with "
             "`taskloom token --sub agent-1 --kind agent_session --role agent`)", 2)
    if concurrency < 1 or (timeout is not None and timeout <= 0) or lease_seconds < 1:
        _die("--concurrency must be ≥ 1, --timeout > 0 and --lease-seconds ≥ 1", 2)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    quiet_http_logs()
    client = Client(url, token)
    worker = Worker(client, channel, concurrency=concurrency, lease_seconds=lease_seconds,
                    shutdown_grace_seconds=shutdown_grace, max_tasks=max_tasks)
    worker.task(lambda task, run_ctx: run_command(command, task, run_ctx, timeout))
    typer.echo(f"waiting for tasks on channel {channel or '(any)'} as agent {_agent_of(token)} at {client.url} "
               f"(concurrency {concurrency}; Ctrl-C stops)", err=True)
    try:
        worker.run()
    except TaskloomError as exc:
        hint = ": check TASKLOOM_TOKEN" if exc.status == 401 else ""
        _die(f"{exc.status} {exc.message}{hint}", 1)
    finally:
        client.close()


def run_command(command: list[str], task: Any, ctx: Any, timeout: float | None) -> Any:
    from taskloom.sdk import Failure, NonRetryableError, ReleaseRun

    env = {**os.environ, "TASKLOOM_TASK_ID": task.id, "TASKLOOM_RUN_ID": ctx.run.id}
    try:
        # Its own session, so a timeout or a cancel can kill everything it started.
        proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
    except OSError as exc:
        raise NonRetryableError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    stdin: bytes | None = json.dumps(task.data).encode()
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            out, err = proc.communicate(stdin, timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            stdin = None  # sent once; communicate() goes on with the rest
        if ctx.cancelled.is_set():
            _kill(proc)
            raise Failure("stopped: the run was canceled or released")
        if deadline is not None and time.monotonic() >= deadline:
            _kill(proc)
            raise Failure(f"timed out after {timeout:g} s: the command's process group was killed")
    if proc.returncode == 0:
        text = out.decode(errors="replace")
        try:
            return json.loads(text)
        except ValueError:
            return text.rstrip("\n")
    if proc.returncode == EX_TEMPFAIL:
        raise ReleaseRun(f"the command exited with {EX_TEMPFAIL} (try again later)")
    raise Failure(_exit_error(proc.returncode, err))


def _exit_error(code: int, stderr: bytes) -> str:
    how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
    tail = stderr[-STDERR_TAIL:].decode(errors="replace").strip()
    return f"{how}: {tail}" if tail else how


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate()


def _agent_of(token: str) -> str:
    """The token's ``sub``, read without verifying (only the server can)."""
    if token.startswith("tlk_"):
        return "(the API key's)"
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims["sub"])
    except (IndexError, ValueError, KeyError, TypeError):
        return "?"


def _die(message: str, code: int) -> None:
    typer.echo(f"taskloom work: {message}", err=True)
    raise typer.Exit(code)
