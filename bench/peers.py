#!/usr/bin/env python3
"""Peer task queues for bench/run.py: the same no-op workload on Celery (Redis) and Procrastinate
(PostgreSQL). N tasks are enqueued first, then drained by 8 workers; the rate is measured from the
first task executed to the last one (worker start-up is not counted).

Runs inside the separate peer virtual environment (bench/.peers-venv, made by bench/peers.sh), never
in Taskloom's own; prints one JSON object per peer: {"peer", "tasks", "seconds", "rate"} or
{"peer", "skipped": "<reason>"}.

    bench/.peers-venv/bin/python bench/peers.py celery --tasks 20000
    bench/.peers-venv/bin/python bench/peers.py procrastinate --tasks 20000 --pg-url postgresql://...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid

WORKERS = 8


def emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


# -- Celery on Redis: 2 worker processes x 4 threads -----------------------------------------------

def celery_app(redis_url: str):  # type: ignore[no-untyped-def]
    import celery

    app = celery.Celery("taskloom_bench_peer", broker=redis_url)
    app.conf.update(task_ignore_result=True, worker_hijack_root_logger=False, worker_prefetch_multiplier=4,
                    broker_connection_retry_on_startup=True)
    counter = redis_client(redis_url)
    total = int(os.environ.get("PEER_TASKS", "0"))

    @app.task(name="noop")
    def noop() -> None:
        # Only the first and last execution are timed: a no-op task, like Taskloom's.
        n = counter.incr("peer:done")
        if n == 1:
            counter.set("peer:first", time.time())
        if n == total:
            counter.set("peer:last", time.time())

    return app, noop


def redis_client(url: str):  # type: ignore[no-untyped-def]
    import redis

    return redis.Redis.from_url(url)


def run_celery(args: argparse.Namespace) -> None:
    try:
        import redis

        db = redis_client(args.redis_url)
        db.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means: no Redis here
        emit(peer="celery", skipped=f"Redis at {args.redis_url} unreachable ({exc})")
        return
    del redis
    db.flushdb()
    os.environ["PEER_TASKS"] = str(args.tasks)
    app, noop = celery_app(args.redis_url)
    with app.producer_or_acquire() as producer:
        for _ in range(args.tasks):
            noop.apply_async(producer=producer)
    env = {**os.environ, "PEER_TASKS": str(args.tasks), "PEER_REDIS_URL": args.redis_url}
    procs = [subprocess.Popen([sys.executable, "-m", "celery", "-A", "peers:celery_main", "worker", "--pool",
                               "threads", "--concurrency", str(WORKERS // 2), "--without-gossip",
                               "--without-mingle", "--without-heartbeat", "-n", f"w{i}-{uuid.uuid4().hex[:6]}@bench",
                               "--loglevel", "WARNING"], cwd=os.path.dirname(os.path.abspath(__file__)), env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(2)]
    try:
        deadline = time.monotonic() + args.timeout
        while db.get("peer:last") is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if db.get("peer:last") is None:
            emit(peer="celery", skipped=f"did not drain {args.tasks} tasks in {args.timeout} s "
                 f"(done {int(db.get('peer:done') or 0)})")
            return
        seconds = float(db.get("peer:last")) - float(db.get("peer:first"))
        emit(peer="celery", tasks=args.tasks, seconds=seconds, rate=(args.tasks - 1) / seconds)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
        db.flushdb()


def _celery_main():  # type: ignore[no-untyped-def]
    return celery_app(os.environ["PEER_REDIS_URL"])[0]


# -- Procrastinate on PostgreSQL: one worker with concurrency 8 --------------------------------------

def run_procrastinate(args: argparse.Namespace) -> None:
    import psycopg

    name = f"taskloom_bench_peer_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(args.pg_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        emit(peer="procrastinate", skipped=f"PostgreSQL at {args.pg_url} unreachable ({exc})")
        return
    url = args.pg_url.rsplit("/", 1)[0] + "/" + name
    try:
        asyncio.run(_procrastinate(url, args.tasks))
    finally:
        with psycopg.connect(args.pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _procrastinate(url: str, n: int) -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    times: list[float] = []

    @app.task(name="noop")
    async def noop() -> None:
        times.append(time.time())

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        for start in range(0, n, 1000):
            await noop.batch_defer_async(*({} for _ in range(min(1000, n - start))))
        await app.run_worker_async(concurrency=WORKERS, wait=False, install_signal_handlers=False)
    if len(times) != n:
        emit(peer="procrastinate", skipped=f"ran {len(times)} of {n} jobs")
        return
    seconds = max(times) - min(times)
    emit(peer="procrastinate", tasks=n, seconds=seconds, rate=(n - 1) / seconds)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("peer", choices=["celery", "procrastinate"])
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    p.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    p.add_argument("--timeout", type=float, default=300)
    args = p.parse_args()
    {"celery": run_celery, "procrastinate": run_procrastinate}[args.peer](args)


celery_main = None
if os.environ.get("PEER_REDIS_URL") and __name__ != "__main__":
    celery_main = _celery_main()

if __name__ == "__main__":
    main()
