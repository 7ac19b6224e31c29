"""A commit tries only the standing claims its new work can serve (storage/base.py StandingPlan):
claims bound to another channel are not tried, and no more claims than runs appeared. Work whose
channel a transaction cannot say (a bare RUNS_CHANGED notice) tries every standing claim, as before.
Both backends."""

from __future__ import annotations

import asyncio
from typing import Any

from taskloom.engine import tasks as task_ops
from taskloom.engine.context import Ctx
from taskloom.storage.base import RUNS_CHANGED, Standing
from taskloom.storage.protocols import Tx
from tests.harness import BOSS, Harness


def _stand(harness: Harness, calls: list[str], name: str, channel: str | None, gets: bool) -> Standing:
    def fn(tx: Tx) -> Any:
        calls.append(name)
        return f"claim-{name}" if gets else None

    # A claim's answer names the channel of what it took: here, its own (or "here" when unbound).
    return harness.engine.storage.standings.add(fn, channel=channel, claimed=lambda found: [channel or "here"])


def test_a_commit_tries_only_the_standing_claims_its_work_can_serve(harness: Harness) -> None:
    calls: list[str] = []
    storage = harness.engine.storage
    assert storage.runs_standings

    async def scenario() -> dict[str, Standing]:
        stands = {name: _stand(harness, calls, name, channel, gets) for name, channel, gets in [
            ("elsewhere-1", "elsewhere", False), ("elsewhere-2", "elsewhere", False), ("here-1", "here", True),
            ("here-2", "here", True), ("any-1", None, True)]}
        await harness.engine.write(BOSS, lambda tx, ctx: task_ops.create_task(
            tx, ctx, task_ops.TaskSpec(title="one run on here", network_channel="here")))
        return stands

    stands = harness.loop.run_until_complete(scenario())
    # One run appeared on "here": the oldest claim bound to it took it; nothing else was tried.
    assert calls == ["here-1"]
    assert stands["here-1"].future.done() and stands["here-1"].future.result() == "claim-here-1"
    waiting = [s for s in stands.values() if not s.future.done()]
    assert len(waiting) == 4 and all(s.rounds == 1 for s in waiting)  # told "nothing for you" all the same

    calls.clear()

    def unknown_channel(tx: Tx, ctx: Ctx) -> None:
        tx.notify(RUNS_CHANGED)  # e.g. a resumed agent: work may appear anywhere

    harness.write(unknown_channel)
    assert calls == ["elsewhere-1", "elsewhere-2", "here-2", "any-1"]
    for name in ("elsewhere-1", "elsewhere-2", "here-2", "any-1"):
        storage.standings.remove(stands[name])


def test_two_runs_serve_two_claims_and_an_unbound_claim_takes_from_any_channel(harness: Harness) -> None:
    calls: list[str] = []
    storage = harness.engine.storage

    async def scenario() -> dict[str, Standing]:
        stands = {name: _stand(harness, calls, name, channel, True) for name, channel in [
            ("any-1", None), ("here-1", "here"), ("here-2", "here"), ("here-3", "here")]}

        def two(tx: Tx, ctx: Ctx) -> None:
            for _ in range(2):
                task_ops.create_task(tx, ctx, task_ops.TaskSpec(title="t", network_channel="here"))

        await harness.engine.write(BOSS, two)
        return stands

    stands = harness.loop.run_until_complete(scenario())
    assert calls == ["any-1", "here-1"]  # two runs, two claims; here-2 and here-3 wait on untried
    assert not stands["here-2"].future.done() and not stands["here-3"].future.done()
    for name in ("here-2", "here-3"):
        storage.standings.remove(stands[name])


