"""The hot path's shortcuts write exactly what the general path writes (engine/tasks.py,
engine/batches.py): same rows, same events in the same order, same hook calls."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from taskloom.engine import tasks as task_ops
from taskloom.engine.context import Ctx
from taskloom.rows import Row
from taskloom.storage.protocols import Tx
from tests.harness import BOSS, Harness

VOLATILE = {"id", "task_id", "run_id", "identifier"}


def _snapshot(tx: Tx, task_id: str) -> dict[str, Any]:
    def strip(row: Row | None) -> Row:
        return {k: v for k, v in (row or {}).items() if k not in VOLATILE}

    return {
        "task": strip(tx.task_get(task_id)),
        "runs": [strip(r) for r in tx.runs_of_task(task_id)],
        "events": [strip(e) for e in tx.events_of_task(task_id)],
    }


def _create(h: Harness, spec: task_ops.TaskSpec, hooks: list[tuple[str, str, int]],
            states: list[Any] | None = None) -> tuple[dict[str, Any], Row]:
    def hook(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
        hooks.append((event_type, task["status"], task["event_seq"]))
        if states is not None:  # the whole task as the hook saw it, and the rest of the call
            states.append(({k: v for k, v in task.items() if k not in VOLATILE}, event_type, run_id is None, payload))

    def op(tx: Tx, ctx: Ctx) -> tuple[dict[str, Any], Row]:
        task, run = task_ops.create_task(tx, dataclasses.replace(ctx, hooks=(*ctx.hooks, hook)), spec)
        assert run is not None
        return _snapshot(tx, task["id"]), {k: v for k, v in task.items() if k not in VOLATILE}

    return h.write(op)


@pytest.mark.parametrize("fields", [{}, {"network_channel": "q", "priority": 80, "metadata": {"a": 1}},
                                    {"concurrency_key": "k", "required_capabilities": ["x"]}])
def test_a_plain_create_writes_what_the_general_path_writes(harness: Harness, monkeypatch: pytest.MonkeyPatch,
                                                            fields: dict[str, Any]) -> None:
    fast_hooks: list[tuple[str, str, int]] = []
    fast_states: list[Any] = []
    fast, fast_answer = _create(harness, task_ops.TaskSpec(title="t", **fields), fast_hooks, fast_states)
    monkeypatch.setattr(task_ops, "plain", lambda spec: False)  # the general path, step by step
    slow_hooks: list[tuple[str, str, int]] = []
    slow_states: list[Any] = []
    slow, slow_answer = _create(harness, task_ops.TaskSpec(title="t", **fields), slow_hooks, slow_states)
    assert fast == slow
    assert fast_answer == slow_answer
    assert fast_states == slow_states
    assert fast_hooks == slow_hooks == [("task.created", "pending", 1), ("task.activated", "ready", 2),
                                        ("run.queued", "ready", 3)]


def _claimed_pair(h: Harness, title: str) -> tuple[Any, str]:
    """A claimed run, and a task that depends on its task (blocked until it completes)."""
    from taskloom.engine import runs as run_ops

    first, _ = h.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(title=title,
                                                                                      network_channel=title)))
    after, _ = h.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
        title=title + "-after", network_channel="later", dependencies=[first["id"]])))
    claim = h.write(lambda tx, ctx: run_ops.claim_next(tx, ctx, run_ops.ClaimFilters(network_channel=title),
                                                       60.0, None))
    assert claim is not None
    return claim, after["id"]


def test_a_set_based_complete_batch_writes_what_single_completes_write(harness: Harness) -> None:
    from taskloom.engine import batches
    from taskloom.engine import runs as run_ops

    singles = [_claimed_pair(harness, f"s{i}") for i in range(3)]
    batched = [_claimed_pair(harness, f"b{i}") for i in range(3)]
    for claim, _ in singles:
        harness.write(lambda tx, ctx, c=claim: run_ops.complete_run(
            tx, ctx, c.run["id"], result={"n": 1}, idempotency_key="k", claim_token=c.token, usage=None))
    items = [batches.Finish(run_id=c.run["id"], claim_token=c.token, idempotency_key="k", result={"n": 1})
             for c, _ in batched]
    outcomes = harness.write(lambda tx, ctx: batches.complete_many(tx, ctx, items))
    assert [o.status for o in outcomes] == [200, 200, 200]
    for (single, single_after), (batch, batch_after) in zip(singles, batched, strict=True):
        for a, b in ((single.task["id"], batch.task["id"]), (single_after, batch_after)):
            left, right = harness.read(lambda tx, ctx, t=a: _snapshot(tx, t)), harness.read(
                lambda tx, ctx, t=b: _snapshot(tx, t))
            for part in (left, right):
                part["task"].pop("title"), part["task"].pop("network_channel")
                for run in part["runs"]:
                    run.pop("network_channel"), run.pop("claim_token_hash")
                for event in part["events"]:
                    event["payload"] = event["payload"] if event["event_type"] != "task.created" else None
            assert left == right
    # The same item twice: the first completes, the second is refused (as two single calls).
    claim, _ = _claimed_pair(harness, "twice")
    twice = [batches.Finish(run_id=claim.run["id"], claim_token=claim.token)] * 2
    assert [o.status for o in harness.write(lambda tx, ctx: batches.complete_many(tx, ctx, twice))] == [200, 409]


def test_a_batch_create_writes_what_single_creates_write(harness: Harness) -> None:
    from taskloom.engine import batches

    def specs() -> list[task_ops.TaskSpec]:
        return [task_ops.TaskSpec(title="a", priority=70), task_ops.TaskSpec(title="b", approval_policy="required"),
                task_ops.TaskSpec(title="c", draft=True), task_ops.TaskSpec(title="d", metadata={"k": [1]})]

    singles = [harness.write(lambda tx, ctx, s=s: task_ops.create_task(tx, ctx, s))[0] for s in specs()]
    made = harness.write(lambda tx, ctx: batches.create_many(tx, ctx, specs()))
    assert [t["title"] for t in made] == ["a", "b", "c", "d"]
    numbers = [int(t["identifier"].split("-")[1]) for t in made]
    assert numbers == sorted(numbers) and len(set(numbers)) == 4  # identifiers in item order
    for single, batched in zip(singles, made, strict=True):
        left, right = (harness.read(lambda tx, ctx, t=t: _snapshot(tx, t["id"])) for t in (single, batched))
        assert left == right


def test_a_waiting_claim_is_made_in_the_commit_that_queues_its_work(harness: Harness) -> None:
    """A long-polling claim runs inside the create's own commit when the create is made in the
    same process (no wake-up, no second write): the claim carries the create's time even if the
    clock moves right after it. Both backends; other processes' creates still wake it by notice."""
    from taskloom.domain.actors import Actor
    from taskloom.engine import runs as run_ops

    engine, agent = harness.engine, Actor("agent_session", "waiter", "agent")

    def op(tx: Tx, ctx: Ctx) -> run_ops.Claim | None:
        return run_ops.claim_next(tx, ctx, run_ops.ClaimFilters(network_channel="idle"), 60.0, None)

    async def scenario() -> tuple[float, run_ops.Claim | None]:
        poll = asyncio.ensure_future(engine.long_poll(agent, lambda: engine.write(agent, op), 10.0, standing=op))
        while not engine.storage.standings._waiting:  # the waiter's first attempt found nothing
            await asyncio.sleep(0.001)
        created_at = harness.clock.now()
        await engine.write(BOSS, lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
            title="t", network_channel="idle")))
        harness.clock.advance(100.0)  # a claim made by a later write would carry this time
        # Answered by its standing claim's result, not by the once-a-second re-check: the
        # waiter does not also wait for a notice (this process's commits send it none).
        return created_at, await asyncio.wait_for(poll, 0.5)

    created_at, claim = harness.loop.run_until_complete(scenario())
    assert claim is not None and claim.run["claimed_at"] == created_at
    assert engine.storage.standings._waiting == []


