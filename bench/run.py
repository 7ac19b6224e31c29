#!/usr/bin/env python3
"""Taskloom benchmark: claim-next -> complete over real HTTP against a `taskloom serve` subprocess.

Parts (``--only``, comma-separated; default all):
  throughput  N tasks created over HTTP, then --agents concurrent agents loop claim-next -> complete
              until the queue is empty: cycles/s, claim and complete latency p50/p99.
  idle        agents wait in claim-next (long-poll); one task is created at a time; latency from
              the create answer to the claim answer. Also the empty claim-next -> 204 latency.
  history     claim-next latency on an empty database vs. one holding --history finished tasks
              (bulk-inserted with SQL in one transaction: task + completed run + one event each).
  batch       POST /api/tasks/batch (1,000 per call), then 8 agents claim-batch (100) -> complete-batch.
  peers       Celery on Redis (SQLite's peer) and Procrastinate on the same PostgreSQL, same no-op
              workload (N enqueued, drained by 8 workers), from the separate venv bench/.peers-venv
              (made by `make bench`); Taskloom's drain is printed as a ratio to them. A peer whose
              broker/database or venv is absent is reported as skipped, with the reason.

Modules: bench/fills.py (fresh databases, queued tasks, the finished history), bench/versus.py
(the peers and the ratios to them), bench/common.py (percentiles, log), bench/spy.py (profiles).

The machine is shared, so absolute figures are noisy: compare Taskloom to the peers measured in the
same invocation (the ratios), not to figures from another day. ``--profile DIR`` records the server
with py-spy during each single-task drain and prints where its CPU went.

Every repetition runs on a fresh database (temp SQLite file / a new PostgreSQL database, dropped
after). The load generator is one asyncio process (aiohttp, keep-alive); the server is a separate
process. Results go to stdout and bench/results/latest.md.

    .venv/bin/python bench/run.py                       # everything, both backends
    .venv/bin/python bench/run.py --quick               # smaller, one repetition
    .venv/bin/python bench/run.py --only throughput --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

import aiohttp  # noqa: E402
import orjson  # noqa: E402
import psycopg  # noqa: E402
from bench import spy  # noqa: E402
from bench.common import CHANNEL, log, med, ms, pct  # noqa: E402
from bench.fills import fill_history, fresh_database, prefill  # noqa: E402
from bench.versus import mark, measure_peer, vs  # noqa: E402
from tests.acceptance import server as srvmod  # noqa: E402

from taskloom.storage import open_storage  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
PARTS = ("throughput", "batch", "idle", "history", "peers")


# -- small helpers ------------------------------------------------------------------------------

def cpu_seconds(pid: int, *, kernel_only: bool = False) -> float:
    """User + system CPU time (or the system part alone) of a process and its live children so
    far (Linux /proc); the children are the worker processes of ``serve --workers N``."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[12]) + (0 if kernel_only else int(fields[11]))) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(cpu_seconds(int(c), kernel_only=kernel_only) for c in children)


SERVER_WORKERS = {"postgres": 1}  # set from --pg-workers


@contextmanager
def running_server(database_url: str) -> Iterator[srvmod.Server]:
    data_dir = tempfile.mkdtemp(prefix="taskloom-bench-srv-")
    workers = SERVER_WORKERS["postgres"] if database_url.startswith("postgres") else 1
    extra = ["--workers", str(workers)] if workers > 1 else None
    srv = srvmod.start(database_url, data_dir=data_dir, timeout=120, extra_args=extra)
    try:
        yield srv
    except BaseException:
        print("---- server log (tail) ----\n" + srv.log_tail(), file=sys.stderr)
        raise
    finally:
        srv.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


