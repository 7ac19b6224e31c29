"""The per-caller rate limit holds across the processes of ``taskloom serve --workers 2`` (PostgreSQL:
SQLite is served by one process).

The buckets are rows of the database, so a caller gets its burst once, however the kernel spreads
its connections over the workers. The test also finds, through /proc, which worker process holds
each connection, so it knows both workers answered (else it would prove nothing).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.acceptance import server as srvmod

BURST = 5


def _worker_pids(root: int) -> set[int]:
    children: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == root:
                children.add(int(entry))
    return children


def _owner(client_port: int, server_port: int, pids: set[int]) -> int | None:
    """The process holding the server side of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote = fields[1], fields[2]
        if int(local.split(":")[1], 16) == server_port and int(remote.split(":")[1], 16) == client_port:
            inode = fields[9]
    if inode is None:
        return None
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


@pytest.fixture
def two_workers(postgres_url: str, tmp_path: Path) -> Iterator[srvmod.Server]:
    with srvmod.fresh_postgres(postgres_url, "taskloom_rate") as url:
        srv = srvmod.start(url, data_dir=str(tmp_path / "data"), extra_args=["--workers", "2"], timeout=120,
                           env={"TASKLOOM_RATE_LIMIT_PER_SECOND": "0.001", "TASKLOOM_RATE_LIMIT_BURST": str(BURST)})
        yield srv
        srv.stop()


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc to see which worker answered")
def test_the_burst_is_shared_by_both_workers(two_workers: srvmod.Server) -> None:
    srv = two_workers
    clients: list[tuple[httpx.Client, socket.socket | None]] = []
    try:
        workers = _worker_pids(srv.proc.pid)
        assert len(workers) >= 2, f"expected two worker processes under {srv.proc.pid}: {workers}"
        # A fresh connection per request (kept open until its owner is known): the kernel spreads them.
        headers = srv.auth("runaway")
        codes, owners = [], set()
        for _ in range(30):
            client = httpx.Client(base_url=srv.base_url, timeout=30)
            r = client.get("/api/tasks?limit=1", headers=headers)
            codes.append(r.status_code)
            stream = r.extensions.get("network_stream")
            sock = stream.get_extra_info("socket") if stream is not None else None
            clients.append((client, sock))
            if sock is not None:
                owners.add(_owner(sock.getsockname()[1], srv.port, workers))
        assert codes.count(200) == BURST, codes  # per-process buckets would let up to 2 x BURST through
        assert codes.count(429) == len(codes) - BURST, codes
        owners.discard(None)
        assert len(owners) >= 2, f"all requests reached one worker ({owners}): the test proved nothing"
        # Another caller has its own bucket, on either worker.
        assert httpx.get(srv.base_url + "/api/tasks?limit=1", headers=srv.auth("calm")).status_code == 200
    finally:
        for client, _ in clients:
            client.close()