def test_a_standing_waiter_is_woken_only_by_other_processes_work(harness: Harness) -> None:
    """This process's commits try a standing claim themselves, so they do not also wake its
    waiter (200 idle waiters made every create wake 200 coroutines); another process's work
    (PostgreSQL LISTEN) does, and the waiter looks again at once."""
    from taskloom.domain.actors import Actor
    from taskloom.engine import runs as run_ops
    from taskloom.storage.base import REMOTE_WORK

    engine, agent = harness.engine, Actor("agent_session", "idle-elsewhere", "agent")
    hub = engine.storage.hub
    attempts: list[int] = []

    def op(tx: Tx, ctx: Ctx) -> run_ops.Claim | None:
        attempts.append(1)
        return run_ops.claim_next(tx, ctx, run_ops.ClaimFilters(network_channel="elsewhere"), 60.0, None)

    async def scenario() -> run_ops.Claim | None:
        poll = asyncio.ensure_future(engine.long_poll(agent, lambda: engine.write(agent, op), 10.0, standing=op,
                                                      channel="elsewhere"))
        # Standing and listening for other processes' work only. (On PostgreSQL the listener's
        # start wakes everyone once; the waiter then looks again and stands again.)
        while not (engine.storage.standings._waiting and REMOTE_WORK in hub._waiters):
            await asyncio.sleep(0.001)
        assert RUNS_CHANGED not in hub._waiters
        tried = len(attempts)
        await engine.write(BOSS, lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
            title="work here", network_channel="here")))
        await asyncio.sleep(0.05)
        assert len(attempts) == tried and not poll.done()  # not tried (nothing appeared on its channel), not woken
        hub.publish([RUNS_CHANGED, REMOTE_WORK])  # as the listener forwards another process's commit
        while len(attempts) == tried:
            await asyncio.sleep(0.001)
        assert not poll.done()
        await engine.write(BOSS, lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
            title="work elsewhere", network_channel="elsewhere")))
        return await asyncio.wait_for(poll, 0.5)

    claim = harness.loop.run_until_complete(scenario())
    assert claim is not None and claim.task["title"] == "work elsewhere"


def test_another_processes_new_work_is_marked_remote() -> None:
    from taskloom.storage.base import REMOTE_WORK
    from taskloom.storage.postgres import _decode_notices

    assert _decode_notices('[["runs", "*"], ["task", "t1"]]') == [RUNS_CHANGED, ("task", "t1"), REMOTE_WORK]
    assert _decode_notices('[["task", "t1"]]') == [("task", "t1")]
    assert _decode_notices("not json") == [("*", "*")]


def test_a_standing_waiters_once_a_second_recheck_claims_only_when_a_run_is_due(harness: Harness) -> None:
    """The re-check exists for work no commit announces, such as a backoff-delayed run coming due
    (engine.py ``_may_claim``): while nothing is due on its channel it is one shared read, not a
    claim write per waiter per second; once a run is due the waiter claims it."""
    from taskloom.domain.actors import Actor
    from taskloom.engine import runs as run_ops

    engine = harness.engine
    waiter, other = Actor("agent_session", "patient", "agent"), Actor("agent_session", "first-try", "agent")
    filters = run_ops.ClaimFilters(network_channel="later")
    harness.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
        title="retried later", network_channel="later", max_attempts=3)))
    first = harness.write(lambda tx, ctx: run_ops.claim_next(tx, ctx, filters, 60.0, None), actor=other)
    assert first is not None
    harness.write(lambda tx, ctx: run_ops.fail_run(tx, ctx, first.run["id"], error="try again", idempotency_key=None,
                                                   claim_token=first.token, retryable=True, usage={}), actor=other)
    attempts: list[int] = []

    def op(tx: Tx, ctx: Ctx) -> run_ops.Claim | None:
        attempts.append(1)
        return run_ops.claim_next(tx, ctx, filters, 60.0, None)

    async def scenario() -> run_ops.Claim | None:
        poll = asyncio.ensure_future(engine.long_poll(waiter, lambda: engine.write(waiter, op), 20.0, standing=op,
                                                      channel="later"))
        while not engine.storage.standings._waiting:
            await asyncio.sleep(0.001)
        tried = len(attempts)
        await asyncio.sleep(2.5)  # two and a half re-checks: the retry is not due yet
        assert len(attempts) == tried and not poll.done(), "a claim write per re-check while nothing was due"
        harness.clock.advance(3600)  # past any backoff: due now, and no commit says so
        return await asyncio.wait_for(poll, 3.0)

    claim = harness.loop.run_until_complete(scenario())
    assert claim is not None and claim.task["title"] == "retried later" and claim.run["attempt"] == 2