class Client:
    """One aiohttp session (keep-alive) with pre-encoded headers for the admin and each agent."""

    def __init__(self, srv: srvmod.Server, agents: int):
        self.base = srv.base_url
        self.admin = {**srv.auth("bench-admin", role="admin"), "Content-Type": "application/json"}
        self.agents = [{**srv.auth(f"bench-agent-{i}", kind="agent_session", role="agent"),
                        "Content-Type": "application/json"} for i in range(agents)]
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Client:
        conn = aiohttp.TCPConnector(limit=0, force_close=False, enable_cleanup_closed=False)
        self.session = aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.session is not None
        await self.session.close()

    async def post(self, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, float]:
        """POST; returns (status, decoded JSON or None, seconds taken)."""
        assert self.session is not None
        t0 = time.perf_counter()
        async with self.session.post(self.base + path, data=orjson.dumps(body), headers=headers) as resp:
            raw = await resp.read()
            status = resp.status
        elapsed = time.perf_counter() - t0
        return status, (orjson.loads(raw) if raw else None), elapsed


async def create_tasks(c: Client, n: int, channel: str = CHANNEL, concurrency: int = 48) -> float:
    """Create ``n`` ready tasks over HTTP; returns creates per second."""
    left = n
    t0 = time.perf_counter()

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            status, body, _ = await c.post("/api/tasks", {"title": "bench task", "network_channel": channel,
                                                          "priority": "medium"}, c.admin)
            if status != 201:
                raise RuntimeError(f"create answered {status}: {body}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - t0)


async def drain(c: Client, agents: int, *, channel: str = CHANNEL, limit: int | None = None) -> dict[str, Any]:
    """``agents`` loop claim-next -> complete until the queue answers 204 (or ``limit`` cycles)."""
    claim_lat: list[float] = []
    complete_lat: list[float] = []
    done = 0
    claim_body = {"network_channel": channel, "lease_seconds": 300}

    async def agent(headers: dict[str, str]) -> None:
        nonlocal done
        while limit is None or done < limit:
            status, body, dt = await c.post("/api/agent/tasks/claim-next", claim_body, headers)
            if status == 204:
                return
            if status != 200:
                raise RuntimeError(f"claim-next answered {status}: {body}")
            claim_lat.append(dt)
            claim = body["claim"]
            status, body, dt = await c.post(f"/api/agent/tasks/{claim['run']['id']}/complete",
                                            {"claim_token": claim["claim_token"], "result": {"ok": True}}, headers)
            if status != 200:
                raise RuntimeError(f"complete answered {status}: {body}")
            complete_lat.append(dt)
            done += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(agent(c.agents[i % len(c.agents)]) for i in range(agents)))
    elapsed = time.perf_counter() - t0
    return {"cycles": done, "elapsed": elapsed, "rate": done / elapsed if elapsed else 0.0,
            "claim_p50": ms(pct(claim_lat, 50)), "claim_p99": ms(pct(claim_lat, 99)),
            "complete_p50": ms(pct(complete_lat, 50)), "complete_p99": ms(pct(complete_lat, 99))}


async def empty_claims(c: Client, n: int) -> list[float]:
    """Sequential claim-next on an empty queue (wait_seconds 0): each must answer 204."""
    out = []
    for _ in range(n):
        status, body, dt = await c.post("/api/agent/tasks/claim-next", {"network_channel": "nothing-here"},
                                        c.agents[0])
        if status != 204:
            raise RuntimeError(f"empty claim-next answered {status}: {body}")
        out.append(dt)
    return out


# -- part a: throughput ------------------------------------------------------------------------

