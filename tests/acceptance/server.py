"""Start and stop a real ``taskloom serve`` subprocess for acceptance tests and the benchmark.

    srv = start("sqlite:////tmp/x/taskloom.db", env={"TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.2"})
    try:
        httpx.get(srv.base_url + "/healthz")
        headers = srv.auth("agent-1", kind="agent_session", role="agent")
    finally:
        srv.stop()          # SIGTERM, then SIGKILL after a grace period

``srv.kill()`` sends SIGKILL (a crash); ``start(srv.database_url, data_dir=srv.data_dir,
secret=srv.secret)`` brings the same database back. The server binds 127.0.0.1 only, on a
free port; its output goes to ``<data_dir>/server-<port>.log`` (shown if it fails to start).

``fresh_postgres(base_url)`` makes a throw-away PostgreSQL database next to ``base_url`` and
drops it afterwards; ``query(database_url, sql)`` reads rows straight from either backend.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from taskloom.api.auth import issue_token

DEFAULT_SECRET = "acceptance-secret-0123456789-0123456789"


def _taskloom_command() -> list[str]:
    # The console script next to this interpreter; fall back to the module (same code).
    script = Path(sys.executable).with_name("taskloom")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "taskloom.cli"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    base_url: str
    port: int
    secret: str
    database_url: str
    data_dir: str
    log_path: str

    def token(self, sub: str, *, kind: str = "human", role: str = "admin") -> str:
        return issue_token(self.secret, sub, kind=kind, role=role)

    def auth(self, sub: str, *, kind: str = "human", role: str = "admin") -> dict[str, str]:
        return {"Authorization": "Bearer " + self.token(sub, kind=kind, role=role)}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a crash."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, grace: float = 10.0) -> None:
        """Graceful stop (SIGTERM), escalating to SIGKILL. Safe to call twice."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait(10)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return Path(self.log_path).read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def start(database_url: str, *, env: dict[str, str] | None = None, data_dir: str | None = None,
          secret: str = DEFAULT_SECRET, port: int | None = None, timeout: float = 30.0,
          extra_args: list[str] | None = None) -> Server:
    """Start ``taskloom serve`` on 127.0.0.1 and return once /healthz answers 200."""
    data_dir = data_dir or tempfile.mkdtemp(prefix="taskloom-srv-")
    os.makedirs(data_dir, exist_ok=True)
    port = port or free_port()
    full_env = {**os.environ, "TASKLOOM_JWT_SECRET": secret, "TASKLOOM_DATA_DIR": data_dir, **(env or {})}
    full_env.pop("TASKLOOM_DATABASE_URL", None)
    log_path = os.path.join(data_dir, f"server-{port}.log")
    cmd = [*_taskloom_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
           "--database", database_url, *(extra_args or [])]
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    srv = Server(proc=proc, base_url=f"http://127.0.0.1:{port}", port=port, secret=secret,
                 database_url=database_url, data_dir=data_dir, log_path=log_path)
    try:
        wait_healthy(srv, timeout)
    except BaseException:
        srv.stop(2)
        raise
    return srv


def wait_healthy(srv: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not srv.alive():
            raise RuntimeError(f"taskloom serve exited with {srv.proc.returncode}:\n{srv.log_tail()}")
        try:
            with urllib.request.urlopen(srv.base_url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(0.05)
    raise TimeoutError(f"taskloom serve did not answer /healthz within {timeout} s:\n{srv.log_tail()}")


@contextmanager
def fresh_postgres(base_url: str, prefix: str = "taskloom_acc") -> Iterator[str]:
    """A new, empty database on the server of ``base_url`` (never ``base_url``'s own), dropped after."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def query(database_url: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of one read-only query; write ``?`` placeholders (turned into ``%s`` on PostgreSQL)."""
    if database_url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=30)
        try:
            return list(conn.execute(sql, params).fetchall())
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as pg:
        return list(pg.execute(sql.replace("?", "%s"), params).fetchall())
