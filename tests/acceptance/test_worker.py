"""The SDK Worker as a real process against a real `taskloom serve`: what it survives."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from taskloom.sdk import AsyncClient, AsyncRunContext, AsyncWorker, Client, Task, TaskloomError
from tests.acceptance import server

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(self, srv: server.Server, log: Path, *, sub: str = "worker-1", is_async: bool = False,
                 **env: str):
        self.log = log
        full_env = {**os.environ, "TASKLOOM_URL": srv.base_url,
                    "TASKLOOM_TOKEN": srv.token(sub, kind="agent_session", role="agent"), **env}
        args = [sys.executable, "-m", "tests.acceptance.worker_app", *(["--async"] if is_async else [])]
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=out, stderr=subprocess.STDOUT)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def wait_for(what: Callable[[], Any], timeout: float = 20.0, message: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message or what}")


RESCUE_FAST = {"TASKLOOM_RESCUER_INTERVAL_SECONDS": "0.2"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[server.Server]:
    """One server for the module (each test uses its own channel); the crash test starts its own."""
    s = server.start(f"sqlite:///{tmp_path_factory.mktemp('db')}/t.db", env=RESCUE_FAST)
    yield s
    s.stop()


@pytest.fixture
def boss(srv: server.Server) -> Iterator[Client]:
    with Client(srv.base_url, srv.token("boss")) as c:
        yield c


@pytest.fixture
def workers(srv: server.Server, tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    started: list[WorkerProcess] = []

    def start(**kw: Any) -> WorkerProcess:
        w = WorkerProcess(srv, tmp_path / f"worker-{len(started)}.log", **kw)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def status(client: Client, task: Task) -> str | None:
    return client.get_task(task.id).status


def runs_of(client: Client, task: Task) -> list[dict[str, Any]]:
    return client.request("GET", f"/api/tasks/{task.id}/runs")["runs"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_cancel_mid_handler_then_next_task(boss: Client, workers: Callable[..., WorkerProcess],
                                           is_async: bool) -> None:
    channel = f"cancel-{is_async}"
    first = boss.create_task("wait for cancel", network_channel=channel, metadata={"do": "wait_cancel"})
    w = workers(WORKER_CHANNEL=channel, WORKER_LEASE="3", is_async=is_async)
    wait_for(lambda: status(boss, first) == "in_progress", message="the first task claimed")
    boss.request("POST", f"/api/tasks/{first.id}/cancel", {"reason": "changed my mind"})
    second = boss.create_task("next one", network_channel=channel, metadata={"do": "echo", "value": 7})
    wait_for(lambda: status(boss, second) == "completed", message="the next task completed")
    assert boss.get_task(second.id).result == {"echo": 7, "title": "next one"}
    assert boss.get_task(first.id).status == "canceled"
    text = w.text()
    assert text.count(f"canceled {first.identifier} ") == 1, text
    assert "changed my mind" in text and f"completed {second.identifier} in " in text
    assert w.proc.poll() is None, "the worker goes on"
    assert w.stop() == 0 and "Traceback" not in w.text()


def test_server_killed_and_restarted_while_a_handler_runs(tmp_path: Path) -> None:
    srv = server.start(f"sqlite:///{tmp_path}/db/t.db", env=RESCUE_FAST)
    boss = Client(srv.base_url, srv.token("boss"))
    task = boss.create_task("survive a crash", network_channel="k", metadata={"do": "sleep", "seconds": 3})
    w = WorkerProcess(srv, tmp_path / "worker.log", WORKER_CHANNEL="k", WORKER_LEASE="30")
    back = srv
    try:
        wait_for(lambda: status(boss, task) == "in_progress", message="claimed")
        srv.kill()
        time.sleep(1.5)  # the handler is still running while the server is down
        back = server.start(srv.database_url, data_dir=srv.data_dir, secret=srv.secret, port=srv.port, env=RESCUE_FAST)
        wait_for(lambda: status(boss, task) == "completed", message="the result after the restart")
        done = boss.get_task(task.id)
        assert done.result == {"slept": 3, "peak": 1}
        runs = runs_of(boss, task)
        assert len(runs) == 1 and runs[0]["status"] == "completed", "no retry: the lease survived"
        events = boss.request("GET", f"/api/tasks/{task.id}/timeline")["timeline"]
        assert [e["event_type"] for e in events].count("run.completed") == 1, "completed once"
        assert w.text().count(f"completed {task.identifier} ") == 1
    finally:
        w.stop()
        back.stop()
        srv.stop()


def test_sigterm_with_short_grace_releases_without_spending_an_attempt(boss: Client,
                                                                        workers: Callable[..., WorkerProcess]) -> None:
    long = boss.create_task("too long", network_channel="t", metadata={"do": "sleep", "seconds": 20})
    w = workers(WORKER_CHANNEL="t", WORKER_GRACE="0.5")
    wait_for(lambda: status(boss, long) == "in_progress", message="claimed")
    before = boss.get_task(long.id).attempts
    started = time.monotonic()
    assert w.stop() == 0
    assert time.monotonic() - started < 8, "grace 0.5 s, then release, then exit"
    text = w.text()
    assert f"released {long.identifier} " in text and "Traceback" not in text, text
    task = boss.get_task(long.id)
    assert task.status == "ready" and task.attempts == before
    runs = runs_of(boss, long)
    assert len(runs) == 1 and runs[0]["status"] == "queued" and runs[0]["attempt"] == 1


def test_failures_non_json_nonretryable_and_retried(boss: Client, workers: Callable[..., WorkerProcess]) -> None:
    not_json = boss.create_task("returns a datetime", network_channel="f", metadata={"do": "datetime"})
    final = boss.create_task("bad input", network_channel="f", metadata={"do": "nonretryable"})
    flaky = boss.create_task("raises", network_channel="f", metadata={"do": "raise"}, max_attempts=2,
                             backoff_seconds=0)
    w = workers(WORKER_CHANNEL="f", WORKER_LEASE="30")
    for t in (not_json, final, flaky):
        wait_for(lambda t=t: status(boss, t) == "failed", message=f"{t.title} failed")  # type: ignore[misc]
    bad = boss.get_task(not_json.id)
    assert "not JSON" in (bad.error or "") and "datetime" in (bad.error or "")
    assert len(runs_of(boss, not_json)) == 1, "at once, no retry, no lease lapse"
    assert boss.get_task(final.id).error == "NonRetryableError: bad input"
    assert len(runs_of(boss, final)) == 1
    assert boss.get_task(flaky.id).error == "ValueError: boom" and len(runs_of(boss, flaky)) == 2
    text = w.text()
    assert f"failed {final.identifier} in " in text
    assert f"failed (retrying) {flaky.identifier} in " in text and f"failed {flaky.identifier} in " in text


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_ask_human_answered_through_the_api(srv: server.Server, boss: Client,
                                            workers: Callable[..., WorkerProcess], is_async: bool) -> None:
    agent = f"helper-{'async' if is_async else 'sync'}"
    boss.request("POST", "/api/agents", {"id": agent, "name": "Helper"})
    submitted = boss.request("POST", f"/api/agents/{agent}/tasks",
                             {"message": "Book a flight", "metadata": {"do": "ask", "question": "Aisle or window?"}})
    task_path = f"/api/agents/{agent}/tasks/{submitted['task_id']}"
    workers(sub=agent, is_async=is_async)
    view = wait_for(lambda: (v := boss.request("GET", task_path))["status"] == "awaiting_input" and v,
                    message="awaiting input")
    assert view["question"] == "Aisle or window?"
    boss.request("POST", task_path + "/messages", {"message": "window, please"})
    done = wait_for(lambda: (v := boss.request("GET", task_path))["status"] == "completed" and v,
                    message="completed")
    assert done["result"] == {"answer": "window, please", "messages": 2}
    usage = boss.request("GET", f"/api/task-runs/{done['run_id']}")["run"]["summary"]
    assert (usage["input_tokens"], usage["output_tokens"], usage["total_cost"]) == (150, 20, 0.01)
    assert usage["model"] == "model-x"


def test_concurrency_8_over_200_tasks_each_completed_once(srv: server.Server, boss: Client,
                                                          workers: Callable[..., WorkerProcess]) -> None:
    for i in range(200):
        boss.create_task(f"t{i}", network_channel="many", metadata={"do": "sleep", "seconds": 0.2})
    workers(WORKER_CHANNEL="many", WORKER_CONCURRENCY="8", WORKER_LEASE="30")
    mine = "SELECT id FROM tasks WHERE network_channel = 'many'"
    wait_for(lambda: server.query(srv.database_url, f"SELECT COUNT(*) FROM tasks WHERE id IN ({mine}) "
                                  "AND status = 'completed'") == [(200,)], timeout=60, message="200 completed")
    runs = server.query(srv.database_url, f"SELECT task_id, COUNT(*) FROM runs WHERE task_id IN ({mine}) "
                        "GROUP BY task_id")
    assert len(runs) == 200 and all(n == 1 for _, n in runs), "one run per task"
    completed = server.query(srv.database_url, f"SELECT COUNT(*) FROM events WHERE task_id IN ({mine}) "
                             "AND event_type = 'run.completed'")
    assert completed == [(200,)]
    peaks = [json.loads(r)["peak"] for (r,) in server.query(srv.database_url, f"SELECT result FROM tasks "
                                                            f"WHERE id IN ({mine})")]
    assert max(peaks) == 8, "8 handlers at once"


def test_a_repeated_complete_is_one_completion(srv: server.Server, boss: Client) -> None:
    """What a retried complete after a lost answer does: the automatic idempotency key makes it a no-op."""
    task = boss.create_task("complete twice", network_channel="twice")
    with Client(srv.base_url, srv.token("agent-twice", kind="agent_session", role="agent")) as me:
        claim = me.claim("twice", wait_seconds=5)
        assert claim is not None and claim.task.id == task.id and claim.task.title == "complete twice"
        first = me.complete(claim, {"n": 1})
        again = me.complete(claim, {"n": 1})
    assert first["status"] == again["status"] == "completed"
    events = boss.request("GET", f"/api/tasks/{task.id}/timeline")["timeline"]
    assert [e["event_type"] for e in events].count("run.completed") == 1


# The batch endpoints come with the hot-path work (#9); these run once the server has them.
needs_batches = pytest.mark.skipif(importlib.util.find_spec("taskloom.api.batches") is None,
                                   reason="the server has no batch endpoints yet (taskloom.api.batches)")


@needs_batches
def test_create_tasks_is_all_or_nothing(boss: Client) -> None:
    with pytest.raises(TaskloomError) as info:
        boss.create_tasks([{"title": "fine", "network_channel": "none"}, {"title": ""}])
    assert info.value.status == 400 and "1" in info.value.message
    assert boss.request("GET", "/api/tasks", params={"network_channel": "none"})["tasks"] == []


@needs_batches
def test_concurrency_is_fed_by_claim_batch_and_finished_by_complete_batch(srv: server.Server, boss: Client) -> None:
    """In-process AsyncWorker, real HTTP: count the calls it makes for 40 tasks at concurrency 8."""
    boss.create_tasks([{"title": f"b{i}", "network_channel": "batched"} for i in range(40)])
    calls: list[str] = []

    async def scenario() -> int:
        client = AsyncClient(srv.base_url, srv.token("batcher", kind="agent_session", role="agent"))
        client.http.event_hooks["request"].append(lambda request: _note(calls, request))
        worker = AsyncWorker(client, "batched", concurrency=8, max_tasks=40, handle_signals=False, poll_seconds=1)

        @worker.task
        async def handle(task: Task, ctx: AsyncRunContext) -> dict[str, str]:
            await asyncio.sleep(0.05)
            return {"done": task.title}

        async with client:
            return await worker.run()

    assert asyncio.run(scenario()) == 40
    claim_batches, complete_batches = calls.count("claim-batch"), calls.count("complete-batch")
    assert "claim-next" not in calls and "complete" not in calls, calls
    assert claim_batches < 40 and complete_batches < 40, (claim_batches, complete_batches)
    done = boss.request("GET", "/api/tasks", params={"network_channel": "batched", "status": "completed"})
    assert len(done["tasks"]) == 40


async def _note(calls: list[str], request: httpx.Request) -> None:
    calls.append(request.url.path.rsplit("/", 1)[-1])


def test_rate_limited_worker_waits_out_429s(tmp_path: Path) -> None:
    """A server that rate-limits the worker's token answers 429 + Retry-After: every task still completes."""
    srv = server.start(f"sqlite:///{tmp_path}/db/t.db", env={"TASKLOOM_RATE_LIMIT_PER_SECOND": "4",
                                                             "TASKLOOM_RATE_LIMIT_BURST": "2"})

    def refused() -> int:  # 429s so far (the limiter answers before routing: route "unmatched")
        text = httpx.get(srv.base_url + "/metrics", headers=srv.auth("metrics-reader")).text
        found = re.search(r'taskloom_http_requests_total\{[^}]*status="429"\} ([0-9.]+)', text)
        return int(float(found.group(1))) if found else 0

    with Client(srv.base_url, srv.token("boss")) as boss:  # buckets are per caller
        tasks = [boss.create_task(f"r{i}", network_channel="slow", metadata={"do": "echo", "value": i})
                 for i in range(6)]
    before = refused()
    w = WorkerProcess(srv, tmp_path / "worker.log", WORKER_CHANNEL="slow", WORKER_LEASE="30")
    try:
        with Client(srv.base_url, srv.token("watcher")) as watcher:
            def all_done() -> bool:
                time.sleep(0.5)  # one call per 0.5 s: under the watcher's own limit
                done = watcher.request("GET", "/api/tasks", params={"network_channel": "slow", "status": "completed"})
                return len(done["tasks"]) == len(tasks)

            wait_for(all_done, 60, "all completed")
        assert refused() > before, "the worker was rate-limited"
        assert w.text().count("completed ") == 6 and "refused" not in w.text(), w.text()
    finally:
        w.stop()
        srv.stop()