async def part_throughput(srv: srvmod.Server, args: argparse.Namespace) -> dict[str, Any]:
    async with Client(srv, args.agents) as c:
        out = Path(args.profile) / f"{srv.database_url.split(':')[0]}-create-{int(time.time())}.txt" \
            if args.profile else None
        cpu0 = cpu_seconds(srv.proc.pid)
        with spy.recording(srv.proc.pid, out):
            create_rate = await create_tasks(c, args.http_creates)
        create_cpu_ms = ms((cpu_seconds(srv.proc.pid) - cpu0) / max(1, args.http_creates))
        if out is not None and out.exists():
            log(f"  profile of the server during the HTTP creates ({out}):\n" + spy.summarize(out))
        total = args.tasks + args.http_creates
        log(f"  {create_rate:.0f} creates/s over HTTP ({create_cpu_ms:.2f} ms server CPU each); "
            f"draining {total} tasks with {args.agents} agents ...")
        cpu0, own0 = cpu_seconds(srv.proc.pid), time.process_time()
        kernel0 = cpu_seconds(srv.proc.pid, kernel_only=True)
        out = Path(args.profile) / f"{srv.database_url.split(':')[0]}-drain-{int(time.time())}.txt" \
            if args.profile else None
        with spy.recording(srv.proc.pid, out):
            result = await drain(c, args.agents)
        if out is not None and out.exists():
            log(f"  profile of the server during the drain ({out}):\n" + spy.summarize(out))
        # Where the CPU went: the server process (all its threads) and this load generator.
        result["server_cpu_ms"] = ms((cpu_seconds(srv.proc.pid) - cpu0) / max(1, result["cycles"]))
        result["server_cpu_pct"] = 100 * (cpu_seconds(srv.proc.pid) - cpu0) / result["elapsed"]
        result["server_kernel_ms"] = ms((cpu_seconds(srv.proc.pid, kernel_only=True) - kernel0)
                                        / max(1, result["cycles"]))
        result["client_cpu_pct"] = 100 * (time.process_time() - own0) / result["elapsed"]
        if result["cycles"] != total:
            raise RuntimeError(f"drained {result['cycles']} of {total} tasks")
        result["create_rate"] = create_rate
        result["create_cpu_ms"] = create_cpu_ms
        log(f"  {result['rate']:.0f} cycles/s, claim p50 {result['claim_p50']:.1f} ms p99 "
            f"{result['claim_p99']:.1f} ms, complete p50 {result['complete_p50']:.1f} ms p99 "
            f"{result['complete_p99']:.1f} ms; server CPU {result['server_cpu_ms']:.2f} ms/cycle "
            f"(kernel {result['server_kernel_ms']:.2f} ms; {result['server_cpu_pct']:.0f}% of a core), "
            f"load generator {result['client_cpu_pct']:.0f}%")
        return result


# -- part b: idle claim latency with long-poll ---------------------------------------------------

async def part_idle(srv: srvmod.Server, args: argparse.Namespace) -> dict[str, Any]:
    channel = "idle-" + uuid.uuid4().hex[:6]
    loop = asyncio.get_running_loop()
    claimed: dict[str, asyncio.Future[float]] = {}
    stop = False

    def slot(task_id: str) -> asyncio.Future[float]:
        return claimed.setdefault(task_id, loop.create_future())

    async with Client(srv, args.idle_agents) as c:
        async def waiter(headers: dict[str, str]) -> None:
            while not stop:
                status, body, _ = await c.post("/api/agent/tasks/claim-next",
                                               {"network_channel": channel, "wait_seconds": 10}, headers)
                t_claim = time.perf_counter()
                if status == 204:
                    continue
                claim = body["claim"]
                fut = slot(claim["task"]["id"])
                if not fut.done():
                    fut.set_result(t_claim)
                await c.post(f"/api/agent/tasks/{claim['run']['id']}/complete",
                             {"claim_token": claim["claim_token"]}, headers)

        agents = [asyncio.create_task(waiter(h)) for h in c.agents]
        await asyncio.sleep(0.5)  # let every agent settle into its long-poll
        from_ack: list[float] = []
        from_send: list[float] = []
        try:
            for i in range(args.idle_samples + 10):
                t_send = time.perf_counter()
                status, body, _ = await c.post("/api/tasks", {"title": "idle probe", "network_channel": channel},
                                               c.admin)
                t_ack = time.perf_counter()
                if status != 201:
                    raise RuntimeError(f"create answered {status}: {body}")
                t_claim = await asyncio.wait_for(slot(body["task"]["id"]), 10)
                if i >= 10:  # the first few warm up connections and caches
                    from_ack.append(max(0.0, t_claim - t_ack))
                    from_send.append(t_claim - t_send)
                await asyncio.sleep(0.02)  # the claimer completes and goes back to waiting
            empties = await empty_claims(c, args.idle_samples)
        finally:
            stop = True
            for t in agents:
                t.cancel()
            await asyncio.gather(*agents, return_exceptions=True)
    early = sum(1 for x in from_ack if x == 0.0)
    crowd = await crowd_creates(srv, args.idle_crowd) if args.idle_crowd else {}
    result = {**crowd, "idle_p50": ms(pct(from_ack, 50)), "idle_p99": ms(pct(from_ack, 99)),
              "idle_send_p50": ms(pct(from_send, 50)), "idle_send_p99": ms(pct(from_send, 99)),
              "idle_early": early, "idle_n": len(from_ack),
              "empty_p50": ms(pct(empties, 50)), "empty_p99": ms(pct(empties, 99))}
    log(f"  create-ack -> claim p50 {result['idle_p50']:.2f} ms p99 {result['idle_p99']:.2f} ms "
        f"(create-send -> claim p50 {result['idle_send_p50']:.2f} p99 {result['idle_send_p99']:.2f}; "
        f"{early} claims arrived before the create answer); empty 204 p50 {result['empty_p50']:.2f} "
        f"p99 {result['empty_p99']:.2f} ms")
    return result


