"""The storage contract, on both backends: guarded updates, atomic claims (migrations: test_migrations.py)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from taskloom.domain.actors import Actor
from taskloom.engine import runs as run_ops
from taskloom.engine import tasks as task_ops
from taskloom.engine.engine import Engine
from taskloom.storage import open_storage


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_guarded_update_refuses_wrong_status(database_url: str) -> None:
    async def scenario() -> None:
        storage = open_storage(database_url)
        storage.migrate()
        engine = Engine(storage)
        await engine.start(run_services=False)
        try:
            boss = Actor("human", "boss", "admin")
            task, run_row = await engine.write(boss, lambda tx, ctx: task_ops.create_task(
                tx, ctx, task_ops.TaskSpec(title="t")))
            assert run_row is not None
            moved = await storage.write(lambda tx: tx.run_update(run_row["id"], {"held": 1}, expect_status=["running"]))
            assert moved is None
            again = await storage.read(lambda tx: tx.run_get(run_row["id"]))
            assert again["held"] == 0

            def boom(tx: Any) -> None:
                tx.task_update(task["id"], {"title": "half-written"})
                raise RuntimeError("fails after a write")

            with pytest.raises(RuntimeError):
                await storage.write(boom)
            unchanged = await storage.read(lambda tx: tx.task_get(task["id"]))
            assert unchanged["title"] == "t", "a failed operation leaves nothing behind"
        finally:
            await engine.stop()

    run(scenario())


def test_concurrent_claims_are_exclusive(database_url: str) -> None:
    """40 concurrent claimers over 300 runs: each run claimed once, each completed once."""

    async def scenario() -> None:
        storage = open_storage(database_url)
        storage.migrate()
        engine = Engine(storage)
        await engine.start(run_services=False)
        boss = Actor("human", "boss", "admin")
        try:
            def make_all(tx: Any, ctx: Any) -> None:
                for i in range(300):
                    task_ops.create_task(tx, ctx, task_ops.TaskSpec(title=f"t{i}"))

            await engine.write(boss, make_all)
            claimed: list[str] = []

            async def worker(n: int) -> None:
                me = Actor("agent_session", f"agent-{n}", "agent")
                while True:
                    claim = await engine.write(me, lambda tx, ctx: run_ops.claim_next(
                        tx, ctx, run_ops.ClaimFilters(), 60, None))
                    if claim is None:
                        return
                    claimed.append(claim.run["id"])
                    rid, token = claim.run["id"], claim.token
                    await engine.write(me, lambda tx, ctx, rid=rid, token=token: run_ops.complete_run(
                        tx, ctx, rid, result=None, idempotency_key=None, claim_token=token, usage=None))

            await asyncio.gather(*(worker(n) for n in range(40)))
            assert len(claimed) == 300 and len(set(claimed)) == 300
            counts = await storage.read(lambda tx: tx.task_status_counts({}))
            assert counts == {"completed": 300}
            runs = await storage.read(lambda tx: tx.run_status_counts({}))
            assert runs == {"completed": 300}
            events = await storage.read(lambda tx: tx._rows(
                "SELECT task_id, COUNT(*) AS n FROM events WHERE event_type = 'run.completed' GROUP BY task_id"))
            assert Counter(int(e["n"]) for e in events) == Counter({1: 300})
        finally:
            await engine.stop()

    run(scenario())