def test_a_set_based_claim_batch_writes_what_claim_next_writes(harness: Harness) -> None:
    from taskloom.domain.actors import Actor
    from taskloom.engine import runs as run_ops

    agent = Actor("agent_session", "a1", "agent")
    for channel in ("one", "many"):
        for i in range(3):
            harness.write(lambda tx, ctx, i=i, c=channel: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
                title=f"t{i}", network_channel=c, priority=50 + i, timeout_seconds=30.0 if i == 1 else None)))
    singles = [harness.write(lambda tx, ctx: run_ops.claim_next(tx, ctx, run_ops.ClaimFilters(network_channel="one"),
                                                               60.0, "sess"), agent) for _ in range(3)]
    batch = harness.write(lambda tx, ctx: run_ops.claim_many(tx, ctx, run_ops.ClaimFilters(network_channel="many"), 5,
                                                             60.0, "sess"), agent)
    assert [c.task["title"] for c in batch] == [c.task["title"] for c in singles if c is not None] == ["t2", "t1", "t0"]
    for single, batched in zip(singles, batch, strict=True):
        assert single is not None and batched.token != single.token
        assert run_ops.hash_token(batched.token) == batched.run["claim_token_hash"]
        left, right = (harness.read(lambda tx, ctx, t=c.task["id"]: _snapshot(tx, t)) for c in (single, batched))
        for part in (left, right):
            part["task"].pop("network_channel")
            for run in part["runs"]:
                run.pop("network_channel"), run.pop("claim_token_hash")
        assert left == right