async def crowd_creates(srv: srvmod.Server, crowd: int, n: int = 1000) -> dict[str, Any]:
    """HTTP creates/s and server CPU per create, alone and then with ``crowd`` agents long-polling
    another channel: waiting agents should cost the creates nothing."""
    out: dict[str, Any] = {}
    async with Client(srv, crowd) as c:
        stop = False

        async def waiter(headers: dict[str, str]) -> None:
            while not stop:
                await c.post("/api/agent/tasks/claim-next", {"network_channel": "nobody-creates-here",
                                                             "wait_seconds": 5}, headers)

        for label, waiting in (("alone", 0), ("crowd", crowd)):
            agents = [asyncio.create_task(waiter(h)) for h in c.agents[:waiting]]
            await asyncio.sleep(1.0 if waiting else 0)  # every waiter settles into its long-poll
            cpu0 = cpu_seconds(srv.proc.pid)
            out[f"creates_{label}"] = await create_tasks(c, n, channel="crowd-" + uuid.uuid4().hex[:6])
            out[f"create_cpu_{label}"] = ms((cpu_seconds(srv.proc.pid) - cpu0) / n)
            stop = True
            await asyncio.gather(*agents, return_exceptions=True)
            stop = False
    log(f"  creates alone {out['creates_alone']:.0f}/s at {out['create_cpu_alone']:.2f} ms; with {crowd} agents "
        f"waiting on another channel {out['creates_crowd']:.0f}/s at {out['create_cpu_crowd']:.2f} ms")
    return out


# -- part c: claim latency with a large finished history --------------------------------------------

async def claim_profile(srv: srvmod.Server, args: argparse.Namespace) -> dict[str, Any]:
    """Sequential claim -> complete (one agent), then concurrent, then empty claims."""
    async with Client(srv, args.agents) as c:
        seq_lat: list[float] = []
        for _ in range(args.history_seq):
            status, body, dt = await c.post("/api/agent/tasks/claim-next",
                                            {"network_channel": CHANNEL}, c.agents[0])
            if status != 200:
                raise RuntimeError(f"claim-next answered {status}: {body}")
            seq_lat.append(dt)
            claim = body["claim"]
            await c.post(f"/api/agent/tasks/{claim['run']['id']}/complete",
                         {"claim_token": claim["claim_token"]}, c.agents[0])
        load = await drain(c, args.agents)
        empties = await empty_claims(c, args.history_seq)
    return {"seq_p50": ms(pct(seq_lat, 50)), "seq_p99": ms(pct(seq_lat, 99)),
            "load_p50": load["claim_p50"], "load_p99": load["claim_p99"], "load_rate": load["rate"],
            "empty_p50": ms(pct(empties, 50)), "empty_p99": ms(pct(empties, 99))}


