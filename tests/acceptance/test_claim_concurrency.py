"""Claims are atomic over real HTTP: 20 concurrent agents drain 1,000 runs from a `taskloom serve`
subprocess; no run is handed to two agents and every task completes exactly once — on both backends."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.acceptance import server as srvmod

AGENTS = 20
RUNS = 1000
CHANNEL = "concurrency"


@pytest.fixture(params=["sqlite", "postgres"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[srvmod.Server]:
    """A server subprocess on a fresh database of each backend."""
    if request.param == "sqlite":
        srv = srvmod.start(f"sqlite:///{tmp_path}/taskloom.db", data_dir=str(tmp_path / "data"))
        try:
            yield srv
        finally:
            srv.stop()
        return
    base = request.getfixturevalue("postgres_url")  # skips (or fails under CI) without PostgreSQL
    with srvmod.fresh_postgres(base) as url:
        srv = srvmod.start(url, data_dir=str(tmp_path / "data"))
        try:
            yield srv
        finally:
            srv.stop()


async def _post(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> tuple[int, Any]:
    async with session.post(url, json=body, headers=headers) as resp:
        return resp.status, (await resp.json() if resp.status != 204 else None)


async def _load(srv: srvmod.Server) -> tuple[set[str], list[tuple[str, str, str]], list[str]]:
    admin = srv.auth("creator")
    created: set[str] = set()
    claims: list[tuple[str, str, str]] = []  # (agent, run id, task id), one per 200 answer
    problems: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def create(n: int) -> None:
            for _ in range(n):
                status, body = await _post(session, srv.base_url + "/api/tasks",
                                           {"title": "race", "network_channel": CHANNEL}, admin)
                assert status == 201, body
                created.add(body["task"]["id"])

        await asyncio.gather(*(create(RUNS // 10) for _ in range(10)))

        async def agent(i: int) -> None:
            name = f"racer-{i}"
            headers = srv.auth(name, kind="agent_session", role="agent")
            while True:
                status, body = await _post(session, srv.base_url + "/api/agent/tasks/claim-next",
                                           {"network_channel": CHANNEL, "lease_seconds": 120}, headers)
                if status == 204:
                    return
                assert status == 200, body
                claim = body["claim"]
                claims.append((name, claim["run"]["id"], claim["task"]["id"]))
                status, body = await _post(session, f"{srv.base_url}/api/agent/tasks/{claim['run']['id']}/complete",
                                           {"claim_token": claim["claim_token"], "result": {"by": name}}, headers)
                if status != 200:  # another agent holding "our" run would show up here
                    problems.append(f"{name} could not complete {claim['run']['id']}: {status} {body}")

        await asyncio.gather(*(agent(i) for i in range(AGENTS)))
    return created, claims, problems


@pytest.mark.timeout(120)
def test_twenty_agents_never_share_a_run(served: srvmod.Server) -> None:
    created, claims, problems = asyncio.run(_load(served))
    assert len(created) == RUNS
    assert problems == []

    # From the claim answers: each run and each task was handed out once, to one agent.
    run_counts = collections.Counter(run_id for _, run_id, _ in claims)
    assert [r for r, n in run_counts.items() if n > 1] == []
    assert collections.Counter(task_id for _, _, task_id in claims) == collections.Counter(created)
    assert len({agent for agent, _, _ in claims}) > 1, "the load was not concurrent"

    # From the database: every task completed, each with exactly one run, completed.
    url = served.database_url
    rows = srvmod.query(url, "SELECT status, COUNT(*) FROM tasks GROUP BY status")
    assert dict(rows) == {"completed": RUNS}
    per_task = srvmod.query(url, "SELECT task_id, COUNT(*), SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END)"
                                 " FROM runs GROUP BY task_id")
    assert len(per_task) == RUNS
    assert {(int(total), int(done)) for _, total, done in per_task} == {(1, 1)}
    assert {r[0] for r in per_task} == created
    # The completing agent recorded on each run is the one whose claim was answered.
    holders = dict(srvmod.query(url, "SELECT id, claimed_by_ref FROM runs"))
    assert {run_id: agent for agent, run_id, _ in claims} == holders
    # One run.claimed and one run.completed event per task.
    events = srvmod.query(url, "SELECT event_type, COUNT(*), COUNT(DISTINCT task_id) FROM events"
                               " WHERE event_type IN ('run.claimed', 'run.completed') GROUP BY event_type")
    assert sorted((e, int(n), int(d)) for e, n, d in events) == [
        ("run.claimed", RUNS, RUNS), ("run.completed", RUNS, RUNS)]


BATCH_AGENTS = 20
BATCH_RUNS = 2000
BATCH = 25


async def _batch_load(srv: srvmod.Server) -> tuple[set[str], list[tuple[str, str, str]], list[str]]:
    """Tasks made with POST /api/tasks/batch; 20 agents claim-batch 25 at a time and complete-batch them."""
    admin = srv.auth("creator")
    created: set[str] = set()
    claims: list[tuple[str, str, str]] = []
    problems: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        for _ in range(BATCH_RUNS // 500):
            status, body = await _post(session, srv.base_url + "/api/tasks/batch",
                                       {"tasks": [{"title": "race", "network_channel": CHANNEL}] * 500}, admin)
            assert status == 201, body
            created.update(t["id"] for t in body["tasks"])

        async def agent(i: int) -> None:
            name = f"batcher-{i}"
            headers = srv.auth(name, kind="agent_session", role="agent")
            while True:
                status, body = await _post(session, srv.base_url + "/api/agent/tasks/claim-batch",
                                           {"network_channel": CHANNEL, "lease_seconds": 120, "max_runs": BATCH},
                                           headers)
                if status == 204:
                    return
                assert status == 200, body
                got = body["claims"]
                assert 1 <= len(got) <= BATCH
                claims.extend((name, c["run"]["id"], c["task"]["id"]) for c in got)
                items = [{"run_id": c["run"]["id"], "claim_token": c["claim_token"], "result": {"by": name}}
                         for c in got]
                status, body = await _post(session, srv.base_url + "/api/agent/tasks/complete-batch",
                                           {"items": items}, headers)
                assert status == 200, body
                problems.extend(f"{name}: {r}" for r in body["results"] if r["status"] != 200)

        await asyncio.gather(*(agent(i) for i in range(BATCH_AGENTS)))
    return created, claims, problems


@pytest.mark.timeout(180)
def test_twenty_agents_claiming_in_batches_complete_every_run_once(served: srvmod.Server) -> None:
    created, claims, problems = asyncio.run(_batch_load(served))
    assert len(created) == BATCH_RUNS and problems == []
    assert [r for r, n in collections.Counter(r for _, r, _ in claims).items() if n > 1] == []
    assert collections.Counter(t for _, _, t in claims) == collections.Counter(created)
    assert len({a for a, _, _ in claims}) > 1, "the load was not concurrent"
    url = served.database_url
    assert dict(srvmod.query(url, "SELECT status, COUNT(*) FROM tasks GROUP BY status")) == {"completed": BATCH_RUNS}
    per_task = srvmod.query(url, "SELECT task_id, COUNT(*), SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END)"
                                 " FROM runs GROUP BY task_id")
    assert {(int(total), int(done)) for _, total, done in per_task} == {(1, 1)}
    holders = dict(srvmod.query(url, "SELECT id, claimed_by_ref FROM runs"))
    assert {run_id: a for a, run_id, _ in claims} == holders
    events = srvmod.query(url, "SELECT event_type, COUNT(*), COUNT(DISTINCT task_id) FROM events"
                               " WHERE event_type IN ('run.claimed', 'run.completed') GROUP BY event_type")
    assert sorted((e, int(n), int(d)) for e, n, d in events) == [
        ("run.claimed", BATCH_RUNS, BATCH_RUNS), ("run.completed", BATCH_RUNS, BATCH_RUNS)]