_FAIL_KINDS = {  # spec fields, and the fail item's retryable flag
    "retry": ({"backoff_strategy": "linear", "backoff_seconds": 7.0}, True),
    "final": ({}, False),
    "spent": ({"max_attempts": 1}, True),
}


def _failable(h: Harness, title: str, fields: dict[str, Any]) -> tuple[Any, str]:
    from taskloom.engine import runs as run_ops

    first, _ = h.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
        title=title, network_channel=title, **fields)))
    after, _ = h.write(lambda tx, ctx: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
        title=title + "-after", network_channel="later", dependencies=[first["id"]])))
    claim = h.write(lambda tx, ctx: run_ops.claim_next(tx, ctx, run_ops.ClaimFilters(network_channel=title),
                                                       60.0, None))
    assert claim is not None
    return claim, after["id"]


def test_a_set_based_fail_batch_writes_what_single_fails_write(harness: Harness) -> None:
    """Retried with backoff, failed for good (not retryable, or no attempt left): the same rows,
    events in the same per-task order and hook calls as one single fail each."""
    from taskloom.engine import batches
    from taskloom.engine import runs as run_ops

    hooks: list[tuple[str, str, str, int]] = []

    def hook(tx: Tx, ctx: Ctx, task: Row, event_type: str, run_id: str | None, payload: Any) -> None:
        hooks.append((task["title"], event_type, task["status"], task["event_seq"]))

    def hooked(op: Any) -> Any:
        return lambda tx, ctx: op(tx, dataclasses.replace(ctx, hooks=(*ctx.hooks, hook)))

    singles = {k: _failable(harness, f"s-{k}", f) for k, (f, _) in _FAIL_KINDS.items()}
    batched = {k: _failable(harness, f"b-{k}", f) for k, (f, _) in _FAIL_KINDS.items()}
    for k, (claim, _) in singles.items():
        harness.write(hooked(lambda tx, ctx, c=claim, k=k: run_ops.fail_run(
            tx, ctx, c.run["id"], error=f"boom {k}", idempotency_key="k", claim_token=c.token,
            retryable=_FAIL_KINDS[k][1])))
    items = [batches.Finish(run_id=c.run["id"], claim_token=c.token, idempotency_key="k", error=f"boom {k}",
                            retryable=_FAIL_KINDS[k][1]) for k, (c, _) in batched.items()]
    outcomes = harness.write(hooked(lambda tx, ctx: batches.fail_many(tx, ctx, items)))
    assert [o.status for o in outcomes] == [200, 200, 200]
    assert all(o.run is not None and o.run["status"] == "failed" for o in outcomes)
    for k in _FAIL_KINDS:
        (single, single_after), (batch, batch_after) = singles[k], batched[k]
        for a, b in ((single.task["id"], batch.task["id"]), (single_after, batch_after)):
            left, right = (harness.read(lambda tx, ctx, t=t: _snapshot(tx, t)) for t in (a, b))
            for part in (left, right):
                part["task"].pop("title"), part["task"].pop("network_channel")
                for run in part["runs"]:
                    run.pop("network_channel"), run.pop("claim_token_hash")
                for event in part["events"]:
                    event["payload"] = event["payload"] if event["event_type"] != "task.created" else None
            assert left == right, k
        assert [h[1:] for h in hooks if h[0] == f"s-{k}"] == [h[1:] for h in hooks if h[0] == f"b-{k}"], k
    retried = harness.read(lambda tx, ctx: _snapshot(tx, batched["retry"][0].task["id"]))
    assert [r["status"] for r in retried["runs"]] == ["failed", "queued"]
    assert retried["runs"][1]["available_at"] == harness.clock.now() + 7.0, "the backoff"
    assert [e["event_type"] for e in retried["events"]][-2:] == ["run.failed", "run.queued"]
    spent = harness.read(lambda tx, ctx: _snapshot(tx, batched["spent"][0].task["id"]))
    assert spent["task"]["status"] == "failed" and [e["event_type"] for e in spent["events"]][-2:] == [
        "run.failed", "task.failed"]
    assert [h[1] for h in hooks if h[0] == "b-final"] == ["run.failed", "task.failed"]
    # Repeated with its idempotency key: answered 200, nothing written again; without one, 409.
    before = harness.read(lambda tx, ctx: _snapshot(tx, batched["final"][0].task["id"]))
    again = harness.write(lambda tx, ctx: batches.fail_many(tx, ctx, [
        items[1], dataclasses.replace(items[2], idempotency_key=None)]))
    assert [o.status for o in again] == [200, 409]
    assert harness.read(lambda tx, ctx: _snapshot(tx, batched["final"][0].task["id"])) == before


