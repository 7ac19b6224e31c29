"""Crash safety: SIGKILL `taskloom serve` in the middle of claim/complete load, restart it on the same
database, and check that nothing it acknowledged is lost, nothing completes twice, and the runs it
was holding come back through lease expiry — on both backends. Batch completes are in the load too."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest

from tests.acceptance import server as srvmod

LEASE = 2.0  # seconds: short, so interrupted runs are taken back quickly after the restart
ENV = {"TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.2"}
CHANNEL = "crash"
AGENTS = 6


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/taskloom.db"
        return
    base = request.getfixturevalue("postgres_url")  # skips (or fails under CI) without PostgreSQL
    with srvmod.fresh_postgres(base) as url:
        yield url


@dataclass
class Ledger:
    """What the server acknowledged (2xx) before it died, as the clients saw it."""

    created: set[str] = field(default_factory=set)
    claimed: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # run -> (task, agent, token)
    completed: dict[str, str] = field(default_factory=dict)  # run -> task, complete answered 200
    unknown: int = 0  # requests cut off by the kill: their outcome is unknown
    batches: int = 0  # complete-batch calls answered 200


async def _post(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    async with session.post(url, json=body, headers=headers) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def _load_until_killed(srv: srvmod.Server, ledger: Ledger) -> None:
    """Creators and agents hammer the server; SIGKILL lands once enough has been acknowledged."""
    stop = asyncio.Event()
    admin = srv.auth("crash-creator")
    base = srv.base_url
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def guarded(coro_fn: Any) -> None:
            while not stop.is_set():
                try:
                    await coro_fn()
                except (TimeoutError, aiohttp.ClientError, ConnectionError):
                    ledger.unknown += 1
                    if not srv.alive():
                        return
                    await asyncio.sleep(0.01)

        async def create() -> None:
            status, body = await _post(session, base + "/api/tasks",
                                       {"title": "survive", "network_channel": CHANNEL, "backoff_seconds": 0.1,
                                        "backoff_strategy": "fixed"}, admin)
            assert status == 201, body
            ledger.created.add(body["task"]["id"])

        def agent(i: int) -> Any:
            name = f"crash-agent-{i}"
            headers = srv.auth(name, kind="agent_session", role="agent")

            async def cycle() -> None:
                status, body = await _post(session, base + "/api/agent/tasks/claim-next",
                                           {"network_channel": CHANNEL, "lease_seconds": LEASE}, headers)
                if status == 204:
                    await asyncio.sleep(0.01)
                    return
                assert status == 200, body
                run_id, token = body["claim"]["run"]["id"], body["claim"]["claim_token"]
                ledger.claimed[run_id] = (body["claim"]["task"]["id"], name, token)
                await asyncio.sleep(random.uniform(0, 0.05))  # "work", so some runs are held at the kill
                status, body = await _post(session, f"{base}/api/agent/tasks/{run_id}/complete",
                                           {"claim_token": token, "idempotency_key": run_id}, headers)
                assert status == 200, body
                ledger.completed[run_id] = ledger.claimed[run_id][0]

            return cycle

        def batch_agent(i: int) -> Any:
            name = f"crash-batcher-{i}"
            headers = srv.auth(name, kind="agent_session", role="agent")

            async def cycle() -> None:
                status, body = await _post(session, base + "/api/agent/tasks/claim-batch",
                                           {"network_channel": CHANNEL, "lease_seconds": LEASE, "max_runs": 5},
                                           headers)
                if status == 204:
                    await asyncio.sleep(0.01)
                    return
                assert status == 200, body
                for c in body["claims"]:
                    ledger.claimed[c["run"]["id"]] = (c["task"]["id"], name, c["claim_token"])
                await asyncio.sleep(random.uniform(0, 0.05))
                items = [{"run_id": c["run"]["id"], "claim_token": c["claim_token"], "idempotency_key": c["run"]["id"]}
                         for c in body["claims"]]
                status, answer = await _post(session, base + "/api/agent/tasks/complete-batch", {"items": items},
                                             headers)
                assert status == 200, answer
                assert [r["status"] for r in answer["results"]] == [200] * len(items), answer
                for r in answer["results"]:
                    ledger.completed[r["run_id"]] = ledger.claimed[r["run_id"]][0]
                ledger.batches += 1

            return cycle

        async def killer() -> None:
            deadline = time.monotonic() + 20
            while (len(ledger.completed) < 100 or len(ledger.claimed) - len(ledger.completed) < 2
                   or ledger.batches < 3) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            srv.kill()
            stop.set()

        workers = ([guarded(create) for _ in range(3)] + [guarded(agent(i)) for i in range(AGENTS)]
                   + [guarded(batch_agent(i)) for i in range(2)])
        await asyncio.gather(killer(), *workers)


async def _drain(srv: srvmod.Server, expect: int, timeout: float) -> dict[str, str]:
    """After the restart: agents finish everything (retries of the interrupted runs included)."""
    done: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async def agent(i: int) -> None:
            headers = srv.auth(f"after-agent-{i}", kind="agent_session", role="agent")
            while len(done) < expect and time.monotonic() < deadline:
                status, body = await _post(session, srv.base_url + "/api/agent/tasks/claim-next",
                                           {"network_channel": CHANNEL, "lease_seconds": 60, "wait_seconds": 1},
                                           headers)
                if status == 204:
                    continue
                assert status == 200, body
                run_id = body["claim"]["run"]["id"]
                status, body2 = await _post(session, f"{srv.base_url}/api/agent/tasks/{run_id}/complete",
                                            {"claim_token": body["claim"]["claim_token"]}, headers)
                assert status == 200, body2
                done[run_id] = body["claim"]["task"]["id"]

        await asyncio.gather(*(agent(i) for i in range(4)))
    return done


def _open_tasks(url: str) -> int:
    return int(srvmod.query(url, "SELECT COUNT(*) FROM tasks WHERE status <> 'completed'")[0][0])


def tasks_status(url: str, task_id: str) -> str:
    return str(srvmod.query(url, "SELECT status FROM tasks WHERE id = ?", (task_id,))[0][0])


@pytest.mark.timeout(90)
def test_sigkill_mid_load_loses_nothing(database_url: str, tmp_path: Path) -> None:
    data_dir = str(tmp_path / "data")
    ledger = Ledger()
    srv = srvmod.start(database_url, env=ENV, data_dir=data_dir)
    try:
        asyncio.run(_load_until_killed(srv, ledger))
    finally:
        srv.kill()
    assert not srv.alive()
    interrupted = {r: v for r, v in ledger.claimed.items() if r not in ledger.completed}
    assert len(ledger.completed) >= 20 and interrupted, "the kill did not land mid-load"
    assert ledger.batches >= 1, "no complete-batch was answered before the kill"

    srv = srvmod.start(database_url, env=ENV, data_dir=data_dir, secret=srv.secret)
    try:
        q = lambda sql: srvmod.query(database_url, sql)  # noqa: E731
        # 1. Every task whose create was answered 201 is there.
        tasks = dict(q("SELECT id, status FROM tasks"))
        assert ledger.created <= set(tasks), f"lost {len(ledger.created - set(tasks))} acknowledged tasks"
        # 2. Every acknowledged completion is there, single or batched (all of a batch whose answer
        #    came back): the run and its task are completed.
        runs = {r[0]: r[1:] for r in q("SELECT id, task_id, status FROM runs")}
        for run_id, task_id in ledger.completed.items():
            assert runs[run_id] == (task_id, "completed"), run_id
            assert tasks[task_id] == "completed", task_id

        # 3. Runs held at the kill are taken back by lease expiry (no one calls the rescuer), unless
        #    their complete committed just before the kill without the answer getting out.
        deadline = time.monotonic() + LEASE + 15
        while time.monotonic() < deadline:
            live = q("SELECT COUNT(*) FROM runs WHERE status IN ('claimed', 'starting', 'running')")[0][0]
            if live == 0:
                break
            time.sleep(0.2)
        final = {r[0]: r[1:] for r in q("SELECT id, status, error FROM runs")}
        taken_back = [r for r in interrupted if final[r][0] == "failed"]
        assert all(final[r][0] in ("failed", "completed") for r in interrupted), \
            {r: final[r] for r in interrupted}
        assert taken_back, "no interrupted run was taken back"
        assert all(str(final[r][1]).startswith("lease expired") for r in taken_back)

        # A stale agent completing a taken-back run gets 409 and changes nothing.
        stale = taken_back[0]
        task_id, agent, token = interrupted[stale]
        resp = httpx.post(f"{srv.base_url}/api/agent/tasks/{stale}/complete", json={"claim_token": token},
                          headers=srv.auth(agent, kind="agent_session", role="agent"), timeout=10)
        assert resp.status_code == 409, resp.text
        assert srvmod.query(database_url, "SELECT status FROM runs WHERE id = ?", (stale,))[0][0] == "failed"

        # 4. The retried runs (and the rest of the backlog) complete after the restart.
        asyncio.run(_drain(srv, _open_tasks(database_url), timeout=40))
        assert _open_tasks(database_url) == 0
        for r in taken_back:
            assert tasks_status(database_url, interrupted[r][0]) == "completed"

        # 5. No task completed twice: exactly one completed run per task, and one run.completed event.
        per_task = q("SELECT t.id, (SELECT COUNT(*) FROM runs r WHERE r.task_id = t.id AND r.status = 'completed'),"
                     " (SELECT COUNT(*) FROM events e WHERE e.task_id = t.id AND e.event_type = 'run.completed')"
                     " FROM tasks t")
        assert {(int(a), int(b)) for _, a, b in per_task} == {(1, 1)}
        assert len(per_task) >= len(ledger.created)
    finally:
        srv.stop()