# -- part d: batches ------------------------------------------------------------------------------

async def part_batch(srv: srvmod.Server, args: argparse.Namespace) -> dict[str, Any]:
    """POST /api/tasks/batch (1,000 per call, 4 concurrent), then 8 agents loop claim-batch (100 runs)
    -> complete-batch until the queue is empty."""
    n, per_create, per_claim = args.batch_tasks, 1000, 100
    async with Client(srv, 8) as c:
        body = {"tasks": [{"title": "bench task", "network_channel": CHANNEL}] * per_create}
        calls = n // per_create

        async def creator(k: int) -> None:
            for _ in range(k):
                status, answer, _ = await c.post("/api/tasks/batch", body, c.admin)
                if status != 201:
                    raise RuntimeError(f"tasks/batch answered {status}: {answer}")

        t0 = time.perf_counter()
        await asyncio.gather(*(creator(calls // 4 + (1 if i < calls % 4 else 0)) for i in range(4)))
        create_rate = calls * per_create / (time.perf_counter() - t0)
        done = 0

        async def agent(headers: dict[str, str]) -> None:
            nonlocal done
            while True:
                status, answer, _ = await c.post("/api/agent/tasks/claim-batch",
                                                 {"network_channel": CHANNEL, "max_runs": per_claim}, headers)
                if status == 204:
                    return
                if status != 200:
                    raise RuntimeError(f"claim-batch answered {status}: {answer}")
                items = [{"run_id": x["run"]["id"], "claim_token": x["claim_token"], "result": {"ok": True}}
                         for x in answer["claims"]]
                status, answer, _ = await c.post("/api/agent/tasks/complete-batch", {"items": items}, headers)
                if status != 200 or any(r["status"] != 200 for r in answer["results"]):
                    raise RuntimeError(f"complete-batch answered {status}: {answer}")
                done += len(items)

        cpu0 = cpu_seconds(srv.proc.pid)
        t0 = time.perf_counter()
        out = Path(args.profile) / f"{srv.database_url.split(':')[0]}-batch-{int(time.time())}.txt" \
            if args.profile else None
        with spy.recording(srv.proc.pid, out):
            await asyncio.gather(*(agent(h) for h in c.agents))
        elapsed = time.perf_counter() - t0
        if out is not None and out.exists():
            log(f"  profile of the server during the batch drain ({out}):\n" + spy.summarize(out))
        cpu_us = 1e6 * (cpu_seconds(srv.proc.pid) - cpu0) / max(1, done)
    if done != calls * per_create:
        raise RuntimeError(f"batch drain finished {done} of {calls * per_create} tasks")
    result = {"batch_create_rate": create_rate, "batch_rate": done / elapsed, "batch_cpu_us": cpu_us}
    log(f"  batched create {create_rate:.0f} tasks/s; batched claim+complete {result['batch_rate']:.0f} tasks/s, "
        f"server CPU {cpu_us:.0f} us per task")
    return result


# -- driver ------------------------------------------------------------------------------------------

def measure(url: str, part: str, args: argparse.Namespace) -> dict[str, Any]:
    """Queue this part's tasks (before the server starts), then run the part against a server."""
    queued = {"throughput": args.tasks, "history": args.history_tasks}.get(part, 0)
    if queued:
        rate = prefill(url, queued)
        log(f"  {queued} tasks queued in-process via the engine ({rate:.0f}/s)")
    with running_server(url) as srv:
        fn = {"throughput": part_throughput, "idle": part_idle, "history": claim_profile, "batch": part_batch}[part]
        return asyncio.run(fn(srv, args))


def run_part(backend: str, part: str, args: argparse.Namespace) -> dict[str, Any]:
    with fresh_database(backend, args.pg_url) as url:
        return measure(url, part, args)


def run_history(backend: str, n_hist: int, args: argparse.Namespace) -> tuple[list[Any], list[Any]]:
    """The same claim measurements on an empty database and on one with ``n_hist`` finished tasks,
    interleaved so machine noise hits both alike. Each database is filled once and reused."""
    base_runs, hist_runs = [], []
    with fresh_database(backend, args.pg_url) as empty_url, fresh_database(backend, args.pg_url) as hist_url:
        log(f"{backend}: bulk-inserting {n_hist:,} finished tasks ...")
        log(f"  history filled in {fill_history(hist_url, n_hist):.0f} s")
        open_storage(empty_url).migrate()
        for i in range(args.repeat):
            log(f"{backend} claim latency, empty database {i + 1}/{args.repeat}")
            base_runs.append(measure(empty_url, "history", args))
            log(f"{backend} claim latency, {n_hist:,} finished tasks {i + 1}/{args.repeat}")
            hist_runs.append(measure(hist_url, "history", args))
    return base_runs, hist_runs


def summarize(runs: list[dict[str, Any]]) -> dict[str, float]:
    return {k: med([r[k] for r in runs]) for k in runs[0]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="both", choices=["sqlite", "postgres", "both"])
    p.add_argument("--only", default=",".join(PARTS), help="comma-separated: " + ", ".join(PARTS))
    p.add_argument("--quick", action="store_true", help="smaller counts, one repetition")
    p.add_argument("--agents", type=int, default=32)
    p.add_argument("--pg-workers", default="1,2",
                   help="server processes on PostgreSQL (serve --workers), comma-separated: each is measured")
    p.add_argument("--batch-tasks", type=int, help="tasks per batch run (default 20000; quick 5000)")
    p.add_argument("--peer-tasks", type=int, help="no-op tasks per peer drain (default 10000; quick 3000)")
    p.add_argument("--tasks", type=int, help="tasks queued per throughput run (default 20000; quick 4000)")
    p.add_argument("--http-creates", type=int, default=1000,
                   help="tasks also created over HTTP (48 concurrent) to measure creates/s; drained too")
    p.add_argument("--repeat", type=int, help="repetitions of each measurement (default 3; quick 1)")
    p.add_argument("--idle-agents", type=int, default=4)
    p.add_argument("--idle-crowd", type=int, default=200,
                   help="agents long-polling another channel while creates are measured (0: skip)")
    p.add_argument("--idle-samples", type=int, help="idle latency samples (default 300; quick 100)")
    p.add_argument("--history", type=int, help="finished tasks for SQLite (default 1000000; quick 100000)")
    p.add_argument("--pg-history", type=int, help="finished tasks for PostgreSQL (default: same as --history)")
    p.add_argument("--history-tasks", type=int, default=3000, help="queued tasks per history measurement")
    p.add_argument("--history-seq", type=int, default=500, help="sequential claims per history measurement")
    p.add_argument("--pg-url", default=os.environ.get("TASKLOOM_BENCH_POSTGRES_URL")
                   or os.environ.get("TASKLOOM_TEST_POSTGRES_URL") or PG_DEFAULT)
    p.add_argument("--profile", metavar="DIR", help="record the server with py-spy during each drain into DIR")
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "latest.md"))
    args = p.parse_args()
    args.pg_workers = [max(1, int(w)) for w in str(args.pg_workers).split(",") if w.strip()]
    args.batch_tasks = args.batch_tasks or (5000 if args.quick else 20000)
    args.peer_tasks = args.peer_tasks or (3000 if args.quick else 10000)
    args.tasks = args.tasks or (4000 if args.quick else 20000)
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.idle_samples = args.idle_samples or (100 if args.quick else 300)
    args.history = args.history or (100_000 if args.quick else 1_000_000)
    args.pg_history = args.pg_history or args.history
    if args.quick:
        args.history_tasks, args.history_seq = min(args.history_tasks, 1500), min(args.history_seq, 300)
    parts = [x.strip() for x in args.only.split(",") if x.strip()]
    if bad := [x for x in parts if x not in PARTS]:
        p.error(f"unknown part(s) {bad}; choose from {PARTS}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends:
        try:
            psycopg.connect(args.pg_url, connect_timeout=5).close()
        except psycopg.OperationalError as exc:
            log(f"PostgreSQL at {args.pg_url} unreachable ({exc}); skipping it")
            backends.remove("postgres")

    args.load_before = os.getloadavg()
    rows: list[tuple[str, str, str, str]] = []  # backend, metric, value, target
    peer_of = {"sqlite": "celery", "postgres": "procrastinate"}
    need_vs_peer = {"sqlite": 1.5, "postgres": 2.0}
    cpu_target = {"sqlite": 0.8, "postgres": 1.5}
    for backend in backends:
        peer = None
        if "peers" in parts:
            peer = measure_peer(peer_of[backend], args)
        if "throughput" in parts:
            for workers in args.pg_workers if backend == "postgres" else [1]:
                SERVER_WORKERS["postgres"] = workers
                label = f"{backend}, serve --workers {workers}" if backend == "postgres" else backend
                runs = []
                for i in range(args.repeat):
                    log(f"{label} throughput {i + 1}/{args.repeat}")
                    runs.append(run_part(backend, "throughput", args))
                s = summarize(runs)
                rates = ", ".join(f"{r['rate']:.0f}" for r in runs)
                cpus = ", ".join(f"{r['server_cpu_ms']:.2f}" for r in runs)
                rows += [
                    (label, f"claim-next -> complete cycles/s, {args.agents} agents, "
                     f"{args.tasks + args.http_creates} tasks (runs: {rates})", f"{s['rate']:.0f}",
                     vs(s["rate"], peer, peer_of[backend], need_vs_peer[backend]) if workers == 1 else ""),
                    (label, "claim-next latency p50 / p99 under that load", f"{s['claim_p50']:.1f} / "
                     f"{s['claim_p99']:.1f} ms", ""),
                    (label, "complete latency p50 / p99 under that load", f"{s['complete_p50']:.1f} / "
                     f"{s['complete_p99']:.1f} ms", ""),
                    (label, f"server CPU per cycle (runs: {cpus}); its busy share of one core; load generator",
                     f"{s['server_cpu_ms']:.2f} ms ({s['server_cpu_pct']:.0f}%); {s['client_cpu_pct']:.0f}%",
                     f"<= {cpu_target[backend]} ms" + mark(s["server_cpu_ms"] <= cpu_target[backend])
                     + (" (flat vs 1 worker?)" if workers > 1 else "")),
                ]
                if workers == 1:
                    rows.append((label, "single creates over HTTP (48 concurrent), tasks/s; server CPU per create",
                                 f"{s['create_rate']:.0f}; {s['create_cpu_ms']:.2f} ms",
                                 ">= 1500" + mark(s["create_rate"] >= 1500) if backend == "sqlite" else ""))
            SERVER_WORKERS["postgres"] = 1
        if "batch" in parts:
            runs = []
            for i in range(args.repeat):
                log(f"{backend} batches {i + 1}/{args.repeat}")
                runs.append(run_part(backend, "batch", args))
            s = summarize(runs)
            need = 10_000 if backend == "sqlite" else 5_000
            rates = ", ".join(f"{r['batch_rate']:.0f}" for r in runs)
            rows += [
                (backend, f"batched claim -> complete, 100 runs per call, 8 agents, {args.batch_tasks} tasks, tasks/s "
                 f"(runs: {rates})", f"{s['batch_rate']:.0f}", f">= {need}" + mark(s["batch_rate"] >= need)),
                (backend, "  server CPU per task in that drain", f"{s['batch_cpu_us']:.0f} us", ""),
                (backend, "batched create (POST /api/tasks/batch, 1,000 per call, 4 concurrent), tasks/s",
                 f"{s['batch_create_rate']:.0f}",
                 ">= 10000" + mark(s["batch_create_rate"] >= 10_000) if backend == "sqlite" else ""),
            ]
        if "idle" in parts:
            runs = []
            for i in range(args.repeat):
                log(f"{backend} idle {i + 1}/{args.repeat}")
                runs.append(run_part(backend, "idle", args))
            s = summarize(runs)
            need = 5 if backend == "sqlite" else 8
            rows += [
                (backend, f"idle claim (long-poll, {args.idle_agents} waiting agents): create answer -> claim "
                 "answer, p50 / p99", f"{s['idle_p50']:.2f} / {s['idle_p99']:.2f} ms",
                 f"p99 <= {need} ms" + mark(s["idle_p99"] <= need)),
                (backend, "  same, measured from create request sent, p50 / p99",
                 f"{s['idle_send_p50']:.2f} / {s['idle_send_p99']:.2f} ms", ""),
                (backend, "empty claim-next -> 204, p50 / p99", f"{s['empty_p50']:.2f} / {s['empty_p99']:.2f} ms",
                 ""),
            ]
            if args.idle_crowd:
                rows.append((backend, f"HTTP creates/s and CPU per create: alone / with {args.idle_crowd} agents "
                             "long-polling another channel", f"{s['creates_alone']:.0f} at {s['create_cpu_alone']:.2f} ms"
                             f" / {s['creates_crowd']:.0f} at {s['create_cpu_crowd']:.2f} ms", ""))
        if "history" in parts:
            n_hist = args.history if backend == "sqlite" else args.pg_history
            base_runs, hist_runs = run_history(backend, n_hist, args)
            b, h = summarize(base_runs), summarize(hist_runs)
            for key, label in (("seq", "claim-next p50 / p99, one agent sequential"),
                               ("load", f"claim-next p50 / p99, {args.agents} agents"),
                               ("empty", "empty claim-next -> 204 p50 / p99")):
                ratio = h[f"{key}_p99"] / b[f"{key}_p99"]
                rows.append((backend, f"{label}: empty DB vs {n_hist:,} finished",
                             f"{b[f'{key}_p50']:.2f} / {b[f'{key}_p99']:.2f} ms vs "
                             f"{h[f'{key}_p50']:.2f} / {h[f'{key}_p99']:.2f} ms (p99 x{ratio:.2f})",
                             "p99 within 1.5x" + mark(ratio <= 1.5) if key == "seq" else ""))
    if "postgres" not in backends and args.backend != "sqlite":
        rows.append(("postgres", "all PostgreSQL figures and Procrastinate", "skipped",
                     f"PostgreSQL at {args.pg_url} unreachable"))
    report(rows, args)


def report(rows: list[tuple[str, str, str, str]], args: argparse.Namespace) -> None:
    head = (f"# Taskloom benchmark — {time.strftime('%Y-%m-%d %H:%M:%S')}\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; server "
            "and load generator on the same machine (shared with other work: load average "
            f"{args.load_before[1]:.1f} before, {os.getloadavg()[1]:.1f} after, 5-min). Medians of "
            f"{args.repeat} run(s){' (--quick)' if args.quick else ''}. Queued tasks are created before the "
            "server starts, in-process through the engine's create_task (same rows and events as over HTTP, "
            f"2000 per transaction), plus {args.http_creates} over HTTP to measure creates/s; the finished "
            "history is bulk-inserted with SQL (one transaction). Peers (Celery, Procrastinate) run in the same "
            "invocation on the same machine; compare with them, not with other days' figures.\n\n")
    table = ["| backend | metric | value | target |", "|---|---|---|---|"]
    table += [f"| {b} | {m} | {v} | {t} |" for b, m, v, t in rows]
    text = head + "\n".join(table) + "\n"
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"written to {out}")


if __name__ == "__main__":
    main()