def test_a_fail_batch_refuses_each_item_on_its_own(harness: Harness) -> None:
    """Per item, in item order: 200, 404 (no such run), 403 (another agent's), 409 (stale token),
    400 (empty error); the refused ones change nothing and the others are applied."""
    from taskloom.domain.actors import Actor
    from taskloom.engine import batches
    from taskloom.engine import runs as run_ops

    me, other = Actor("agent_session", "me", "agent"), Actor("agent_session", "other", "agent")
    for i in range(4):
        harness.write(lambda tx, ctx, i=i: task_ops.create_task(tx, ctx, task_ops.TaskSpec(
            title=f"t{i}", network_channel="f", max_attempts=1)))
    mine = harness.write(lambda tx, ctx: run_ops.claim_many(tx, ctx, run_ops.ClaimFilters(network_channel="f"), 3,
                                                            60.0, None), me)
    [theirs] = harness.write(lambda tx, ctx: run_ops.claim_many(tx, ctx, run_ops.ClaimFilters(network_channel="f"),
                                                                1, 60.0, None), other)
    ok, stale, empty = mine
    items = [batches.Finish(run_id=ok.run["id"], claim_token=ok.token, error="e"),
             batches.Finish(run_id="run_missing", error="e"),
             batches.Finish(run_id=theirs.run["id"], error="e"),
             batches.Finish(run_id=stale.run["id"], claim_token="ct_stale", error="e"),
             batches.Finish(run_id=empty.run["id"], error="  ")]
    outcomes = harness.write(lambda tx, ctx: batches.fail_many(tx, ctx, items), me)
    assert [(o.run_id, o.status) for o in outcomes] == [
        (ok.run["id"], 200), ("run_missing", 404), (theirs.run["id"], 403), (stale.run["id"], 409),
        (empty.run["id"], 400)]
    assert all(o.error for o in outcomes[1:])
    status = {c.run["id"]: harness.read(lambda tx, ctx, c=c: tx.run_get(c.run["id"]))["status"]
              for c in (ok, stale, empty, theirs)}
    assert status == {ok.run["id"]: "failed", stale.run["id"]: "claimed", empty.run["id"]: "claimed",
                      theirs.run["id"]: "claimed"}
    assert harness.read(lambda tx, ctx: tx.task_get(ok.task["id"]))["status"] == "failed"
