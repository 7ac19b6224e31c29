"""A throw-away PostgreSQL cluster for tests that stop and restart the database server.

Never the shared server: ``initdb`` into a temporary folder, ``pg_ctl`` on a free port of
127.0.0.1. ``initdb`` refuses to run as root, so as root the commands run as the
``postgres`` user (``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.acceptance.server import free_port


def _bindir() -> str | None:
    if shutil.which("pg_config") is None:
        return None
    out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
    return out.stdout.strip() or None


@dataclass
class Cluster:
    bindir: str
    datadir: str
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        self._run("pg_ctl", "-D", self.datadir, "-w", "-t", "30", "-l", os.path.join(self.datadir, "log.txt"),
                  "-o", f"-p {self.port} -k {self.datadir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.datadir, "-w", "-t", "30", "-m", mode, "stop")


def available() -> str | None:
    """None when a cluster can be made here, else the reason it cannot."""
    bindir = _bindir()
    if bindir is None or not os.path.exists(os.path.join(bindir, "initdb")):
        return "initdb not found (pg_config --bindir)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run initdb as"
    return None


@contextmanager
def cluster() -> Iterator[Cluster]:
    bindir = _bindir()
    assert bindir is not None
    folder = tempfile.mkdtemp(prefix="taskloom-pg-")
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
    c = Cluster(bindir=bindir, datadir=os.path.join(folder, "data"), port=free_port())
    try:
        c._run("initdb", "-D", c.datadir, "-U", "postgres", "-A", "trust", "--no-sync")
        c.start()
        yield c
    finally:
        try:
            c.stop("immediate")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(folder, ignore_errors=True)
